#!/bin/sh
# Live counters and connection entries through the API: after real traffic
# through the NAT lab, `lvsd list --stats -x` (counters the local director
# reported to `lvsd serve`) shows what `ipvsadm -Ln --stats --exact` shows,
# and `lvsd list -c` / `lvsd show -c` list the entries `ipvsadm -Lcn` lists.
# vm-timeout: 300
set -e
. /vm/lib.sh

export HOME=/tmp/cli LVSD_SERVER="$LVSD_API" LVSD_CLUSTER=web
mkdir -p "$HOME"

step "build lab_nat, start lvsd serve --apply-local, commit wrr 1:2:3"
lab_nat 3
lvsd_start --counters-interval 500ms
lvsd cluster create web
lvsd svc add -t "$VIP:80" -s wrr
w=1
for rs in $RS_IPS; do
    lvsd rs add -t "$VIP:80" -r "$rs" -m -w $w
    w=$((w + 1))
done
lvsd commit -m "wrr 1:2:3"
wait_applied 1

step "60 requests, then wait for the kernel's estimator"
assert_eq "rs1=10 rs2=20 rs3=30" "$(count_hits 60 "http://$VIP/")" "wrr 1:2:3"
wait_ipvs_stat "$VIP:80" conns 60 || fail "ipvsadm does not count 60 connections: $(ipvsadm -Ln --stats --exact)"
sleep 3

step "lvsd list --stats -x equals ipvsadm -Ln --stats --exact"
# Line 1 differs (lvsd names the director, ipvsadm the kernel version).
witness() { ipvsadm -Ln --stats --exact | tail -n +2; }
ours() { lvsd list --stats -x | tail -n +2; }
_same_stats() { [ "$(ours)" = "$(witness)" ]; }
wait_until 10 _same_stats || fail "counters differ:
$(lvsd list --stats -x)
--- ipvsadm:
$(ipvsadm -Ln --stats --exact)"
lvsd list --stats -x
assert_contains "$(lvsd list --stats -x)" "Director d1 of web, counters at" "headed by the director"
assert_eq "60" "$(lvsd list --stats -x | awk -v a="$VIP:80" '$2 == a { print $3 }')" "60 connections counted"
lvsd list --rate >/dev/null
json=$(lvsd list --stats --output json)
assert_contains "$json" '"director": "d1"' "--output json gives the counters"

step "lvsd list -c and lvsd show -c list what ipvsadm -Lcn lists"
# The expire column counts down between two reads: compare without it.
entries() { tail -n +3 | awk '{ $2 = ""; print }' | sort; }
want=$(ipvsadm -Lcn | entries)
[ -n "$want" ] || fail "ipvsadm -Lcn lists no entries after 60 requests"
info "$(echo "$want" | wc -l) entries"
assert_eq "$want" "$(lvsd show -c | entries)" "lvsd show -c (this host's kernel)"
list=$(lvsd list -c)
assert_eq "Director d1:" "$(echo "$list" | head -n1)" "lvsd list -c names the director"
assert_eq "$want" "$(echo "$list" | tail -n +2 | entries)" "lvsd list -c (through the server)"
for rs in $RS_IPS; do
    n=$(echo "$want" | grep -c " $rs:80\$" || true)
    assert_ne 0 "$n" "entries to $rs"
done

pass "live counters and connection entries through the API match ipvsadm"
