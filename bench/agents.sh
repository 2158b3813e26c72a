#!/usr/bin/env bash
# Benchmark: how long one commit takes to reach N agents (`lvsd agent
# --table memory`, each its own process and state directory) watching one
# `lvsd serve` by long-poll, until every one of them has reported the
# revision applied; against the same for 1 agent, in the same run.
#
#   bench/agents.sh [--no-build] [AGENTS]        (default 100)
#
# Two times per case, both from the moment the commit request is sent:
#   view:    until the directors view (GET /v1/clusters/C/directors) shows
#            every agent with the revision applied (polled every 50 ms, so
#            up to 50 ms late);
#   applied: until the last agent finished applying it (the `applied_at`
#            its report carries; agents and server share this host's clock).
# Every agent first applies a warm-up revision, so all of them are holding a
# long-poll when the timed commit is made.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=1
if [ "${1:-}" = "--no-build" ]; then
    build=0
    shift
fi
agents=${1:-100}
if [ "$build" = 1 ]; then
    cargo build --release --bin lvsd
fi
bin=$root/target/release/lvsd
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --init --db "$work/lvsd.db" --http 127.0.0.1:0 --grpc 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do
    api=$(sed -n 's/^lvsd: REST API on //p' "$work/serve.out")
    [ -n "$api" ] && break
    sleep 0.1
done
[ -n "$api" ] || { cat "$work/serve.log"; echo "lvsd serve did not start" >&2; exit 1; }

post() { curl -sf -XPOST -H 'content-type: application/json' "$api$1" -d "$2" >/dev/null; }
now() { date +%s.%N; }

# A spec of 10 services x 4 real servers, `weight` on the first real server.
spec() {
    jq -cn --argjson w "$1" '{services: [range(10) as $s | {id: "tcp:192.168.31.\(100 + $s):80", scheduler: "wrr",
        servers: [range(4) as $r | {address: "172.25.\($s).\(31 + $r)", forwarding: "nat",
                                    weight: (if $r == 0 then $w else 1 end)}]}]}'
}
commit() { post "/v1/clusters/$1/revisions" "{\"message\": \"bench\", \"spec\": $(spec "$2")}"; }

# applied COUNT: how many directors of cluster $1 report revision $2 applied.
applied_count() {
    curl -sf "$api/v1/clusters/$1/directors" \
        | jq --argjson rev "$2" '[(if type == "array" then . else .directors end)[] | select(.applied_revision == $rev and .result == "applied")] | length'
}
# The latest `applied_at` of revision $2 among the directors of cluster $1, in epoch seconds.
last_applied_at() {
    curl -sf "$api/v1/clusters/$1/directors" | jq --argjson rev "$2" '
        [(if type == "array" then . else .directors end)[] | select(.applied_revision == $rev) | .applied_at
         | capture("^(?<s>[^.]*)(\\.(?<f>[0-9]+))?Z$") | ((.s + "Z") | fromdate) + ("0." + (.f // "0") | tonumber)]
        | max'
}
# wait_all CLUSTER REV N: until N directors report REV applied (120 s at most).
wait_all() {
    local deadline=$(( $(date +%s) + 120 ))
    while [ "$(applied_count "$1" "$2")" -lt "$3" ]; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "only $(applied_count "$1" "$2") of $3 agents of $1 reported revision $2 within 120 s" >&2
            return 1
        fi
        sleep 0.05
    done
}

# run_case CLUSTER N: starts N agents, warms up, times one commit; sets
# REPORTED, VIEW_S, APPLIED_S.
run_case() {
    local cluster=$1 n=$2 case_pids=()
    post /v1/clusters "{\"name\": \"$cluster\"}"
    for i in $(seq "$n"); do
        "$bin" agent --server "$api" --cluster "$cluster" --name "d$i" --table memory \
            --state-dir "$work/$cluster/d$i" >"$work/$cluster-d$i.log" 2>&1 &
        case_pids+=($!)
        pids+=($!)
    done
    commit "$cluster" 1
    wait_all "$cluster" 1 "$n"
    sleep 1
    local t0 t1
    t0=$(now)
    commit "$cluster" 2
    wait_all "$cluster" 2 "$n" || true
    t1=$(now)
    REPORTED=$(applied_count "$cluster" 2)
    VIEW_S=$(echo "$t1 - $t0" | bc -l)
    APPLIED_S=$(echo "$(last_applied_at "$cluster" 2) - $t0" | bc -l)
    for pid in "${case_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}

echo "lvsd $("$bin" --version | cut -d' ' -f2), $(nproc) CPUs, server $api"
run_case one 1
one_reported=$REPORTED one_view=$VIEW_S one_applied=$APPLIED_S
run_case many "$agents"
printf '%-10s %8s %10s %12s\n' agents reported "view (s)" "applied (s)"
printf '%-10s %8s %10.3f %12.3f\n' 1 "$one_reported" "$one_view" "$one_applied"
printf '%-10s %8s %10.3f %12.3f\n' "$agents" "$REPORTED" "$VIEW_S" "$APPLIED_S"
printf 'ratio %s agents / 1 agent: view %.1fx, applied %.1fx\n' "$agents" \
    "$(echo "$VIEW_S / $one_view" | bc -l)" "$(echo "$APPLIED_S / $one_applied" | bc -l)"
