#!/usr/bin/env bash
# Benchmark: with 10,000 services x 4 real servers loaded, how long one real
# server's weight change takes from commit to kernel through
# `lvsd serve --apply-local`, against a full `ipvsadm -R` of the same table,
# both measured in the same VM boot (TCG; absolute times vary between
# machines, the ratio is what compares).
#
#   bench/apply-weight.sh [--no-build] [SERVICES [CHANGES]]
#
# Builds the release binary (unless --no-build), boots the test VM once and
# runs bench/apply-weight.vm.sh inside; the console log is kept under
# target/vm/logs/. Defaults: 10000 services, 20 weight changes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=1
if [ "${1:-}" = "--no-build" ]; then
    build=0
    shift
fi
if [ "$build" = 1 ]; then
    cargo build --release --bin lvsd
fi
exec bash vm/run.sh --bin target/release/lvsd bench/apply-weight.vm.sh "$@"
