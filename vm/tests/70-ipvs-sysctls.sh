#!/bin/sh
# IPVS's own settings (host.ipvs_sysctls) through `lvsd serve --apply-local`:
# every field the spec gives is set in the director's network namespace
# (`sysctl` as the witness), lvsd's recommended values fill the rest, a
# setting changed behind lvsd's back is put back at the next drift check,
# a later revision with recommended off restores what it no longer asks for,
# and `lvsd host clean` puts every value back as it was before lvsd.
# vm-timeout: 300
set -e
. /vm/lib.sh

FIELDS="expire_nodest_conn expire_quiescent_template conn_reuse_mode sloppy_tcp sloppy_sctp schedule_icmp ignore_tunneled conntrack nat_icmp_send snat_reroute backup_only sync_threshold sync_version sync_ports sync_sock_size"
vs() { sysctl -n "net.ipv4.vs.$1" | tr '\t' ' '; }
snapshot() { for f in $FIELDS; do echo "$f=$(vs "$f")"; done; }

step "the kernel has every setting lvsd knows"
for f in $FIELDS; do
    [ -e "/proc/sys/net/ipv4/vs/$f" ] || fail "no net.ipv4.vs.$f in kernel $KERNEL"
done
pass "net.ipv4.vs.{$(echo $FIELDS | tr ' ' ,)} exist"
before=$(snapshot)
info "kernel defaults: $(echo $before)"
assert_contains "$before" "expire_nodest_conn=0" "the kernel's default expire_nodest_conn"

INTERVAL=3
lab_nat 2
lvsd_start --reconcile-interval ${INTERVAL}s
export LVSD_SERVER=$LVSD_API LVSD_CLUSTER=web
lvsd cluster create web >/dev/null

# commit MESSAGE IPVS_SYSCTLS_JSON
commit() {
    printf '{"message": "%s", "spec": {"services": [{"id": "tcp:%s:80", "servers": [{"address": "%s", "forwarding": "nat"}, {"address": "%s", "forwarding": "nat"}]}],
      "host": {"vip_interface": "none", "ipvs_sysctls": %s}}}' "$1" "$VIP" "$RS1" "$RS2" "$2" >/tmp/spec.json
    api_post_file /v1/clusters/web/revisions /tmp/spec.json >/dev/null || fail "commit refused: $(cat /tmp/spec.json)"
}
is() { [ "$(vs "$1")" = "$2" ]; }

step "a bad value is refused with its field, and nothing is written"
printf '{"message": "bad", "spec": {"host": {"ipvs_sysctls": {"sync_ports": 6}}}}' >/tmp/bad.json
assert_fails api_post_file /v1/clusters/web/revisions /tmp/bad.json
printf '{"services": [{"id": "tcp:%s:80"}], "host": {"ipvs_sysctls": {"sync_ports": 6}}}' "$VIP" >/tmp/bad-spec.json
out=$(lvsd host apply --role director --spec /tmp/bad-spec.json 2>&1 || true)
assert_contains "$out" "host.ipvs_sysctls.sync_ports: 6 sync ports: the kernel takes a power of two from 1 to 64" "lvsd host apply names the field"
assert_eq "0" "$(vs sync_ports | grep -c 6)" "nothing was written"

step "every field given: the director sets it; lvsd's recommendations fill the rest"
commit "every field" '{"conn_reuse_mode": 3, "sloppy_tcp": true, "sloppy_sctp": true, "schedule_icmp": true,
  "ignore_tunneled": true, "conntrack": true, "nat_icmp_send": true, "snat_reroute": false, "backup_only": true,
  "sync_threshold": 2, "sync_period": 20, "sync_version": 0, "sync_ports": 2, "sync_sock_size": 65536}'
wait_applied 1
wait_until 10 is sync_sock_size 65536 || fail "not applied: $(snapshot)"
want="expire_nodest_conn=1
expire_quiescent_template=1
conn_reuse_mode=3
sloppy_tcp=1
sloppy_sctp=1
schedule_icmp=1
ignore_tunneled=1
conntrack=1
nat_icmp_send=1
snat_reroute=0
backup_only=1
sync_threshold=2 20
sync_version=0
sync_ports=2
sync_sock_size=65536"
assert_eq "$want" "$(snapshot)" "sysctl shows every value of the spec (and the recommended two)"
shown=$(lvsd host show)
info "$shown"
assert_contains "$shown" "net.ipv4.vs.expire_nodest_conn = 1 (was 0): entries of a deleted real server expire" "lvsd host show: a recommended value, with why"
assert_contains "$shown" "net.ipv4.vs.sync_threshold = 2 20 (was 3	50): host.ipvs_sysctls" "lvsd host show: a value of the spec, and the one before"
assert_contains "$(cat "$LVSD_DIR/stdout" "$LVSD_DIR/log")" "host: ~ net.ipv4.vs.sloppy_tcp = 1 (was 0)" "the server logs each change"

step "settings changed behind lvsd's back are put back at the next drift check"
sysctl -w net.ipv4.vs.sloppy_tcp=0 >/dev/null
sysctl -w net.ipv4.vs.expire_nodest_conn=0 >/dev/null
sysctl -w net.ipv4.vs.sync_threshold="3 50" >/dev/null
assert_eq "0" "$(vs sloppy_tcp)" "drifted"
t0=$(now)
wait_until $((INTERVAL * 2 + 3)) sh -c "[ \$(sysctl -n net.ipv4.vs.sloppy_tcp) = 1 ] && [ \$(sysctl -n net.ipv4.vs.expire_nodest_conn) = 1 ]" \
    || fail "not put back: $(snapshot)"
pass "put back in $(elapsed "$t0") s (drift check every ${INTERVAL} s)"
wait_until 5 is sync_threshold "2 20" || fail "sync_threshold not put back: $(vs sync_threshold)"
pass "sync_threshold put back: $(vs sync_threshold)"
assert_eq 2 "$(cat "$LVSD_DIR/stdout" "$LVSD_DIR/log" | grep -c "host: ~ net.ipv4.vs.sloppy_tcp = 1 (was 0)")" "the correction is logged, as the first setting was"
assert_contains "$(lvsd host show)" "net.ipv4.vs.sloppy_tcp = 1 (was 0)" "the record keeps the value from before lvsd"

step "recommended off, one field: the rest goes back to what it was before lvsd"
commit "only sloppy_tcp" '{"recommended": false, "sloppy_tcp": true}'
wait_applied 2
wait_until 10 is sync_sock_size 0 || fail "not restored: $(snapshot)"
now_values=$(snapshot)
assert_contains "$now_values" "sloppy_tcp=1" "the one field stays"
assert_eq "$(printf '%s\n' "$before" | grep -v sloppy_tcp)" "$(printf '%s\n' "$now_values" | grep -v sloppy_tcp)" "every other setting has its value from before lvsd"

step "lvsd host clean restores the rest"
lvsd_stop
out=$(lvsd host clean)
info "$out"
assert_contains "$out" "net.ipv4.vs.sloppy_tcp = 0 (restored)" "clean says what it restored"
assert_eq "$before" "$(snapshot)" "every IPVS setting is as before lvsd"
assert_contains "$(lvsd host show)" "director: nothing added" "nothing left to restore"
step "done"
