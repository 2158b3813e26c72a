#!/bin/sh
# The NAT lab driven only through the REST API of `lvsd serve --apply-local`:
# import an ipvsadm script into a cluster's draft and commit it, and real
# HTTP traffic splits 10/20/30 by the wrr weights; commit new weights and the
# split follows; roll back, and `ipvsadm -Sn` is byte-identical to what it was
# at that revision (and so is the verified-state hash the director reports).
# vm-timeout: 300
set -e
. /vm/lib.sh

step "build lab_nat, start lvsd serve --apply-local"
lab_nat 3
lvsd_start --reconcile-interval 5s
assert_eq "" "$(ipvsadm -Sn)" "the table starts empty"

step "create the cluster, import ipvsadm rules into its draft, commit"
api_post /v1/clusters '{"name":"web","description":"the NAT lab"}' >/dev/null
cat >/tmp/rules <<EOF2
-A -t $VIP:80 -s wrr
-a -t $VIP:80 -r $RS1:80 -m -w 1
-a -t $VIP:80 -r $RS2:80 -m -w 2
-a -t $VIP:80 -r $RS3:80 -m -w 3
EOF2
api_post_file /v1/clusters/web/draft/import /tmp/rules text/plain >/dev/null
out=$(api_post /v1/clusters/web/revisions '{"message":"NAT lab, wrr 1:2:3"}')
assert_eq 1 "$(json_get "$out" number)" "revision 1 committed"
wait_applied 1
ipvsadm -Sn >/tmp/rev1.save
assert_eq "$(cat /tmp/rules)" "$(cat /tmp/rev1.save)" "ipvsadm -Sn shows the imported rules"
d=$(api_get /v1/clusters/web/directors/d1)
hash1=$(json_get "$d" verified_hash)
assert_eq true "$(json_get "$d" in_sync)" "the director is in sync"
assert_eq 64 "${#hash1}" "it reports the hash of the state it verified"
info "commit to kernel: $(json_get "$d" commit_to_kernel_ms) ms, apply total $(json_get "$d" total_ms) ms"

step "60 requests split 1:2:3"
assert_eq "rs1=10 rs2=20 rs3=30" "$(count_hits 60 "http://$VIP/")" "wrr 1:2:3"

step "commit weights 3:2:1 (a whole spec), preview it first"
cat >/tmp/321.json <<EOF2
{"message": "weights 3:2:1", "activate": false, "spec": {"services": [
  {"id": "tcp:$VIP:80", "scheduler": "wrr", "servers": [
    {"address": "$RS1", "forwarding": "nat", "weight": 3},
    {"address": "$RS2", "forwarding": "nat", "weight": 2},
    {"address": "$RS3", "forwarding": "nat", "weight": 1}]}]}}
EOF2
out=$(api_post_file /v1/clusters/web/revisions /tmp/321.json)
assert_eq 2 "$(json_get "$out" number)" "revision 2 committed, not active"
plan=$(api_get /v1/clusters/web/revisions/2/plan)
info "$plan"
assert_contains "$plan" '"against":"director"' "planned against this director's table"
assert_contains "$plan" "real server $RS1:80 of tcp $VIP:80: weight 1 -> 3" "the preview edits in place"
assert_eq "$(cat /tmp/rev1.save)" "$(ipvsadm -Sn)" "previewing changed nothing"
api_post /v1/clusters/web/revisions/2/activate '{}' >/dev/null
wait_applied 2
ipvsadm -Sn >/tmp/rev2.save
assert_contains "$(cat /tmp/rev2.save)" "-a -t $VIP:80 -r $RS1:80 -m -w 3" "the kernel has the new weight"
assert_eq "rs1=30 rs2=20 rs3=10" "$(count_hits 60 "http://$VIP/")" "the split follows: wrr 3:2:1"

step "roll back to revision 1"
out=$(api_post /v1/clusters/web/rollback '{"to":1}')
assert_eq 3 "$(json_get "$out" number)" "revision 3 restores revision 1"
wait_applied 3
ipvsadm -Sn >/tmp/rev3.save
if cmp /tmp/rev1.save /tmp/rev3.save; then
    pass "ipvsadm -Sn is byte-identical to revision 1's"
else
    diff /tmp/rev1.save /tmp/rev3.save || true
    fail "ipvsadm -Sn differs from revision 1's"
fi
d=$(api_get /v1/clusters/web/directors/d1)
assert_eq "$hash1" "$(json_get "$d" verified_hash)" "the same verified-state hash as revision 1"
assert_eq "rs1=10 rs2=20 rs3=30" "$(count_hits 60 "http://$VIP/")" "the split is 1:2:3 again"

step "the audit log has every apply"
audit=$(api_get '/v1/audit?action=director.apply')
assert_eq 3 "$(printf '%s' "$audit" | grep -o '"action":"director.apply"' | wc -l)" "three applies audited"
lvsd_stop
step "done"
