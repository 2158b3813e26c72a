#!/usr/bin/env bash
# Soak benchmark: one `lvsd serve` (release build) under AGENTS agents
# long-polling and WRITERS writers committing for SECONDS, run twice on a
# fresh database each: a baseline, then the same with hostile clients
# (1,000 silent connections to the gRPC port, reopened as soon as closed,
# and 8 requests of ~26 MB specs of 1.2 million tiny services in flight at
# all times). The driver is bench/soak.py (Python standard library).
#
#   bench/soak.sh [--no-build] [SECONDS] [AGENTS] [WRITERS]   (60 600 4)
#
# LVSD_BIN=path runs another build (with --no-build), e.g. a debug one.
#
# Prints per run: p50/p99 of GET /healthz and of commits, the server's peak
# RSS, revisions acknowledged (201) vs present afterwards (lost must be 0),
# then the hostile run's p99s as multiples of the baseline's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=1
if [ "${1:-}" = "--no-build" ]; then
    build=0
    shift
fi
seconds=${1:-60}
agents=${2:-600}
writers=${3:-4}
if [ "$build" = 1 ]; then
    cargo build --release --bin lvsd
fi
bin=${LVSD_BIN:-$root/target/release/lvsd}
# Agents, hostile connections and the server: more descriptors than the usual 1024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

run() {
    local mode=$1 dir=$work/$1
    mkdir -p "$dir"
    # Every client here comes from 127.0.0.1: the per-client cap is raised
    # to the overall one, which holds agents, prober, writers and hostiles.
    RUST_LOG=warn "$bin" serve --init --db "$dir/lvsd.db" --http 127.0.0.1:0 --grpc 127.0.0.1:0 \
        --max-connections 4096 --max-connections-per-client 4096 >"$dir/out" 2>"$dir/log" &
    server=$!
    local api= grpc=
    for _ in $(seq 100); do
        api=$(sed -n 's/^lvsd: REST API on //p' "$dir/out")
        grpc=$(sed -n 's/^lvsd: gRPC API on //p' "$dir/out")
        [ -n "$api" ] && [ -n "$grpc" ] && break
        sleep 0.1
    done
    [ -n "$api" ] || { cat "$dir/log"; echo "lvsd serve did not start" >&2; exit 1; }
    local hostile=
    [ "$mode" = hostile ] && hostile=--hostile
    python3 "$root/bench/soak.py" --api "$api" --grpc "$grpc" --pid "$server" \
        --seconds "$seconds" --agents "$agents" --writers "$writers" $hostile >"$dir/result.json"
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=
    cat "$dir/result.json"
}

echo "soak: ${seconds}s, $agents long-polling agents, $writers writers, $(nproc) cores"
run baseline
run hostile
python3 - "$work/baseline/result.json" "$work/hostile/result.json" <<'PY'
import json, sys
base, hostile = (json.load(open(p)) for p in sys.argv[1:3])
for key in ("healthz_p99_ms", "commit_p99_ms"):
    print(f"{key}: baseline {base[key]}, hostile {hostile[key]} ({float(hostile[key]) / float(base[key]):.2f}x)")
for run in (base, hostile):
    print(f"{run['mode']}: peak RSS {run['peak_rss_mib']} MiB, acknowledged {run['commits_acknowledged']}, "
          f"present {run['revisions_present']}, lost {run['acknowledged_lost']}")
PY
