#!/bin/sh
# Connections across changes, with real flows through `lvsd serve
# --apply-local` on the NAT lab (docs/connection-continuity.md):
# - UDP: a client sends from ONE source port every 100 ms; a revision removes
#   the real server it uses. With lvsd's recommended settings
#   (expire_nodest_conn=1) its datagrams reach the other real server; with
#   expire_nodest_conn off (negative control) they keep going to the removed
#   one, where the director drops them.
# - conn_reuse_mode: a TCP connection from the source port of a TIME_WAIT
#   entry to a removed real server reaches a live one with 1, and gets no
#   answer with 0 (expire_nodest_conn off in both, to see this setting alone).
# - Persistence (-p): with expire_quiescent_template on (lvsd's default) a
#   returning client of a quiesced real server goes to another one; off, it
#   goes back to the quiesced one.
# vm-timeout: 400
set -e
. /vm/lib.sh

lab_nat 2
for r in $RS_NAMES; do
    : >"$LAB_DIR/udp-$r"
    "$IP" netns exec "$r" "$SOCAT" -u UDP4-RECV:5353 "OPEN:$LAB_DIR/udp-$r,append" &
    LAB_PIDS="$LAB_PIDS $!"
done
lvsd_start --reconcile-interval 3s
export LVSD_SERVER=$LVSD_API LVSD_CLUSTER=web
lvsd cluster create web >/dev/null

# srv IP WEIGHT: a NAT real server on port 80 (5353 for UDP: UDP=1).
srv() { printf '{"address": "%s", "port": %s, "forwarding": "nat", "weight": %s}' "$1" "${PORT:-80}" "$2"; }
UDP_SERVERS= P_SERVERS= R_SERVERS= IPVS='{}' REV=0
# commit MESSAGE: the spec of the variables above, committed and applied.
commit() {
    cat >/tmp/spec.json <<JSON
{"message": "$1", "spec": {"services": [
  {"id": "udp:$VIP:5353", "scheduler": "rr", "servers": [$UDP_SERVERS]},
  {"id": "tcp:$VIP:80", "scheduler": "rr", "persistence": {"timeout": 120}, "servers": [$P_SERVERS]},
  {"id": "tcp:$VIP:81", "scheduler": "rr", "servers": [$R_SERVERS]}],
  "host": {"vip_interface": "none", "ipvs_sysctls": $IPVS}}}
JSON
    api_post_file /v1/clusters/web/revisions /tmp/spec.json >/dev/null || fail "commit refused: $(cat /tmp/spec.json)"
    REV=$((REV + 1))
    wait_applied "$REV"
}
vs() { sysctl -n "net.ipv4.vs.$1"; }
vs_is() { [ "$(vs "$1")" = "$2" ]; }
size() { wc -c <"$LAB_DIR/udp-$1"; }
ip_of() { eval echo "\$RS${1#rs}"; }
other() { if [ "$1" = rs1 ]; then echo rs2; else echo rs1; fi; }
# client_udp PORT: datagrams from client port PORT every 100 ms (CLIENT_PID).
client_udp() {
    "$IP" netns exec client sh -c "i=0; while :; do i=\$((i + 1)); echo \"tick \$i\"; sleep 0.1; done" \
        | "$IP" netns exec client "$SOCAT" -u - "UDP4-SENDTO:$VIP:5353,sourceport=$1" &
    CLIENT_PID=$!
}
# (the pipeline's pid is socat's; the loop before it ends at its next write)
stop_client() { kill "$CLIENT_PID" 2>/dev/null; wait "$CLIENT_PID" 2>/dev/null || true; }
# landed BEFORE1 BEFORE2: the real server whose file grew since the sizes given.
landed() {
    if [ "$(size rs1)" -gt "$1" ]; then echo rs1; elif [ "$(size rs2)" -gt "$2" ]; then echo rs2; else return 1; fi
}
grew() { [ "$(size "$1")" -gt "$2" ]; }
entry() { ipvsadm -Lnc | awk -v c="$CLIENT_IP:$1" '$4 == c { print $1, $3, $6 }'; }

step "UDP, lvsd's recommended settings: a removed real server's client moves on"
UDP_SERVERS="$(PORT=5353 srv "$RS1" 1), $(PORT=5353 srv "$RS2" 1)"
P_SERVERS="$(srv "$RS1" 1), $(srv "$RS2" 1)"
R_SERVERS="$P_SERVERS"
commit "udp and tcp"
wait_until 10 vs_is expire_nodest_conn 1 || fail "expire_nodest_conn is $(vs expire_nodest_conn)"
pass "sysctl net.ipv4.vs.expire_nodest_conn = 1 (lvsd's recommendation)"
client_udp 40000
wait_until 10 landed 0 0 || fail "no datagram reached a real server"
A=$(landed 0 0) B=$(other "$A")
info "client port 40000 -> $A: $(entry 40000)"
UDP_SERVERS=$(PORT=5353 srv "$(ip_of "$B")" 1)
b0=$(size "$B")
commit "udp without $A"
t0=$(now)
wait_until 10 grew "$B" "$b0" || fail "the datagrams never reached $B: $(entry 40000)"
took=$(elapsed "$t0")
pass "datagrams from the same source port reach $B, ${took} s after the director applied the removal"
assert_contains "$(entry 40000)" "$(ip_of "$B"):5353" "ipvsadm -Lnc: the client's entry now goes to $B"
stop_client

step "UDP, expire_nodest_conn off (negative control): the client stays on the removed server"
IPVS='{"expire_nodest_conn": false}'
UDP_SERVERS="$(PORT=5353 srv "$RS1" 1), $(PORT=5353 srv "$RS2" 1)"
commit "udp back, expire_nodest_conn off"
wait_until 10 vs_is expire_nodest_conn 0 || fail "expire_nodest_conn is $(vs expire_nodest_conn)"
pass "sysctl net.ipv4.vs.expire_nodest_conn = 0"
s1=$(size rs1) s2=$(size rs2)
client_udp 40001
wait_until 10 landed "$s1" "$s2" || fail "no datagram reached a real server"
A=$(landed "$s1" "$s2") B=$(other "$A")
info "client port 40001 -> $A: $(entry 40001)"
UDP_SERVERS=$(PORT=5353 srv "$(ip_of "$B")" 1)
commit "udp without $A, expire_nodest_conn off"
sleep 1
a0=$(size "$A") b0=$(size "$B")
sleep 3
assert_eq "$b0" "$(size "$B")" "no datagram reached $B in 3 s"
assert_eq "$a0" "$(size "$A")" "nor the removed $A: the director drops them"
assert_contains "$(entry 40001)" "$(ip_of "$A"):5353" "ipvsadm -Lnc: the entry still goes to the removed $A"
stop_client

# ask PORT: one HTTP request to VIP:81 from client port PORT; the answering server.
ask() {
    printf 'GET / HTTP/1.0\r\n\r\n' \
        | "$IP" netns exec client timeout 4 "$SOCAT" - "TCP4:$VIP:81,sourceport=$1,reuseaddr" 2>/dev/null | tail -n1
}
time_wait() { ipvsadm -Lnc | awk -v c="$CLIENT_IP:$1" '$4 == c && $3 == "TIME_WAIT"' | grep -q .; }
# reuse MODE PORT: a connection from PORT, its server removed, a new one from PORT; prints the answer.
reuse() {
    IPVS="{\"expire_nodest_conn\": false, \"conn_reuse_mode\": $1}"
    R_SERVERS="$(srv "$RS1" 1), $(srv "$RS2" 1)"
    commit "conn_reuse_mode $1"
    wait_until 10 vs_is conn_reuse_mode "$1" || fail "conn_reuse_mode is $(vs conn_reuse_mode)"
    first=$(ask "$2")
    [ -n "$first" ] || fail "no answer through VIP:81"
    wait_until 5 time_wait "$2" || fail "no TIME_WAIT entry for port $2: $(ipvsadm -Lnc)"
    info "port $2 -> $first, entry in TIME_WAIT"
    R_SERVERS=$(srv "$(ip_of "$(other "$first")")" 1)
    commit "VIP:81 without $first"
    REUSED=$(ask "$2")
}

step "conn_reuse_mode 0 (negative control): the reused port goes to the removed server, no answer"
reuse 0 41001
assert_eq "" "$REUSED" "no answer"

step "conn_reuse_mode 1: the reused port is scheduled afresh"
reuse 1 41000
assert_eq "$(other "$first")" "$REUSED" "the new connection from port 41000 reached the live server"

step "persistence, expire_quiescent_template on (lvsd's default): a returning client goes elsewhere"
hit() { http_get "http://$VIP/"; }
IPVS='{}'
P_SERVERS="$(srv "$RS1" 1), $(srv "$RS2" 1)"
commit "persistence"
wait_until 10 vs_is expire_quiescent_template 1 || fail "expire_quiescent_template is $(vs expire_quiescent_template)"
pass "sysctl net.ipv4.vs.expire_quiescent_template = 1"
X=$(hit)
assert_eq "$X" "$(hit)" "persistent: the client returns to $X"
P_SERVERS="$(srv "$(ip_of "$X")" 0), $(srv "$(ip_of "$(other "$X")")" 1)"
commit "quiesce $X"
assert_eq "$(other "$X")" "$(hit)" "with $X quiesced the returning client goes to $(other "$X")"

step "persistence, expire_quiescent_template off (negative control): back to the quiesced server"
IPVS='{"expire_quiescent_template": false}'
P_SERVERS="$(srv "$RS1" 1), $(srv "$RS2" 1)"
commit "both, expire_quiescent_template off"
wait_until 10 vs_is expire_quiescent_template 0 || fail "expire_quiescent_template is $(vs expire_quiescent_template)"
Y=$(hit)
P_SERVERS="$(srv "$(ip_of "$Y")" 0), $(srv "$(ip_of "$(other "$Y")")" 1)"
commit "quiesce $Y, expire_quiescent_template off"
assert_eq "$Y" "$(hit)" "the returning client still goes to the quiesced $Y"
lvsd_stop
step "done"
