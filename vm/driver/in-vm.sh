#!/bin/sh
# Inside the VM for tests/driver.rs: runs the driver's kernel tests (the test
# binary itself, passed with --bin) against this kernel, ipvsadm as witness.
# ARGS: TEST_BINARY_NAME [libtest arguments...]
# vm-timeout: 600
set -e
. /vm/lib.sh
bin=$1
shift
command -v "$bin" >/dev/null || fail "no test binary $bin in the VM"
# Real servers need a route from the director (EINVAL in a namespace
# without any routing table).
ip route add 10.0.0.0/8 dev lo
ip -6 route add 2001:db8::/32 dev lo
step "kernel $KERNEL, schedulers: $IPVS_SCHEDULERS"
LVSD_KERNEL_TESTS=1 "$bin" --test-threads 1 --nocapture "$@" || fail "driver tests failed"
pass "driver tests"
