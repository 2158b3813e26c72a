#!/bin/sh
# LVS-TUN with the host settings made by lvsd: each real server gets tunl0
# up (the ipip module, loaded on demand) with the VIP, and reverse-path
# filtering off on all and tunl0 (the lab turns it on first: strict
# filtering drops the decapsulated packets). The director encapsulates,
# the real servers answer the client directly, and `lvsd host clean` puts
# everything back. rs3 reads the spec from an lvsd server, the others
# from a file.
set -e
. /vm/lib.sh

step "build lab_dr without VIPs or ARP settings; strict rp_filter on the real servers"
LAB_DR_BARE=1
lab_dr 3
for r in $RS_NAMES; do
    in_ns "$r" sh -c 'for c in all default; do echo 1 >/proc/sys/net/ipv4/conf/$c/rp_filter; done'
done

cat >/tmp/tun.json <<JSON
{"services": [
  {"id": "tcp:$VIP:80", "scheduler": "rr", "servers": [
    {"address": "$RS1", "forwarding": "tun"},
    {"address": "$RS2", "forwarding": "tun"},
    {"address": "$RS3", "forwarding": "tun"}]}]}
JSON
rp() { in_ns "$1" cat "/proc/sys/net/ipv4/conf/$2/rp_filter"; }

step "the director: IPVS table and the VIP on lvs0"
out=$(lvsd apply --host --name d1 --state-dir /tmp/host/d1 /tmp/tun.json)
info "$out"
assert_contains "$(ipvsadm -Ln)" "$RS1:80               Tunnel  1" "rs1 is a tunnel real server"

step "without the real servers' settings no request is served"
assert_eq "rs1=0 rs2=0 rs3=0 fail=3" "$(count_hits 3 "http://$VIP/")" "nothing decapsulates the packets"
# The real servers' ICMP errors count as outgoing packets: zero the
# counters once the estimator has folded them in (it runs every 2 s).
sleep 2.5
ipvsadm -Z

step "lvsd serve on the director holds the spec as cluster web's revision 1"
mkdir -p /tmp/lvsd
lvsd serve --init --db /tmp/lvsd/lvsd.db --http 0.0.0.0:7080 --grpc 127.0.0.1:7081 --allow-open >/tmp/lvsd/stdout 2>/tmp/lvsd/log &
serve_pid=$!
wait_until 20 api_get /readyz || { cat /tmp/lvsd/log; fail "lvsd serve does not answer"; }
api_post /v1/clusters '{"name": "web"}' >/dev/null
api_post /v1/clusters/web/revisions "{\"message\": \"tun\", \"spec\": $(cat /tmp/tun.json)}" >/dev/null
source_of() {
    case $1 in
        rs3) echo "--server http://$DIP:7080 --cluster web" ;;
        *) echo "--spec /tmp/tun.json" ;;
    esac
}

step "lvsd host apply --role realserver: tunl0 up with the VIP, rp_filter 0"
for r in $RS_NAMES; do
    # shellcheck disable=SC2046
    out=$(in_ns "$r" lvsd host apply --role realserver $(source_of "$r") --state-dir "/tmp/host/$r")
    info "$r: $(echo "$out" | tr '\n' ';')"
    assert_contains "$(in_ns "$r" "$IP" -4 addr show dev tunl0)" "inet $VIP/32" "$r: VIP on tunl0"
    assert_contains "$(in_ns "$r" "$IP" link show tunl0)" ",UP" "$r: tunl0 up"
    assert_eq "0 0" "$(rp "$r" all) $(rp "$r" tunl0)" "$r: rp_filter 0 on all and tunl0"
    assert_eq "1 2" "$(in_ns "$r" cat /proc/sys/net/ipv4/conf/all/arp_ignore /proc/sys/net/ipv4/conf/all/arp_announce | tr '\n' ' ' | sed 's/ $//')" "$r: ARP quiet"
done

step "30 requests through the VIP: tunnelled to all three, answered directly"
assert_eq "rs1=10 rs2=10 rs3=10" "$(count_hits 30 "http://$VIP/")" "rr split over the tunnels"
wait_ipvs_stat "$VIP:80" conns 30 || true
assert_eq 10 "$(ipvs_conns "$RS1:80")" "rs1: 10 connections"
assert_ne 0 "$(ipvs_stat "$VIP:80" inpkts)" "the director saw the requests"
assert_eq 0 "$(ipvs_stat "$VIP:80" outpkts)" "the director saw no replies"
ipvsadm -Ln --stats

step "lvsd host clean on rs1: tunl0 down again, VIP gone, rp_filter strict again"
out=$(in_ns rs1 lvsd host clean --state-dir /tmp/host/rs1)
info "$(echo "$out" | tr '\n' ';')"
assert_not_contains "$(in_ns rs1 "$IP" addr show dev tunl0)" "$VIP" "rs1: VIP gone"
assert_not_contains "$(in_ns rs1 "$IP" link show tunl0)" ",UP" "rs1: tunl0 down as it was"
assert_eq "1 1" "$(rp rs1 all) $(rp rs1 tunl0)" "rs1: rp_filter restored"
assert_contains "$(in_ns rs2 "$IP" -4 addr show dev tunl0)" "inet $VIP/32" "rs2 keeps its own"
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
step "done"
