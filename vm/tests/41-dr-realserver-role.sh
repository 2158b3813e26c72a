#!/bin/sh
# The classic LVS-DR lab with the host settings made by lvsd: on each real
# server `lvsd host apply --role realserver` puts the VIP on lo and quiets
# ARP; on the director `lvsd apply --host` binds the VIP on the dummy lvs0.
# Requests through the VIP reach all three, the replies bypass the
# director, and `lvsd host clean` takes back exactly what lvsd added.
set -e
. /vm/lib.sh

step "build lab_dr without VIPs or ARP settings"
LAB_DR_BARE=1
lab_dr 3

cat >/tmp/dr.json <<JSON
{"services": [
  {"id": "tcp:$VIP:80", "scheduler": "rr", "servers": [
    {"address": "$RS1"}, {"address": "$RS2"}, {"address": "$RS3"}]}]}
JSON

arp_conf() { in_ns "$1" cat "/proc/sys/net/ipv4/conf/$2/arp_$3"; }

step "before: no VIP on the real servers, ARP as the kernel has it"
for r in $RS_NAMES; do
    assert_not_contains "$(in_ns "$r" "$IP" -4 addr show dev lo)" "$VIP" "$r: no VIP on lo"
    assert_eq "0 0" "$(arp_conf "$r" all ignore) $(arp_conf "$r" all announce)" "$r: arp_ignore/arp_announce 0"
done
# Something of the administrator's own on rs1, which lvsd must leave alone.
in_ns rs1 "$IP" addr add 10.99.0.1/32 dev lo
in_ns rs1 sh -c 'echo 2 >/proc/sys/net/ipv4/conf/lo/arp_announce'

step "lvsd host apply --role realserver in each real server"
for r in $RS_NAMES; do
    out=$(in_ns "$r" lvsd host apply --role realserver --spec /tmp/dr.json --state-dir "/tmp/host/$r")
    info "$r: $out"
    assert_contains "$out" "+ address $VIP/32 on lo" "$r: VIP added"
    assert_contains "$(in_ns "$r" "$IP" -4 addr show dev lo)" "inet $VIP/32" "$r: VIP on lo"
    for c in all lo; do
        assert_eq "1 2" "$(arp_conf "$r" $c ignore) $(arp_conf "$r" $c announce)" "$r: $c arp_ignore=1 arp_announce=2"
    done
done
assert_contains "$(in_ns rs1 lvsd host show --state-dir /tmp/host/rs1)" "net.ipv4.conf.all.arp_ignore = 1 (was 0)" "host show lists the change"
assert_eq "host: no changes" "$(in_ns rs1 lvsd host apply --role realserver --spec /tmp/dr.json --state-dir /tmp/host/rs1)" "applying again changes nothing"

step "the director: lvsd apply --host binds the VIP on the dummy lvs0"
assert_fails "$IP" link show lvs0
forward_before=$(cat /proc/sys/net/ipv4/ip_forward)
out=$(lvsd apply --host --name d1 --state-dir /tmp/host/d1 /tmp/dr.json)
info "$out"
assert_contains "$out" "applied: 1 service added, 3 real servers added" "IPVS table"
assert_contains "$out" "+ interface lvs0 (dummy), up" "lvs0 created"
assert_contains "$("$IP" -d link show lvs0)" "dummy" "lvs0 is a dummy interface"
assert_contains "$("$IP" -4 addr show dev lvs0)" "inet $VIP/32" "VIP on lvs0"
assert_eq "$forward_before" "$(cat /proc/sys/net/ipv4/ip_forward)" "DR needs no forwarding: ip_forward untouched"
assert_eq "-A -t $VIP:80 -s rr
-a -t $VIP:80 -r $RS1:80 -g -w 1
-a -t $VIP:80 -r $RS2:80 -g -w 1
-a -t $VIP:80 -r $RS3:80 -g -w 1" "$(ipvsadm -Sn)" "ipvsadm -Sn"

step "30 requests through the VIP: all three serve, replies bypass the director"
assert_eq "rs1=10 rs2=10 rs3=10" "$(count_hits 30 "http://$VIP/")" "rr split"
wait_ipvs_stat "$VIP:80" conns 30 || true
assert_eq 30 "$(ipvs_conns "$VIP:80")" "the director scheduled every connection"
assert_ne 0 "$(ipvs_stat "$VIP:80" inpkts)" "the director saw the requests"
assert_eq 0 "$(ipvs_stat "$VIP:80" outpkts)" "the director saw no replies"
ipvsadm -Ln --stats

step "lvsd host clean on rs1 removes exactly what lvsd added"
out=$(in_ns rs1 lvsd host clean --state-dir /tmp/host/rs1)
info "$out"
lo=$(in_ns rs1 "$IP" -4 addr show dev lo)
assert_not_contains "$lo" "$VIP" "rs1: VIP gone from lo"
assert_contains "$lo" "inet 10.99.0.1/32" "rs1: the administrator's address stays"
assert_eq "0 0" "$(arp_conf rs1 all ignore) $(arp_conf rs1 all announce)" "rs1: all's ARP settings restored"
assert_eq "0 2" "$(arp_conf rs1 lo ignore) $(arp_conf rs1 lo announce)" "rs1: lo's arp_announce was already 2 and stays"
assert_eq "realserver: nothing added" "$(in_ns rs1 lvsd host show --state-dir /tmp/host/rs1 | grep realserver)" "rs1: nothing left to remember"

step "a spec without the service takes the VIP back on rs2"
echo '{}' >/tmp/empty.json
out=$(in_ns rs2 lvsd host apply --role realserver --spec /tmp/empty.json --state-dir /tmp/host/rs2)
info "$out"
assert_contains "$out" "- address $VIP/32 on lo" "rs2: VIP removed"
assert_eq "0 0" "$(arp_conf rs2 all ignore) $(arp_conf rs2 lo ignore)" "rs2: arp_ignore restored"

step "lvsd host clean on the director: lvs0 goes, the IPVS table stays"
out=$(lvsd host clean --state-dir /tmp/host/d1)
info "$out"
assert_contains "$out" "- interface lvs0" "lvs0 deleted"
assert_fails "$IP" link show lvs0
assert_contains "$(ipvsadm -Sn)" "-A -t $VIP:80 -s rr" "host clean leaves IPVS alone"
assert_eq "director: nothing added" "$(lvsd host show --state-dir /tmp/host/d1 | grep director)" "director: nothing left"
step "done"
