#!/bin/sh
# `lvsd drain --wait` through `lvsd serve --apply-local` on the NAT lab: a
# client holds a TCP connection to one real server; a revision removes that
# server with drains on. The held connection keeps working during the drain,
# `lvsd drain --wait` follows it and returns only once the connection has
# ended and the director removed the server (ipvsadm as the witness). A UDP
# real server leaving with drains on is deleted at once, and its client's
# datagrams reach the other real server.
# vm-timeout: 300
set -e
. /vm/lib.sh

step "build lab_nat 2 with line servers on :9000"
lab_nat 2
# Each real server echoes lines with its name. After "stop" it reads no more,
# so that killing it (pid in held-rsN.pid) resets the connection: a reset
# leaves IPVS's entry in CLOSE for 10 s, a clean close in TIME_WAIT for 2 min.
for r in $RS_NAMES; do
    cat >"$LAB_DIR/serve-$r" <<EOF2
#!/bin/sh
echo \$\$ >"$LAB_DIR/held-$r.pid"
while read -r line; do
    [ "\$line" = stop ] && exec sleep 600
    echo "$r \$line"
done
EOF2
    chmod +x "$LAB_DIR/serve-$r"
    "$IP" netns exec "$r" busybox nc -ll -p 9000 -e "$LAB_DIR/serve-$r" &
    LAB_PIDS="$LAB_PIDS $!"
done
lvsd_start --reconcile-interval 3s
export LVSD_SERVER=$LVSD_API LVSD_CLUSTER=web
lvsd cluster create web >/dev/null
lvsd settings set --drain on --drain-timeout 300 >/dev/null

spec() {
    _servers=
    for _ip in "$@"; do
        _servers="$_servers${_servers:+,}{\"address\": \"$_ip\", \"forwarding\": \"nat\"}"
    done
    printf '{"message": "%s servers", "spec": {"services": [{"id": "tcp:%s:9000", "scheduler": "rr", "servers": [%s]}]}}' \
        "$#" "$VIP" "$_servers"
}
api_post /v1/clusters/web/revisions "$(spec "$RS1" "$RS2")" >/dev/null
wait_applied 1
assert_eq "no real server is draining" "$(lvsd drain)" "lvsd drain: nothing to drain yet"

step "a held connection"
mkfifo /tmp/c.in
"$IP" netns exec client busybox nc "$VIP" 9000 </tmp/c.in >/tmp/c.out &
CLIENT=$!
exec 3>/tmp/c.in
echo ping1 >&3
wait_until 10 grep -q ping1 /tmp/c.out || fail "no answer through the director"
HELD=$(awk '{ print $1; exit }' /tmp/c.out)
HELD_IP=$(eval echo "\$RS${HELD#rs}")
REST=$RS1
[ "$REST" != "$HELD_IP" ] || REST=$RS2
info "held to $HELD ($HELD_IP)"

step "a revision without $HELD: it drains, the connection keeps working"
api_post /v1/clusters/web/revisions "$(spec "$REST")" >/dev/null
wait_applied 2
dest() { ipvsadm -Ln -t "$VIP:9000" | awk -v a="$1:9000" '$1 == "->" && $2 == a { print $4, $5 }'; }
assert_eq "0 1" "$(dest "$HELD_IP")" "ipvsadm: $HELD_IP at weight 0 with its active connection"
lvsd drain --wait --real-server "$HELD_IP:9000" >/tmp/drain.out 2>&1 &
DRAIN=$!
echo ping2 >&3
wait_until 10 grep -q "$HELD ping2" /tmp/c.out || fail "the held connection stopped working: $(cat /tmp/c.out)"
pass "the held connection still answers during the drain"
wait_until 30 grep -q "d1: $HELD_IP:9000 of tcp:$VIP:9000: 1 active" /tmp/drain.out \
    || fail "lvsd drain --wait does not show the drain: $(cat /tmp/drain.out)"
pass "lvsd drain --wait shows the drain and its active connection"
sleep 3
kill -0 "$DRAIN" 2>/dev/null || fail "lvsd drain --wait returned while the connection is open: $(cat /tmp/drain.out)"
pass "lvsd drain --wait is still waiting"

step "the connection ends: lvsd drain --wait returns, the server is gone"
echo stop >&3
echo unread >&3
sleep 0.5
kill "$(cat "$LAB_DIR/held-$HELD.pid")"
exec 3>&-
ended() { ! kill -0 "$DRAIN" 2>/dev/null; }
t0=$(now)
wait_until 60 ended || fail "lvsd drain --wait did not return: $(cat /tmp/drain.out); $(dest "$HELD_IP")"
wait "$DRAIN" || fail "lvsd drain --wait failed: $(cat /tmp/drain.out)"
pass "lvsd drain --wait returned $(elapsed "$t0") s after the connection ended"
assert_contains "$(cat /tmp/drain.out)" "drains over" "it says so"
assert_eq "" "$(dest "$HELD_IP")" "ipvsadm: $HELD_IP is removed"
kill "$CLIENT" 2>/dev/null || true

step "drains on, a UDP real server leaves: deleted at once, its client moves"
for r in $RS_NAMES; do
    : >"$LAB_DIR/udp-$r"
    "$IP" netns exec "$r" "$SOCAT" -u UDP4-RECV:5353 "OPEN:$LAB_DIR/udp-$r,append" &
    LAB_PIDS="$LAB_PIDS $!"
done
udp_spec() {
    _servers=
    for _ip in "$@"; do
        _servers="$_servers${_servers:+,}{\"address\": \"$_ip\", \"forwarding\": \"nat\"}"
    done
    printf '{"message": "udp", "spec": {"services": [{"id": "udp:%s:5353", "scheduler": "rr", "servers": [%s]},
        {"id": "tcp:%s:9000", "servers": [{"address": "%s", "forwarding": "nat"}]}]}}' "$VIP" "$_servers" "$VIP" "$REST"
}
api_post /v1/clusters/web/revisions "$(udp_spec "$RS1" "$RS2")" >/dev/null
wait_applied 3
"$IP" netns exec client sh -c "while :; do echo tick; sleep 0.1; done" \
    | "$IP" netns exec client "$SOCAT" -u - "UDP4-SENDTO:$VIP:5353,sourceport=40000" &
UDP_CLIENT=$!
size() { wc -c <"$LAB_DIR/udp-$1"; }
landed() { [ "$(size rs1)" -gt 0 ] || [ "$(size rs2)" -gt 0 ]; }
wait_until 10 landed || fail "no datagram reached a real server"
if [ "$(size rs1)" -gt 0 ]; then USED=rs1 OTHER=rs2; else USED=rs2 OTHER=rs1; fi
USED_IP=$(eval echo "\$RS${USED#rs}") OTHER_IP=$(eval echo "\$RS${OTHER#rs}")
api_post /v1/clusters/web/revisions "$(udp_spec "$OTHER_IP")" >/dev/null
wait_applied 4
udp_dest() { ipvsadm -Ln -u "$VIP:5353" | awk -v a="$1:5353" '$1 == "->" && $2 == a'; }
assert_eq "" "$(udp_dest "$USED_IP")" "ipvsadm: $USED_IP is deleted at once, not drained"
assert_eq "no real server is draining" "$(lvsd drain)" "lvsd drain: no UDP drain"
grew() { [ "$(size "$OTHER")" -gt 0 ]; }
wait_until 10 grew || fail "the client's datagrams never reached $OTHER"
pass "the client's datagrams reach $OTHER"
kill "$UDP_CLIENT" 2>/dev/null || true
lvsd_stop
step "done"
