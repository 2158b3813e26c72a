#!/bin/sh
# The health checker's cost: one process (a HealthMonitor) checking 1,000
# real servers every second for 30 s, half over HTTP and half over TCP,
# against listeners on 127.0.0.1 in another process; then the same for 10
# servers as a baseline. Prints CPU time (user + sys from /proc), peak RSS
# (VmHWM), checks per second achieved, and servers still failing (0 expected).
#
#   bench/health.sh [SECS]      (release build of examples/health_bench)
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-30}
cargo build --release --example health_bench
BIN=target/release/examples/health_bench
CLK_TCK=$(getconf CLK_TCK)
# The checker opens ~1,000 connections a second: make sure it may.
ulimit -n 65536 2>/dev/null || true

run() {
    n=$1 base=$2
    "$BIN" listen "$n" "$base" >/tmp/health-bench-listen.$$ &
    listener=$!
    i=0
    until grep -q listening /tmp/health-bench-listen.$$ 2>/dev/null; do
        i=$((i + 1)); [ "$i" -lt 100 ] || { echo "listener did not start"; kill "$listener"; exit 1; }
        sleep 0.1
    done
    "$BIN" check "$n" "$base" "$SECS" "$CLK_TCK"
    kill "$listener"
    wait "$listener" 2>/dev/null || true
    rm -f /tmp/health-bench-listen.$$
}

echo "== 1000 real servers, checked every second for $SECS s"
run 1000 21000
echo "== baseline: 10 real servers"
run 10 23000
