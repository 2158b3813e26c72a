#!/bin/sh
# Two directors, each in its own network namespace (its own IPVS table),
# run `lvsd agent --table kernel` against one `lvsd serve` in the root
# namespace. A commit reaches both tables and both report it; stopping the
# server changes nothing in them; and a director "rebooted" without the
# server (agent killed, table flushed, agent started again) gets its table
# back from the agent's cache.
# vm-timeout: 400
set -e
. /vm/lib.sh

INTERVAL=2
STATE=/tmp/agents
mkdir -p "$LVSD_DIR" "$STATE"

step "namespaces d1 and d2, each linked to the root namespace by a veth pair"
for i in 1 2; do
    ip netns add d$i
    ip link add vd$i type veth peer name eth0 netns d$i
    ip addr add 10.9.$i.1/24 dev vd$i
    ip link set vd$i up
    # lo up and a route to the real servers: the kernel refuses real servers it cannot route to.
    _ipb -n d$i <<EOF2
link set lo up
addr add 10.9.$i.2/24 dev eth0
link set eth0 up
route add 172.25.0.0/16 dev lo
EOF2
done

step "lvsd serve in the root namespace, reachable from both"
lvsd serve --init --db "$LVSD_DIR/lvsd.db" --http 0.0.0.0:7080 --grpc 127.0.0.1:7081 --allow-open \
    >>"$LVSD_DIR/stdout" 2>>"$LVSD_DIR/log" &
LVSD_PID=$!
wait_until 60 api_get /readyz || { cat "$LVSD_DIR/log" "$LVSD_DIR/stdout"; fail "lvsd serve does not answer"; }
api_post /v1/clusters '{"name":"web"}' >/dev/null

# agent_start N: the agent of director dN, in namespace dN.
agent_start() {
    ip netns exec d$1 lvsd agent --server http://10.9.$1.1:7080 --cluster web --name d$1 --table kernel \
        --state-dir "$STATE/d$1" --reconcile-interval ${INTERVAL}s --report-interval 5s \
        >>"$STATE/d$1.log" 2>&1 &
    eval "AGENT$1=\$!"
}
agent_start 1
agent_start 2

# director_has N REV: director dN reports revision REV applied, as an agent.
director_has() {
    _d=$(api_get "/v1/clusters/web/directors/d$1") || return 1
    [ "$(json_get "$_d" applied_revision)" = "$2" ] && [ "$(json_get "$_d" result)" = applied ] \
        && [ "$(json_get "$_d" mode)" = agent ]
}
wait_both() {
    for i in 1 2; do
        wait_until 60 director_has $i "$1" \
            || fail "d$i does not report revision $1: $(api_get /v1/clusters/web/directors/d$i); log: $(tail -n 20 "$STATE/d$i.log")"
    done
    pass "d1 and d2 report revision $1 applied"
}
table_of() { ip netns exec "$1" ipvsadm -Sn; }
# table_is NS FILE: the table of NS lists exactly the rules in FILE.
table_is() { table_of "$1" | cmp -s - "$2"; }

step "a commit reaches both directors"
cat >/tmp/rev1.json <<EOF2
{"message": "two directors", "spec": {"services": [{"id": "tcp:192.168.31.100:80", "scheduler": "wrr", "servers": [
  {"address": "172.25.0.31", "forwarding": "nat", "weight": 1},
  {"address": "172.25.0.32", "forwarding": "nat", "weight": 2},
  {"address": "172.25.0.33", "forwarding": "nat", "weight": 3}]},
  {"id": "udp:192.168.31.100:53", "scheduler": "rr", "servers": [{"address": "172.25.0.31", "forwarding": "nat"}]}]}}
EOF2
api_post_file /v1/clusters/web/revisions /tmp/rev1.json >/dev/null
wait_both 1
api_get /v1/clusters/web/revisions/1/export >/tmp/want1
info "$(cat /tmp/want1)"
wait_until 10 table_is d1 /tmp/want1 || fail "d1's table is not revision 1: $(table_of d1)"
assert_eq "$(table_of d1)" "$(table_of d2)" "d2's table is identical to d1's"
assert_eq "" "$(ipvsadm -Sn)" "the root namespace's table is untouched"

step "a second commit reaches both"
sed 's/"weight": 3/"weight": 7/' /tmp/rev1.json >/tmp/rev2.json
api_post_file /v1/clusters/web/revisions /tmp/rev2.json >/dev/null
wait_both 2
api_get /v1/clusters/web/revisions/2/export >/tmp/want2
wait_until 10 table_is d1 /tmp/want2 || fail "d1's table is not revision 2: $(table_of d1)"
wait_until 10 table_is d2 /tmp/want2 || fail "d2's table is not revision 2: $(table_of d2)"
assert_contains "$(table_of d2)" "-r 172.25.0.33:80 -m -w 7" "the new weight is in d2's kernel"

step "the server stops: the directors keep their tables"
kill "$LVSD_PID"
wait "$LVSD_PID" 2>/dev/null || true
LVSD_PID=
sleep $((INTERVAL * 2 + 1))
assert_eq "$(cat /tmp/want2)" "$(table_of d1)" "d1 unchanged past two reconcile intervals"
assert_eq "$(cat /tmp/want2)" "$(table_of d2)" "d2 unchanged"
wait_until 10 grep -q "server unreachable, retrying in" "$STATE/d1.log" || fail "d1 does not say the server is unreachable"
pass "d1 logs: $(grep -m1 'server unreachable, retrying in' "$STATE/d1.log" | cut -c1-200)"

step "d1 reboots without the server: agent killed, table flushed, agent started again"
# Every process of namespace d1 (the agent is its only one), whatever `ip netns exec` forked.
kill $(ip netns pids d1) 2>/dev/null || true
no_process_in_d1() { [ -z "$(ip netns pids d1)" ]; }
wait_until 20 no_process_in_d1 || fail "the agent of d1 does not stop: $(ip netns pids d1)"
ip netns exec d1 ipvsadm -C
assert_eq "" "$(table_of d1)" "d1's table is empty"
assert_ok test -s "$STATE/d1/web.json"
agent_start 1
wait_until 20 table_is d1 /tmp/want2 || fail "d1's table was not restored: $(table_of d1); log: $(tail -n 20 "$STATE/d1.log")"
pass "d1's table is revision 2 again"
wait_until 20 grep -q "restored revision 2 from cache" "$STATE/d1.log" \
    || fail "the agent does not say where the table came from: $(tail -n 20 "$STATE/d1.log")"
pass "the agent logs: restored revision 2 from cache"

step "the server comes back: both agents follow it again"
lvsd serve --init --db "$LVSD_DIR/lvsd.db" --http 0.0.0.0:7080 --grpc 127.0.0.1:7081 --allow-open \
    >>"$LVSD_DIR/stdout" 2>>"$LVSD_DIR/log" &
LVSD_PID=$!
wait_until 60 api_get /readyz || fail "lvsd serve does not answer again"
# A new commit shows both agents reconnected (they retry within 30 s, the
# longest backoff), applied it and reported.
sed 's/"weight": 7/"weight": 8/' /tmp/rev2.json >/tmp/rev3.json
api_post_file /v1/clusters/web/revisions /tmp/rev3.json >/dev/null
for i in 1 2; do
    wait_until 45 director_has $i 3 || fail "d$i does not report revision 3: $(api_get /v1/clusters/web/directors/d$i)"
done
pass "d1 and d2 follow the restarted server: revision 3 applied and reported"
assert_contains "$(table_of d1)" "-r 172.25.0.33:80 -m -w 8" "in d1's kernel"

kill $(ip netns pids d1) $(ip netns pids d2) "$LVSD_PID" 2>/dev/null || true
wait 2>/dev/null || true
step "done"
