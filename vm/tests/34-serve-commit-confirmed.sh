#!/bin/sh
# Commit confirmed: a commit with confirm_within that nobody confirms is
# rolled back by lvsd itself after the deadline, audited with the reason, and
# the kernel goes back to the previous revision byte for byte. A confirmed
# one stays.
# vm-timeout: 240
set -e
. /vm/lib.sh

step "build lab_nat, start lvsd"
lab_nat 3
lvsd_start --reconcile-interval 5s
api_post /v1/clusters '{"name":"web"}' >/dev/null
weights() { # MESSAGE W1 W2 W3 [CONFIRM_WITHIN]
    printf '{"message": "%s", %s "spec": {"services": [{"id": "tcp:%s:80", "scheduler": "wrr", "servers": [
      {"address": "%s", "forwarding": "nat", "weight": %s},
      {"address": "%s", "forwarding": "nat", "weight": %s},
      {"address": "%s", "forwarding": "nat", "weight": %s}]}]}}' \
        "$1" "${5:+\"confirm_within\": \"$5\",}" "$VIP" "$RS1" "$2" "$RS2" "$3" "$RS3" "$4"
}
api_post /v1/clusters/web/revisions "$(weights "known good" 1 2 3)" >/dev/null
wait_applied 1
ipvsadm -Sn >/tmp/rev1.save

step "commit weights 0:0:1 with confirm_within 15s, and never confirm"
out=$(api_post /v1/clusters/web/revisions "$(weights "risky" 0 0 1 15s)")
info "$out" | cut -c1-300
assert_contains "$out" '"confirm":{"revision":2,"fallback":1' "the commit waits for confirmation"
# A deadline long enough for a slow (emulated, loaded) VM to look first.
wait_applied 2
cluster=$(api_get /v1/clusters/web)
assert_contains "$cluster" '"pending_confirm":{"revision":2' "the cluster shows the pending confirmation"
assert_eq "rs1=0 rs2=0 rs3=12" "$(count_hits 12 "http://$VIP/")" "revision 2 runs"

step "the deadline passes: lvsd rolls back by itself"
t0=$(now)
wait_applied 3 40
info "rolled back $(elapsed "$t0") s after revision 2 was applied"
rev=$(api_get /v1/clusters/web/revisions/3)
assert_eq rollback "$(json_get "$rev" kind)" "revision 3 is a rollback"
assert_eq 1 "$(json_get "$rev" rollback_of)" "of revision 1"
assert_eq lvsd "$(json_get "$rev" author)" "made by lvsd"
if ipvsadm -Sn | cmp -s - /tmp/rev1.save; then
    pass "ipvsadm -Sn is byte-identical to revision 1's"
else
    fail "the table differs from revision 1's: $(ipvsadm -Sn)"
fi
assert_eq "rs1=2 rs2=4 rs3=6" "$(count_hits 12 "http://$VIP/")" "traffic splits 1:2:3 again"
audit=$(api_get '/v1/audit?action=revision.confirm.expired')
info "$audit"
assert_contains "$audit" '"reason":"no confirmation arrived before the deadline"' "audited with the reason"
assert_contains "$audit" '"actor":"lvsd"' "by lvsd"

step "a confirmed commit stays"
api_post /v1/clusters/web/revisions "$(weights "confirmed" 1 1 1 10s)" >/dev/null
wait_applied 4
out=$(api_post /v1/clusters/web/confirm '{}')
assert_eq 4 "$(json_get "$out" revision)" "revision 4 confirmed"
sleep 11
assert_eq 4 "$(json_get "$(api_get /v1/clusters/web)" active_revision)" "still active after the deadline"
assert_contains "$(ipvsadm -Sn)" "-r $RS3:80 -m -w 1" "and in the kernel"
lvsd_stop
step "done"
