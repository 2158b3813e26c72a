#!/bin/sh
# The LVS-DR lab with real-server agents: each real server runs
# `lvsd agent --role realserver` against one `lvsd serve` (in place of
# `lvsd host apply`, test 41). A commit puts the VIP on each real server's
# lo with ARP kept quiet, the directors view lists them as mode
# `realserver`, traffic through the VIP reaches all three, and a revision
# without the service takes the VIP back.
set -e
. /vm/lib.sh

step "build lab_dr without VIPs or ARP settings"
LAB_DR_BARE=1
lab_dr 3
STATE=/tmp/agents
mkdir -p "$STATE" "$LVSD_DIR"

step "lvsd serve on the director, reachable from the real servers at $DIP"
lvsd serve --init --db "$LVSD_DIR/lvsd.db" --http 0.0.0.0:7080 --grpc 127.0.0.1:7081 --allow-open \
    >>"$LVSD_DIR/stdout" 2>>"$LVSD_DIR/log" &
LVSD_PID=$!
wait_until 60 api_get /readyz || { cat "$LVSD_DIR/log" "$LVSD_DIR/stdout"; fail "lvsd serve does not answer"; }
api_post /v1/clusters '{"name":"web"}' >/dev/null

step "lvsd agent --role realserver in each real server"
for r in $RS_NAMES; do
    in_ns "$r" lvsd agent --role realserver --server "http://$DIP:7080" --cluster web --name "$r" \
        --state-dir "$STATE/$r" --report-interval 1s --reconcile-interval 1s >>"$STATE/$r.log" 2>&1 &
done

cat >/tmp/dr.json <<JSON
{"services": [
  {"id": "tcp:$VIP:80", "scheduler": "rr", "servers": [
    {"address": "$RS1"}, {"address": "$RS2"}, {"address": "$RS3"}]}]}
JSON
api_post /v1/clusters/web/revisions "{\"message\": \"dr\", \"spec\": $(cat /tmp/dr.json)}" >/dev/null

arp_conf() { in_ns "$1" cat "/proc/sys/net/ipv4/conf/$2/arp_$3"; }
# realserver_has R REV: real server R reports the settings of revision REV applied.
realserver_has() {
    _d=$(api_get "/v1/clusters/web/directors/$1") || return 1
    [ "$(json_get "$_d" applied_revision)" = "$2" ] && [ "$(json_get "$_d" mode)" = realserver ]
}

step "each real server takes the VIP on lo, quiets ARP, and reports as mode realserver"
for r in $RS_NAMES; do
    wait_until 30 realserver_has "$r" 1 \
        || fail "$r does not report revision 1: $(api_get /v1/clusters/web/directors/$r); log: $(tail -n 20 "$STATE/$r.log")"
    assert_contains "$(in_ns "$r" "$IP" -4 addr show dev lo)" "inet $VIP/32" "$r: VIP on lo"
    assert_eq "1 2" "$(arp_conf "$r" all ignore) $(arp_conf "$r" all announce)" "$r: arp_ignore=1 arp_announce=2"
done

step "the director: lvsd apply --host binds the VIP and loads the table"
out=$(lvsd apply --host --name d1 --state-dir /tmp/host/d1 /tmp/dr.json)
info "$out"
assert_contains "$out" "applied: 1 service added, 3 real servers added" "IPVS table"

step "30 requests through the VIP: all three serve"
assert_eq "rs1=10 rs2=10 rs3=10" "$(count_hits 30 "http://$VIP/")" "rr split"

step "a revision without the service: the agents take the VIP back"
api_post /v1/clusters/web/revisions '{"message": "empty", "spec": {}}' >/dev/null
for r in $RS_NAMES; do
    wait_until 30 realserver_has "$r" 2 \
        || fail "$r does not report revision 2: $(api_get /v1/clusters/web/directors/$r); log: $(tail -n 20 "$STATE/$r.log")"
    assert_not_contains "$(in_ns "$r" "$IP" -4 addr show dev lo)" "$VIP" "$r: VIP gone from lo"
    assert_eq "0 0" "$(arp_conf "$r" all ignore) $(arp_conf "$r" all announce)" "$r: ARP settings restored"
done
step "done"
