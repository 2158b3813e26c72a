#!/bin/sh
# A revision the kernel refuses part-way: weights of one service change,
# then a real server the kernel refuses fails (EINVAL: 172.25.0.255 is the
# broadcast address of the director's real-server subnet, which lvsd's model
# cannot know). lvsd undoes the weight changes, `ipvsadm -Sn` is
# byte-identical to before, and the API says what failed and that the table
# was restored. The revision is not retried on its own; asking again fails
# the same way, and the next revision without that server applies.
# vm-timeout: 240
set -e
. /vm/lib.sh

step "build lab_nat, start lvsd"
lab_nat 3
lvsd_start --reconcile-interval 3s
api_post /v1/clusters '{"name":"web"}' >/dev/null
revision() { # WEIGHT EXTRA_SERVER_JSON
    printf '{"message": "w%s", "spec": {"services": [
      {"id": "tcp:%s:80", "scheduler": "wrr", "servers": [
        {"address": "%s", "forwarding": "nat", "weight": %s},
        {"address": "%s", "forwarding": "nat", "weight": %s}]},
      {"id": "tcp:%s:8080", "scheduler": "rr", "servers": [
        {"address": "%s", "forwarding": "nat"}%s]}]}}' "$1" "$VIP" "$RS1" "$1" "$RS2" "$1" "$VIP" "$RS3" "$2"
}
api_post /v1/clusters/web/revisions "$(revision 1 "")" >/dev/null
wait_applied 1
ipvsadm -Sn >/tmp/before
cat /tmp/before

step "commit: new weights on :80, and on :8080 a server the kernel refuses"
api_post /v1/clusters/web/revisions "$(revision 5 ', {"address": "172.25.0.255", "forwarding": "nat"}')" >/dev/null
_failed() { api_get /v1/clusters/web/directors/d1 | grep -q '"blocked_revision":2'; }
wait_until 15 _failed || fail "no failure reported: $(api_get /v1/clusters/web/directors/d1)"
d=$(api_get /v1/clusters/web/directors/d1)
info "$d"
assert_eq failed_restored "$(json_get "$d" result)" "the result: failed, restored"
assert_eq 1 "$(json_get "$d" applied_revision)" "revision 1 is still the applied one"
assert_eq 2 "$(json_get "$d" active_revision)" "while 2 is active"
assert_eq false "$(json_get "$d" in_sync)" "not in sync"
assert_contains "$d" '"op":"adding real server 172.25.0.255:8080 to tcp 192.168.31.100:8080"' "the failed operation"
assert_eq 22 "$(json_get "$d" errno)" "EINVAL"
assert_contains "$d" "routable from the director" "the reason"
assert_contains "$d" '"restore":{"result":"restored"' "the restore result"
if ipvsadm -Sn | cmp -s - /tmp/before; then
    pass "ipvsadm -Sn is byte-identical to before the apply"
else
    ipvsadm -Sn | diff /tmp/before - || true
    fail "the table is not as before"
fi
audit=$(api_get '/v1/audit?action=director.apply')
assert_contains "$audit" '"outcome":"failed"' "the failure is audited"

step "not retried on its own"
sleep 4
assert_eq 1 "$(json_get "$(api_get /v1/clusters/web/directors/d1)" applied_revision)" "still revision 1"
assert_eq "$(cat /tmp/before)" "$(ipvsadm -Sn)" "still the table of revision 1"

step "asked again, it fails the same way and restores again"
out=$(api_post /v1/clusters/web/directors/d1/apply '{}')
info "$out"
assert_eq failed_restored "$(json_get "$out" result)" "the report of the requested apply"
assert_eq "$(cat /tmp/before)" "$(ipvsadm -Sn)" "still the table of revision 1"

step "the next revision, without that server, applies"
api_post /v1/clusters/web/revisions "$(revision 5 "")" >/dev/null
wait_applied 3
assert_contains "$(ipvsadm -Sn)" "-a -t $VIP:80 -r $RS1:80 -m -w 5" "the new weights are in the kernel"
lvsd_stop
step "done"
