#!/bin/sh
# LVS-DR lab driven by ipvsadm: the real servers answer the client directly
# (through the router), rr splits evenly, weight 0 drains a server.
set -e
. /vm/lib.sh

step "build lab_dr"
lab_dr 3

step "DR service $VIP:80 rr over rs1..3"
ipvsadm -A -t "$VIP:80" -s rr
for r in $RS_IPS; do ipvsadm -a -t "$VIP:80" -r "$r:80" -g; done
ipvsadm -Ln

hits=$(count_hits 30 "http://$VIP/")
assert_eq "rs1=10 rs2=10 rs3=10" "$hits" "rr split of 30 connections"

step "replies bypass the director: IPVS sees the client's packets only"
wait_ipvs_stat "$VIP:80" conns 30 || true
assert_eq 30 "$(ipvs_conns "$VIP:80")" "service conns"
assert_ne 0 "$(ipvs_stat "$VIP:80" inpkts)" "director saw the requests"
assert_eq 0 "$(ipvs_stat "$VIP:80" outpkts)" "director saw no replies"

step "weight 0 takes rs2 out of rotation"
ipvsadm -e -t "$VIP:80" -r "$RS2:80" -g -w 0
hits=$(count_hits 10 "http://$VIP/")
assert_eq "rs1=5 rs2=0 rs3=5" "$hits" "rs2 drained"

step "IPv6 DR service [$VIP6]:80"
ipvsadm -A -t "[$VIP6]:80" -s rr
for r in $RS_IPS6; do ipvsadm -a -t "[$VIP6]:80" -r "[$r]:80" -g; done
hits=$(count_hits 9 "http://[$VIP6]/")
assert_eq "rs1=3 rs2=3 rs3=3" "$hits" "rr split of 9 IPv6 connections"

step "done"
