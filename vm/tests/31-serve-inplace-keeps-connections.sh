#!/bin/sh
# An in-place edit keeps established connections: a client holds a TCP
# connection through the director to an echo server; lvsd changes the
# service's scheduler and the real servers' weights (SET_SERVICE/SET_DEST,
# no delete and add), and `ipvsadm -Lnc` still lists the connection, which
# still carries data both ways.
# vm-timeout: 240
set -e
. /vm/lib.sh

step "build lab_nat 2 with echo servers on :9000"
lab_nat 2
for r in $RS_NAMES; do
    "$IP" netns exec "$r" busybox nc -ll -p 9000 -e cat &
    LAB_PIDS="$LAB_PIDS $!"
done
lvsd_start --reconcile-interval 5s
api_post /v1/clusters '{"name":"web"}' >/dev/null

spec() {
    printf '{"message": "%s", "spec": {"services": [{"id": "tcp:%s:9000", "scheduler": "%s", "servers": [
      {"address": "%s", "forwarding": "nat", "weight": %s},
      {"address": "%s", "forwarding": "nat", "weight": %s}]}]}}' "$1" "$VIP" "$2" "$RS1" "$3" "$RS2" "$4"
}
api_post /v1/clusters/web/revisions "$(spec "echo, rr" rr 1 1)" >/dev/null
wait_applied 1

step "the client opens a connection and keeps it"
rm -f /tmp/c.in /tmp/c.out
mkfifo /tmp/c.in
"$IP" netns exec client sh -c "busybox nc $VIP 9000 </tmp/c.in >/tmp/c.out" &
CLIENT_PID=$!
exec 3>/tmp/c.in
echo "before the edit" >&3
wait_until 10 grep -q "before the edit" /tmp/c.out || fail "no echo through the director"
conn=$(ipvsadm -Lnc | grep "$CLIENT_IP" | grep ":9000" | grep ESTABLISHED)
info "$conn"
assert_ne "" "$conn" "ipvsadm -Lnc lists the connection"
client_port=$(echo "$conn" | awk '{print $4}')
rs=$(echo "$conn" | awk '{print $6}')

step "commit: scheduler rr -> wrr, weights 1,1 -> 5,2"
api_post /v1/clusters/web/revisions "$(spec "wrr 5:2" wrr 5 2)" >/dev/null
wait_applied 2
d=$(api_get /v1/clusters/web/directors/d1)
info "$d"
assert_contains "$d" "~ service tcp $VIP:9000: scheduler rr -> wrr" "the scheduler changes in place"
assert_contains "$d" "~ real server $RS1:9000 of tcp $VIP:9000: weight 1 -> 5" "weights change in place"
assert_not_contains "$d" '"- ' "nothing is deleted"
assert_not_contains "$d" "+ service" "nothing is added"
assert_contains "$(ipvsadm -Sn)" "-A -t $VIP:9000 -s wrr" "the kernel runs wrr"

step "the connection is still there, and still carries data"
after=$(ipvsadm -Lnc | grep "$client_port" | grep ESTABLISHED || true)
info "$after"
assert_contains "$after" "$rs" "ipvsadm -Lnc still lists it, to the same real server"
echo "after the edit" >&3
wait_until 10 grep -q "after the edit" /tmp/c.out || fail "the held connection no longer carries data"
pass "the held connection still echoes"
exec 3>&-
kill "$CLIENT_PID" 2>/dev/null || true
lvsd_stop
step "done"
