#!/bin/sh
# The lvsd command line against `lvsd serve --apply-local` on the NAT lab:
# the classic NAT example typed as ipvsadm-style commands, previewed with
# `lvsd plan`, committed, and applied to the kernel, which then holds what
# `lvsd export` says; `lvsd list` and `lvsd directors` show the director in
# sync; a commit confirmed that nobody confirms is rolled back, on the
# kernel too.
# vm-timeout: 300
set -e
. /vm/lib.sh

export HOME=/tmp/cli LVSD_SERVER="$LVSD_API" LVSD_CLUSTER=web
mkdir -p "$HOME"

step "build lab_nat, start lvsd serve --apply-local"
lab_nat 3
lvsd_start

step "the NAT example, typed"
lvsd cluster create web
lvsd svc add -t "$VIP:80" -s wrr
w=1
for rs in $RS_IPS; do
    lvsd rs add -t "$VIP:80" -r "$rs" -m -w $w
    w=$((w + 1))
done
lvsd draft diff

step "preview, commit, applied"
lvsd commit -m nat --no-activate
plan=$(lvsd plan 1)
echo "$plan"
assert_contains "$plan" "against director d1's table as it is now" "planned against this director's kernel"
assert_contains "$plan" "# 1 service added, 3 real servers added" "the plan's summary"
assert_eq "" "$(ipvsadm -Sn)" "a preview changes nothing"
lvsd activate 1
wait_applied 1
assert_eq "$(lvsd export 1)" "$(ipvsadm -Sn)" "the kernel holds what lvsd export says"
list=$(lvsd list -n)
echo "$list"
assert_contains "$list" "  -> 172.25.0.33:80               Masq    3" "lvsd list lays the revision out like ipvsadm -Ln"
assert_contains "$list" "Director d1: revision 1 applied, in sync" "lvsd list says what the director applied"
directors=$(lvsd directors)
echo "$directors"
assert_contains "$directors" "in sync" "lvsd directors: in sync"
lvsd directors d1
assert_eq "rs1=10 rs2=20 rs3=30" "$(count_hits 60 "http://$VIP/")" "wrr 1:2:3"

step "new weights, committed with --confirm 15s and never confirmed"
lvsd rs edit -t "$VIP:80" -r 172.25.0.31 -w 3
lvsd rs edit -t "$VIP:80" -r 172.25.0.33 -w 1
lvsd commit -m 'weights 3:2:1' --confirm 15s
wait_applied 2
assert_eq "$(lvsd export 2)" "$(ipvsadm -Sn)" "revision 2 on the kernel"
wait_applied 3 40
lvsd log
assert_contains "$(lvsd log -n 1)" "automatic rollback to revision 1" "lvsd rolled back by itself"
assert_eq "$(lvsd export 1)" "$(ipvsadm -Sn)" "and the kernel is back at revision 1"

lvsd_stop
step "done"
