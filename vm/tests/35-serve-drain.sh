#!/bin/sh
# Drains through `lvsd serve --apply-local` on the NAT lab, with real
# connections. Drains are switched on with the client CLI (`lvsd settings
# set`). A client holds a TCP connection through the VIP to one real server;
# a commit without that server leaves it in the kernel at weight 0 with its
# connection, new connections go to the others, and the directors view lists
# the drain. When the connection ends the server goes. A second drain, with a
# short drain timeout, ends at its deadline with the connection still open.
# A third outlives a restart of lvsd: the restarted server still knows it,
# with the same deadline, and ends it.
# vm-timeout: 480
set -e
. /vm/lib.sh

step "build lab_nat 3 with line servers on :9000"
lab_nat 3
# Each real server answers its name to a line. To `hold` it keeps the
# connection open without reading more, so that killing it (its pid in
# held-rsN.pid) resets the connection: a reset leaves IPVS's entry in CLOSE
# for 10 s, where a clean close would keep it in TIME_WAIT for 2 minutes.
for r in $RS_NAMES; do
    cat >"$LAB_DIR/serve-$r" <<EOF
#!/bin/sh
read -r line
echo $r
if [ "\$line" = hold ]; then
    echo \$\$ >"$LAB_DIR/held-$r.pid"
    exec sleep 600
fi
EOF
    chmod +x "$LAB_DIR/serve-$r"
    "$IP" netns exec "$r" busybox nc -ll -p 9000 -e "$LAB_DIR/serve-$r" &
    LAB_PIDS="$LAB_PIDS $!"
done
lvsd_start --reconcile-interval 5s
export LVSD_SERVER=$LVSD_API LVSD_CLUSTER=web
lvsd cluster create web >/dev/null

step "drains on, with the client CLI"
out=$(lvsd settings set --drain on --drain-timeout 300)
info "$out"
assert_contains "$out" "drain:         on" "lvsd settings set switched drains on"
assert_contains "$(api_get /v1/clusters/web/settings)" '"drain":true' "the server has it"

# spec MESSAGE RS_IP...: a commit of tcp VIP:9000 (rr) with these real servers.
spec() {
    _msg=$1
    shift
    _servers=
    for _ip in "$@"; do
        _servers="$_servers${_servers:+,}{\"address\": \"$_ip\", \"forwarding\": \"nat\", \"weight\": 1}"
    done
    printf '{"message": "%s", "spec": {"services": [{"id": "tcp:%s:9000", "scheduler": "rr", "servers": [%s]}]}}' \
        "$_msg" "$VIP" "$_servers"
}
# ask N: N new connections through the VIP, one line each; prints the names
# that answered. They end cleanly, so each stays in the real server's
# inactive connections (TIME_WAIT) for 2 minutes: ask only while the
# server to drain next has none.
ask() {
    _i=0
    while [ "$_i" -lt "$1" ]; do
        _i=$((_i + 1))
        echo ping | "$IP" netns exec client timeout 5 busybox nc "$VIP" 9000 || echo fail
    done | sort | uniq -c | awk '{ printf "%s%s=%s", sep, $2, $1; sep = " " }'
}
# hold N: client connection N held open through the VIP; sets HELD (the real
# server's name), HELD_IP and HELD_PID (the client's nc).
hold() {
    rm -f "/tmp/c$1.in" "/tmp/c$1.out"
    mkfifo "/tmp/c$1.in"
    "$IP" netns exec client busybox nc "$VIP" 9000 <"/tmp/c$1.in" >"/tmp/c$1.out" &
    HELD_PID=$!
    eval "exec $(($1 + 2))>/tmp/c$1.in"
    echo hold >"/tmp/c$1.in"
    wait_until 10 grep -q rs "/tmp/c$1.out" || fail "no answer through the director"
    HELD=$(head -n1 "/tmp/c$1.out")
    HELD_IP=$(eval echo "\$RS${HELD#rs}")
    # Unread by the server: closing it then resets the connection.
    echo more >"/tmp/c$1.in"
    info "connection $1 held to $HELD ($HELD_IP)"
}
# dest ADDR: "weight activeconns" of real server ADDR:9000 in the kernel, empty when absent.
dest() { ipvsadm -Ln -t "$VIP:9000" | awk -v a="$1:9000" '$1 == "->" && $2 == a { print $4, $5 }'; }
director() { api_get /v1/clusters/web/directors/d1; }
gone() { [ -z "$(dest "$1")" ]; }
# draining ADDR: the directors view lists a drain of ADDR:9000.
draining() { director | grep -o '"draining":\[[^]]*\]' | grep -q "\"server\":\"$1:9000\""; }
not_draining() { ! draining "$1"; }
ended() { ! kill -0 "$1" 2>/dev/null; }

api_post /v1/clusters/web/revisions "$(spec "three servers" "$RS1" "$RS2" "$RS3")" >/dev/null
wait_applied 1

step "a held connection, then a commit without its real server: it drains"
hold 1
FIRST=$HELD_IP FIRST_NAME=$HELD
others=
for ip in $RS_IPS; do [ "$ip" = "$FIRST" ] || others="$others $ip"; done
api_post /v1/clusters/web/revisions "$(spec "without $FIRST_NAME" $others)" >/dev/null
wait_applied 2
ipvsadm -Ln
assert_eq "0 1" "$(dest "$FIRST")" "ipvsadm -Ln: $FIRST at weight 0 with its active connection"
asked=$(ask 6)
assert_not_contains "$asked" "$FIRST_NAME" "new connections avoid the draining server ($asked)"
assert_not_contains "$asked" "fail" "and all succeed"
draining "$FIRST" || fail "the directors view does not list the drain: $(director)"
pass "the directors view lists the drain of $FIRST:9000"
assert_contains "$(lvsd directors d1)" "draining:   $FIRST:9000" "so does lvsd directors d1"
# The counters, read on a netlink socket of their own, show it too.
counted() { api_get /v1/clusters/web/counters | grep -q "\"server\":\"$1:9000\",\"weight\":0,\"active_conns\":1"; }
wait_until 10 counted "$FIRST" || fail "the counters do not show $FIRST at weight 0 with 1 connection: $(api_get /v1/clusters/web/counters)"
pass "GET /counters: $FIRST at weight 0 with its connection"

step "the connection ends: the server is removed"
kill "$(cat "$LAB_DIR/held-$FIRST_NAME.pid")"
wait_until 10 ended "$HELD_PID" || fail "the held connection did not end"
wait_until 40 gone "$FIRST" || fail "$FIRST is still in the kernel: $(dest "$FIRST"); $(director)"
pass "$FIRST left the kernel once its connection ended"
wait_until 10 not_draining "$FIRST" || fail "the drain is still listed: $(director)"
pass "the drain is over"
assert_eq "" "$(ipvsadm -Ln -t "$VIP:9000" | awk '$1 == "->" && $4 == 0')" "no real server is left at weight 0"

step "a drain with a short timeout ends at its deadline, the connection still open"
lvsd settings set --drain-timeout 8 >/dev/null
hold 2
SECOND=$HELD_IP SECOND_NAME=$HELD SECOND_PID=$HELD_PID
rest=
for ip in $others; do [ "$ip" = "$SECOND" ] || rest="$rest $ip"; done
api_post /v1/clusters/web/revisions "$(spec "without $SECOND_NAME" $rest)" >/dev/null
wait_applied 3
assert_eq "0 1" "$(dest "$SECOND")" "$SECOND drains with its connection"
d=$(director)
deadline=$(printf '%s' "$d" | grep -o "\"server\":\"$SECOND:9000\"[^}]*" | grep -o '"deadline":"[^"]*"')
info "drain of $SECOND: $deadline"
wait_until 40 gone "$SECOND" || fail "$SECOND outlived its drain timeout: $(dest "$SECOND"); $(director)"
kill -0 "$SECOND_PID" || fail "the client's connection ended before the drain did"
kill -0 "$(cat "$LAB_DIR/held-$SECOND_NAME.pid")" || fail "the server's end of the connection ended"
pass "$SECOND was removed at the deadline with its connection still open"
kill "$(cat "$LAB_DIR/held-$SECOND_NAME.pid")" "$SECOND_PID" 2>/dev/null || true

step "a drain outlives a restart of lvsd"
lvsd settings set --drain-timeout 25 >/dev/null
api_post /v1/clusters/web/revisions "$(spec "three again" "$RS1" "$RS2" "$RS3")" >/dev/null
wait_applied 4
hold 3
THIRD=$HELD_IP THIRD_NAME=$HELD
rest=
for ip in $RS_IPS; do [ "$ip" = "$THIRD" ] || rest="$rest $ip"; done
api_post /v1/clusters/web/revisions "$(spec "without $THIRD_NAME" $rest)" >/dev/null
wait_applied 5
assert_eq "0 1" "$(dest "$THIRD")" "$THIRD drains with its connection"
before=$(director | grep -o "\"server\":\"$THIRD:9000\"[^}]*" | grep -o '"deadline":"[^"]*"')
assert_ne "" "$before" "the directors view gives the drain's deadline"
lvsd_stop
assert_eq "0 1" "$(dest "$THIRD")" "stopping lvsd leaves the kernel as it was"
lvsd_start --reconcile-interval 5s
draining "$THIRD" || fail "the restarted server lost the drain: $(director)"
after=$(director | grep -o "\"server\":\"$THIRD:9000\"[^}]*" | grep -o '"deadline":"[^"]*"')
assert_eq "$before" "$after" "the restarted server keeps the drain and its deadline"
wait_until 60 gone "$THIRD" || fail "$THIRD stays at weight 0 after the restart: $(dest "$THIRD"); $(director)"
pass "the drain ended after the restart"
wait_until 10 not_draining "$THIRD" || fail "the drain is still listed: $(director)"
assert_eq "" "$(ipvsadm -Ln -t "$VIP:9000" | awk '$1 == "->" && $4 == 0')" "no real server is left at weight 0"
kill "$(cat "$LAB_DIR/held-$THIRD_NAME.pid")" 2>/dev/null || true
lvsd_stop
step "done"
