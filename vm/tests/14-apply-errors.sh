#!/bin/sh
# Refusals through the CLI: each names the object and the kernel's reason and
# exits 1. A batch whose first operation fails says which one, what took
# effect (the rest of its datagram ran) and what was never sent, and the
# table holds exactly that. Bad input never reaches the kernel. Without the
# ip_vs module lvsd says IPVS is not available.
set -e
. /vm/lib.sh
ip route add 10.0.0.0/8 dev lo

# refused EXPECTED_TEXT CMD...: CMD must exit 1 and say EXPECTED_TEXT.
refused() {
    _want=$1
    shift
    set +e
    _out=$("$@" 2>&1)
    _rc=$?
    set -e
    [ "$_rc" = 1 ] || fail "$*: exit code $_rc, expected 1; output: $_out"
    assert_contains "$_out" "$_want" "$*"
    info "$_out"
}

step "a scheduler this kernel lacks (twos arrived in 6.2)"
assert_not_contains "$(lvsd info)" "twos" "lvsd info does not offer twos"
echo '{"services": [{"id": "tcp:10.1.0.1:80", "scheduler": "twos"}]}' >/tmp/twos.json
refused "adding service tcp 10.1.0.1:80: scheduler twos is not available in this kernel" lvsd apply /tmp/twos.json
assert_eq "" "$(ipvsadm -Sn)" "nothing applied"

step "a batch of 301 operations whose first fails"
{
    echo '{"services": [{"id": "tcp:10.0.0.1:80", "scheduler": "twos"}'
    i=0
    while [ $i -lt 300 ]; do
        echo ", {\"id\": \"tcp:10.0.$((1 + i / 250)).$((i % 250 + 1)):81\", \"scheduler\": \"rr\"}"
        i=$((i + 1))
    done
    echo ']}'
} >/tmp/batch.json
set +e
out=$(lvsd apply /tmp/batch.json 2>&1)
rc=$?
set -e
info "$out"
assert_eq 1 "$rc" "exit code"
assert_contains "$out" "operation 1 of 301 failed: adding service tcp 10.0.0.1:80: scheduler twos is not available in this kernel" "names the failed operation"
applied=$(echo "$out" | sed -n 's/.*(\([0-9]*\) applied, \([0-9]*\) not sent).*/\1/p')
not_sent=$(echo "$out" | sed -n 's/.*(\([0-9]*\) applied, \([0-9]*\) not sent).*/\2/p')
[ -n "$applied" ] && [ "$not_sent" -gt 0 ] || fail "no counts of applied and not sent operations"
assert_eq 300 "$((applied + not_sent))" "applied + not sent = the 300 after the failure"
assert_eq "$applied" "$(ipvsadm -Sn | wc -l)" "the kernel holds exactly the operations reported applied"
sed 's/"twos"/"rr"/' /tmp/batch.json >/tmp/batch-fixed.json
assert_contains "$(lvsd apply /tmp/batch-fixed.json)" "applied: $((not_sent + 1)) services added" "the fixed spec adds the rest"
assert_eq 301 "$(ipvsadm -Sn | wc -l)" "all 301 services"
lvsd flush

step "a real server without a route: EINVAL in a namespace with no routing table"
ip netns add bare
echo '{"services": [{"id": "tcp:10.1.0.1:80", "scheduler": "rr", "servers": [{"address": "10.2.0.1", "forwarding": "nat"}]}]}' >/tmp/route.json
refused "adding real server 10.2.0.1:80 to tcp 10.1.0.1:80: its address must be unicast and routable from the director (is there a route to it?)" \
    in_ns bare lvsd apply /tmp/route.json
assert_eq "-A -t 10.1.0.1:80 -s rr" "$(in_ns bare ipvsadm -Sn)" "the service went in before its real server failed"
in_ns bare ip link set lo up
in_ns bare ip route add 10.0.0.0/8 dev lo
assert_contains "$(in_ns bare lvsd apply /tmp/route.json)" "1 real server added" "with a route the same spec applies"
ip netns del bare

step "a sync daemon on a missing interface"
echo '{"sync_daemons": [{"role": "backup", "interface": "nosuch0", "syncid": 1}]}' >/tmp/daemon.json
refused "starting the backup sync daemon on nosuch0: no such interface nosuch0" lvsd apply /tmp/daemon.json

step "bad input never reaches the kernel"
echo '{"services": [{"id": "tcp:10.1.0.1:80", "scheduler": "fastest"}]}' >/tmp/bad.json
refused "services[0].scheduler" lvsd apply /tmp/bad.json
echo '{"services": [{"id": "tcp:10.1.0.1:80", "servers": [{"address": "10.2.0.1", "weight": 70000}]}]}' >/tmp/bad.json
refused "services[0].servers[0].weight" lvsd apply /tmp/bad.json
printf '%s\n' "-A -t 10.1.0.1:80 -s rr" "-a -t 10.1.0.1:80 -r 10.2.0.1 -m -w notanumber" >/tmp/bad.txt
refused "line 2" lvsd apply /tmp/bad.txt
refused "reading /tmp/nosuch.json" lvsd apply /tmp/nosuch.json
assert_eq "" "$(ipvsadm -Sn)" "nothing reached the kernel"

step "no ip_vs module: IPVS is not available"
lvsd flush
for m in $(lsmod | awk '$1 ~ /^ip_vs_/ { print $1 }'); do rmmod "$m"; done
rmmod ip_vs || fail "cannot unload ip_vs"
# Looking the family up makes the kernel load ip_vs by itself (as for
# ipvsadm): hide the module files so that fails, as on a kernel without IPVS.
mount -t tmpfs none "/lib/modules/$KERNEL/kernel/net/netfilter/ipvs"
for cmd in "show" "show --json" "info" "flush" "zero" "apply /tmp/route.json"; do
    refused "IPVS is not available on this host" lvsd $cmd
done
umount "/lib/modules/$KERNEL/kernel/net/netfilter/ipvs"
assert_contains "$(lvsd info)" "IP Virtual Server version" "with the module back, the kernel loads it on demand"
step "done"
