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
admin=$(scripts/postgres-test.sh | sed -n 's/^LVSD_TEST_POSTGRES=//p')
if [ "${1:-}" = "--" ]; then shift; fi
cargo bench --bench api -- --postgres "$admin" "$@"
