#!/bin/sh
# Runs inside the test VM (see bench/apply-weight.sh).
# vm-timeout: 1500
# vm-mem: 2048
set -e
. /vm/lib.sh

N=${1:-10000}
CHANGES=${2:-20}
# A RUST_LOG filter for lvsd (e.g. "info,lvsd::timing=debug"); its timing lines are printed at the end.
BENCH_LOG=${3:-}

step "generate $N services x 4 real servers (ipvsadm -R input)"
awk -v n="$N" 'BEGIN {
    for (i = 0; i < n; i++) {
        vip = sprintf("10.1.%d.%d", int(i / 250), i % 250 + 1)
        printf "-A -t %s:80 -s wrr\n", vip
        for (k = 0; k < 4; k++)
            printf "-a -t %s:80 -r 10.%d.%d.%d:80 -m -w 1\n", vip, 10 + k, int(i / 250), i % 250 + 1
    }
}' >/tmp/rules
info "$(wc -l </tmp/rules) lines, $(wc -c </tmp/rules) bytes"

step "ipvsadm -R of the whole table, in a fresh network namespace"
ip netns add ra
in_ns ra "$IP" link set lo up
in_ns ra "$IP" route add 10.0.0.0/8 dev lo
time_cmd T_RESTORE in_ns ra "$IPVSADM" -R </tmp/rules
loaded=$(in_ns ra "$IPVSADM" -Ln | grep -c '^TCP')
assert_eq "$N" "$loaded" "ipvsadm -R loaded every service"
info "ipvsadm -R: ${T_RESTORE} s"
ip netns del ra

step "lvsd serve --apply-local in the root namespace (fresh table), loading the same rules"
ip link set lo up
ip route add 10.0.0.0/8 dev lo
RUST_LOG=${BENCH_LOG:-info} lvsd_start --reconcile-interval 1h
api_post /v1/clusters '{"name":"web"}' >/dev/null
time_cmd T_IMPORT api_post_file /v1/clusters/web/draft/import /tmp/rules text/plain >/dev/null
t0=$(now)
api_post /v1/clusters/web/revisions '{"message":"10k services"}' >/dev/null
wait_applied 1 900
T_LOAD=$(elapsed "$t0")
assert_eq "$N" "$(ipvsadm -Ln | grep -c '^TCP')" "lvsd loaded every service"
d=$(api_get /v1/clusters/web/directors/d1)
info "import of the rules into the draft: ${T_IMPORT} s; commit and first apply (${N} services + $((4 * N)) real servers): ${T_LOAD} s"
info "first apply: total $(json_get "$d" total_ms) ms, commit to kernel $(json_get "$d" commit_to_kernel_ms) ms"

step "$CHANGES commits, each changing one real server's weight"
: >/tmp/c2k
: >/tmp/a2k
: >/tmp/client
i=1
while [ "$i" -le "$CHANGES" ]; do
    # The first real server of service i*397 mod N gets weight i+1.
    svc=$(( (i * 397) % N ))
    line=$(( svc * 5 + 2 ))
    vip=$(sed -n "$((svc * 5 + 1))p" /tmp/rules | awk '{print $3}')
    sed "${line}s/-w [0-9]*/-w $((i + 1))/" /tmp/rules >/tmp/rules.next
    mv /tmp/rules.next /tmp/rules
    api_post_file /v1/clusters/web/draft/import /tmp/rules text/plain >/dev/null
    rev=$((i + 1))
    t0=$(now)
    api_post /v1/clusters/web/revisions "{\"message\":\"weight $((i + 1))\"}" >/dev/null
    wait_applied "$rev" 60 >/dev/null
    elapsed "$t0" >>/tmp/client
    d=$(api_get /v1/clusters/web/directors/d1)
    json_get "$d" commit_to_kernel_ms >>/tmp/c2k
    json_get "$d" activation_to_kernel_ms >>/tmp/a2k
    assert_eq 1 "$(json_get "$d" ops)" "one kernel operation"
    got=$(ipvsadm -Ln -t "$vip" | awk '$1 == "->" && $2 ~ /^10\.10\./ {print $4}')
    assert_eq "$((i + 1))" "$got" "the kernel has weight $((i + 1)) on $vip"
    info "change $i: $(tail -n1 /tmp/c2k) ms commit to kernel, $(tail -n1 /tmp/a2k) ms activation to kernel; read $(json_get "$d" read_ms) plan $(json_get "$d" plan_ms) apply $(json_get "$d" apply_ms) verify $(json_get "$d" verify_ms) ms"
    i=$((i + 1))
done
lvsd_stop
if [ -n "$BENCH_LOG" ]; then tail -n 80 "$LVSD_DIR/log"; fi

step "results"
stats() { sort -n "$1" | awk '{ v[NR] = $1; s += $1 } END { printf "median %.1f, mean %.1f, min %.1f, max %.1f", v[int((NR + 1) / 2)], s / NR, v[1], v[NR] }'; }
C2K=$(sort -n /tmp/c2k | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "BENCH services=$N real_servers=$((4 * N)) changes=$CHANGES"
echo "BENCH ipvsadm -R of the whole table: ${T_RESTORE} s"
echo "BENCH commit to kernel of one weight change (lvsd, from the start of the commit, ms): $(stats /tmp/c2k)"
echo "BENCH activation to kernel (lvsd, from the commit being durable, ms): $(stats /tmp/a2k)"
awk '{ print $1 * 1000 }' /tmp/client >/tmp/client.ms
echo "BENCH client view, POST commit until the director reports it applied (busybox wget polling, ms): $(stats /tmp/client.ms)"
A2K=$(sort -n /tmp/a2k | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "BENCH ratio ipvsadm -R / commit-to-kernel (medians): $(awk -v r="$T_RESTORE" -v c="$C2K" 'BEGIN { printf "%.0f", r * 1000 / c }')x"
echo "BENCH ratio ipvsadm -R / activation-to-kernel (medians): $(awk -v r="$T_RESTORE" -v c="$A2K" 'BEGIN { printf "%.0f", r * 1000 / c }')x"
