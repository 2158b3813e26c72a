#!/usr/bin/env bash
# Benchmark: the REST API's commit rates and read latencies on PostgreSQL,
# beside SQLite's in the same run (benches/api.rs). Starts a throwaway
# PostgreSQL (scripts/postgres-test.sh: Debian's postgresql package), stopped
# and deleted when this script ends.
#
#   bench/postgres.sh [-- --commits N --reads N --services N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Run directly, not in $(...): the server lives as long as its parent does.
started=$(mktemp)
trap 'rm -f "$started"' EXIT
scripts/postgres-test.sh >"$started"
admin=$(sed -n 's/^LVSD_TEST_POSTGRES=//p' "$started")
if [ "${1:-}" = "--" ]; then shift; fi
cargo bench --bench api -- --postgres "$admin" "$@"
