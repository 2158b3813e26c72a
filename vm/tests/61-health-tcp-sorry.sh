#!/bin/sh
# TCP health checks and a sorry server in the NAT lab: rs1's check targets a
# port nothing listens on, so rs1 goes down (and, `on_failure: remove`, out
# of the table); when rs2's HTTP server stops too, no real server is healthy
# and the sorry server (rs3) takes the traffic; rs2 back, the sorry server
# leaves.
# vm-timeout: 300
set -e
. /vm/lib.sh

step "build lab_nat, lvsd serve --apply-local"
lab_nat 3
lvsd_start --reconcile-interval 2s --counters-interval 1s
api_post /v1/clusters '{"name":"web"}' >/dev/null
cat >/tmp/spec.json <<EOF2
{"message": "tcp checks, sorry server", "spec": {"services": [{"id": "tcp:$VIP:80", "scheduler": "rr",
  "health_check": {"type": "tcp", "interval_ms": 500, "timeout_ms": 400, "rise": 2, "fall": 2},
  "sorry_server": {"address": "$RS3", "forwarding": "nat"},
  "quorum": 2,
  "servers": [
    {"address": "$RS1", "forwarding": "nat", "health_check": {"port": 81, "on_failure": "remove"}},
    {"address": "$RS2", "forwarding": "nat"}]}]}}
EOF2
api_post_file /v1/clusters/web/revisions /tmp/spec.json >/dev/null
wait_applied 1

servers() { ipvsadm -Ln | awk '$1 == "->" && $2 ~ /^[0-9]/ { printf "%s=%s ", $2, $4 }'; }
servers_are() { [ "$(servers)" = "$1" ]; }
health_has() { api_get /v1/clusters/web/health | grep -q "$1"; }

step "rs1's check finds nothing on port 81: rs1 leaves the table"
wait_until 10 servers_are "$RS2:80=1 " || fail "rs1 still in the table: $(servers)"
pass "only rs2 serves: $(servers)"
wait_until 5 health_has '"degraded":true' || fail "not degraded: $(api_get /v1/clusters/web/health)"
health=$(api_get /v1/clusters/web/health)
info "$health"
assert_contains "$health" "\"server\":\"$RS1:80\",\"check\":\"tcp\",\"healthy\":false,\"consecutive" "rs1 is down and out of the table"
assert_contains "$health" "$RS1:81" "its last error names the port it checked"
assert_contains "$health" '"degraded":true' "one healthy server is below the quorum of 2"
assert_not_contains "$health" '"sorry_server_active"' "the sorry server is not in use"
assert_eq "rs1=0 rs2=10 rs3=0" "$(count_hits 10 "http://$VIP/")" "rs2 takes everything"

step "rs2's HTTP server stops: the sorry server takes the traffic"
rs2_pid=$(echo $LAB_PIDS | cut -d' ' -f2)
kill "$rs2_pid"
wait "$rs2_pid" 2>/dev/null || true
wait_until 10 servers_are "$RS2:80=0 $RS3:80=1 " || fail "no sorry server: $(servers)"
pass "rs2 at 0, the sorry server in: $(servers)"
assert_eq "rs1=0 rs2=0 rs3=10" "$(count_hits 10 "http://$VIP/")" "the sorry server answers every request"
wait_until 5 health_has "\"sorry_server_active\":\"$RS3:80\"" || fail "$(api_get /v1/clusters/web/health)"
pass "the API says the sorry server is in use"

step "rs2 back: the sorry server leaves"
"$IP" netns exec rs2 busybox httpd -f -p 80 -h "$LAB_DIR/www/rs2" &
LAB_PIDS="$LAB_PIDS $!"
wait_until 10 servers_are "$RS2:80=1 " || fail "the sorry server stays: $(servers)"
pass "only rs2 again: $(servers)"
assert_eq "rs1=0 rs2=10 rs3=0" "$(count_hits 10 "http://$VIP/")" "rs2 takes everything again"

step "the audit log has each change"
audit=$(api_get '/v1/audit?action=health.down')
assert_contains "$audit" "\"server\":\"$RS1:80\"" "rs1 down"
assert_contains "$audit" "\"server\":\"$RS2:80\"" "rs2 down"
assert_contains "$(api_get '/v1/audit?action=health.up')" "\"server\":\"$RS2:80\"" "rs2 up"
lvsd_stop
step "done"
