#!/bin/sh
# Drift: changes made behind lvsd's back with ipvsadm (-a, -d, -e) are found
# by the reconcile loop within its interval, audited with what differed, and
# corrected; with --drift report they are audited and left alone.
# vm-timeout: 300
set -e
. /vm/lib.sh

# Long enough that a slow (emulated, loaded) VM sees the drift before lvsd undoes it.
INTERVAL=5
step "build lab_nat, lvsd serve --apply-local --reconcile-interval ${INTERVAL}s"
lab_nat 3
lvsd_start --reconcile-interval ${INTERVAL}s
api_post /v1/clusters '{"name":"web"}' >/dev/null
cat >/tmp/nat.json <<EOF2
{"message": "NAT lab", "spec": {"services": [{"id": "tcp:$VIP:80", "scheduler": "wrr", "servers": [
  {"address": "$RS1", "forwarding": "nat", "weight": 1},
  {"address": "$RS2", "forwarding": "nat", "weight": 2},
  {"address": "$RS3", "forwarding": "nat", "weight": 3}]}]}}
EOF2
api_post_file /v1/clusters/web/revisions /tmp/nat.json >/dev/null
wait_applied 1
ipvsadm -Sn >/tmp/want

table_is_wanted() { ipvsadm -Sn | cmp -s - /tmp/want; }
# drifted CMD... : run an ipvsadm command, then wait for lvsd to undo it.
drifted() {
    "$@"
    assert_ne "$(cat /tmp/want)" "$(ipvsadm -Sn)" "the table drifted: $*"
    t0=$(now)
    wait_until $((INTERVAL + 3)) table_is_wanted || fail "not corrected within $((INTERVAL + 3)) s: $(ipvsadm -Sn)"
    pass "corrected in $(elapsed "$t0") s (interval ${INTERVAL} s)"
}

step "someone adds a real server by hand"
drifted ipvsadm -a -t "$VIP:80" -r 172.25.0.40:80 -m -w 1
step "someone deletes one"
drifted ipvsadm -d -t "$VIP:80" -r "$RS2:80"
step "someone edits a weight and the scheduler"
drifted sh -c "ipvsadm -e -t $VIP:80 -r $RS3:80 -m -w 9 && ipvsadm -E -t $VIP:80 -s rr"
assert_eq "rs1=10 rs2=20 rs3=30" "$(count_hits 60 "http://$VIP/")" "traffic splits by the spec again"

step "every drift is in the audit log, with what differed"
audit=$(api_get '/v1/audit?action=director.drift')
info "$audit"
assert_contains "$audit" "real server 172.25.0.40:80 of tcp $VIP:80: in the kernel, not in the spec" "the added server"
assert_contains "$audit" "real server $RS2:80 of tcp $VIP:80: in the spec, missing from the kernel" "the deleted server"
assert_contains "$audit" "weight: kernel 9, spec 3" "the edited weight"
assert_contains "$audit" "scheduler: kernel rr, spec wrr" "the edited scheduler"
restores=$(api_get '/v1/audit?action=director.apply')
assert_eq 3 "$(printf '%s' "$restores" | grep -o '"cause":"drift"' | wc -l)" "three restores audited"

step "restart with --drift report: drift is recorded, not corrected"
lvsd_stop
lvsd_start --reconcile-interval ${INTERVAL}s --drift report
ipvsadm -a -t "$VIP:80" -r 172.25.0.41:80 -m -w 1
_reported() { api_get '/v1/audit?action=director.drift' | grep -q '172.25.0.41:80 of tcp'; }
wait_until $((INTERVAL + 3)) _reported || fail "the drift was not audited"
pass "the drift is audited"
sleep $((INTERVAL + 1))
assert_contains "$(ipvsadm -Sn)" "-r 172.25.0.41:80" "and left in the table"
d=$(api_get /v1/clusters/web/directors/d1)
assert_eq false "$(json_get "$d" in_sync)" "the director says it is out of sync"
assert_contains "$d" '"kind":"unexpected"' "and what differs"
reports=$(api_get '/v1/audit?action=director.drift' | grep -o '"differences":\["real server 172.25.0.41:80' | wc -l)
assert_eq 1 "$reports" "a lasting drift is audited once"
lvsd_stop
step "done"
