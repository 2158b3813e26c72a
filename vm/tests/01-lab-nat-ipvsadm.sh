#!/bin/sh
# LVS-NAT lab driven by ipvsadm: wrr 1/2/3 splits 60 connections 10/20/30,
# and ipvsadm --stats counts them.  Also an IPv6 rr service on the same lab.
set -e
. /vm/lib.sh

step "build lab_nat"
lab_nat 3

step "NAT service $VIP:80 wrr, rs1..3 weights 1,2,3"
ipvsadm -A -t "$VIP:80" -s wrr
ipvsadm -a -t "$VIP:80" -r "$RS1:80" -m -w 1
ipvsadm -a -t "$VIP:80" -r "$RS2:80" -m -w 2
ipvsadm -a -t "$VIP:80" -r "$RS3:80" -m -w 3
ipvsadm -Ln

step "60 requests from the client"
t0=$(now)
hits=$(count_hits 60 "http://$VIP/")
info "$hits in $(elapsed "$t0")s"
assert_eq "rs1=10 rs2=20 rs3=30" "$hits" "wrr 1:2:3 split of 60 connections"

step "ipvsadm -Ln --stats counts them (estimator runs every 2 s)"
wait_ipvs_stat "$RS3:80" conns 30 || true
wait_ipvs_stat "$VIP:80" conns 60 || true
ipvsadm -Ln --stats --exact
assert_eq 60 "$(ipvs_conns "$VIP:80")" "service conns"
assert_eq 10 "$(ipvs_conns "$RS1:80")" "rs1 conns"
assert_eq 20 "$(ipvs_conns "$RS2:80")" "rs2 conns"
assert_eq 30 "$(ipvs_conns "$RS3:80")" "rs3 conns"

step "IPv6 NAT service [$VIP6]:80 rr"
ipvsadm -A -t "[$VIP6]:80" -s rr
for r in $RS_IPS6; do ipvsadm -a -t "[$VIP6]:80" -r "[$r]:80" -m; done
hits=$(count_hits 15 "http://[$VIP6]/")
assert_eq "rs1=5 rs2=5 rs3=5" "$hits" "rr split of 15 IPv6 connections"

step "done"
