#!/bin/sh
# The netlink driver against the VM's kernel: tests/kernel.rs (every command
# and option both ways with ipvsadm as the witness, errno mapping, batches).
#
# Build and run (from the worktree):
#   cargo test --no-run --test kernel
#   cp "$(ls -t target/debug/deps/kernel-* | grep -v '\.d$' | head -n1)" target/debug/lvsd-kernel-tests
#   bash vm/run.sh --bin target/debug/lvsd-kernel-tests vm/tests/10-driver-kernel.sh
# vm-timeout: 600
set -e
. /vm/lib.sh

command -v lvsd-kernel-tests >/dev/null || fail "pass the test binary: --bin target/debug/lvsd-kernel-tests"
# Real servers need a route from the director (EINVAL in a namespace without
# any routing table).
ip route add 10.0.0.0/8 dev lo
ip -6 route add 2001:db8::/32 dev lo

step "kernel $KERNEL, schedulers: $IPVS_SCHEDULERS"
LVSD_KERNEL_TESTS=1 lvsd-kernel-tests --test-threads 1 --nocapture "$@" || fail "driver tests failed"
pass "driver tests"
