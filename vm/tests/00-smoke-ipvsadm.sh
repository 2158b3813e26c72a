#!/bin/sh
# Smoke test of the VM harness: IPVS is there and ipvsadm drives it.
set -e
. /vm/lib.sh

step "kernel $KERNEL; IPVS schedulers: $IPVS_SCHEDULERS"
assert_contains " $IPVS_SCHEDULERS " " wrr " "wrr scheduler in the image"
assert_contains "$(cat /proc/net/ip_vs 2>&1)" "IP Virtual Server version" "ip_vs loaded"

# Adding a real server fails with EINVAL unless the director has a route to it.
ip route add 10.0.0.0/8 dev lo

step "add a tcp service with wrr and two real servers"
ipvsadm -A -t 10.1.0.1:80 -s wrr
ipvsadm -a -t 10.1.0.1:80 -r 10.2.0.1:80 -m -w 1
ipvsadm -a -t 10.1.0.1:80 -r 10.2.0.2:8080 -m -w 3

saved=$(ipvsadm -Sn | sort)
info "ipvsadm -Sn:"
echo "$saved"
expected=$(printf '%s\n' \
    "-A -t 10.1.0.1:80 -s wrr" \
    "-a -t 10.1.0.1:80 -r 10.2.0.1:80 -m -w 1" \
    "-a -t 10.1.0.1:80 -r 10.2.0.2:8080 -m -w 3" | sort)
assert_eq "$expected" "$saved" "ipvsadm -Sn shows the service and both real servers"

step "ipvsadm -C clears the table"
ipvsadm -C
assert_eq "" "$(ipvsadm -Sn)" "table empty after ipvsadm -C"

step "done"
