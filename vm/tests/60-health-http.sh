#!/bin/sh
# HTTP health checks in the NAT lab, run by `lvsd serve --apply-local`: the
# HTTP server of one real server stops; after `fall` failed checks its weight
# is 0 in the kernel and no new request reaches it while the others take the
# load; it starts again and after `rise` good checks it is back at its
# weight. The revision never changes, the drift check (every 2 s) does not
# undo health, and each transition is in the audit log.
# vm-timeout: 300
set -e
. /vm/lib.sh

INTERVAL_MS=1000 FALL=2 RISE=2
step "build lab_nat, lvsd serve --apply-local --reconcile-interval 2s"
lab_nat 3
lvsd_start --reconcile-interval 2s --counters-interval 1s
api_post /v1/clusters '{"name":"web"}' >/dev/null
cat >/tmp/spec.json <<EOF2
{"message": "http checks", "spec": {"services": [{"id": "tcp:$VIP:80", "scheduler": "wrr",
  "health_check": {"type": "http", "path": "/", "expect": "rs", "interval_ms": $INTERVAL_MS,
                   "timeout_ms": 800, "rise": $RISE, "fall": $FALL},
  "servers": [
    {"address": "$RS1", "forwarding": "nat", "weight": 1},
    {"address": "$RS2", "forwarding": "nat", "weight": 2},
    {"address": "$RS3", "forwarding": "nat", "weight": 3}]}]}}
EOF2
api_post_file /v1/clusters/web/revisions /tmp/spec.json >/dev/null
wait_applied 1

weight_of() { ipvsadm -Ln | awk -v a="$1" '$2 == a { print $4; found=1 } END { if (!found) print "absent" }'; }
weight_is() { [ "$(weight_of "$1")" = "$2" ]; }
health_has() { api_get /v1/clusters/web/health | grep -q "$1"; }

step "every real server is checked and healthy"
wait_until 10 health_has '"healthy_servers":3' || fail "not all healthy: $(api_get /v1/clusters/web/health)"
health=$(api_get /v1/clusters/web/health)
info "$health"
assert_contains "$health" '"director":"d1"' "the local director reports health"
assert_contains "$health" '"check":"http"' "the servers are checked over http"
assert_contains "$health" '"degraded":false' "the service is not degraded"
assert_eq "rs1=10 rs2=20 rs3=30" "$(count_hits 60 "http://$VIP/")" "wrr 1:2:3 with every server healthy"

step "stop the HTTP server of rs2"
rs2_pid=$(echo $LAB_PIDS | cut -d' ' -f2)
kill "$rs2_pid"
wait "$rs2_pid" 2>/dev/null || true
t0=$(now)
wait_until 10 weight_is "$RS2:80" 0 || fail "rs2 not quiesced: $(ipvsadm -Ln)"
info "rs2 at weight 0 after $(elapsed "$t0") s (interval ${INTERVAL_MS} ms x fall $FALL, plus where its checks fall in the interval)"
pass "rs2 is at weight 0 in ipvsadm -Ln"
assert_eq 1 "$(weight_of "$RS1:80")" "rs1 keeps its weight"
assert_eq 3 "$(weight_of "$RS3:80")" "rs3 keeps its weight"
hits=$(count_hits 40 "http://$VIP/")
info "$hits"
assert_eq "rs1=10 rs2=0 rs3=30" "$hits" "no new request reaches rs2; rs1 and rs3 take the load 1:3"

step "the API says why; the revision and the drift check leave health alone"
health=$(api_get /v1/clusters/web/health)
info "$health"
assert_contains "$health" '"healthy_servers":2' "two healthy servers"
assert_contains "$health" "\"server\":\"$RS2:80\",\"check\":\"http\",\"healthy\":false,\"effective_weight\":0" "rs2 down at weight 0"
assert_contains "$health" '"failing_since":"' "since when it fails"
assert_contains "$health" "http://$RS2:80/" "the last error names the request"
sleep 5
assert_eq 0 "$(weight_of "$RS2:80")" "two drift checks later rs2 is still at 0"
assert_not_contains "$(api_get '/v1/audit?action=director.drift')" '"action"' "no drift was found"
revisions=$(api_get /v1/clusters/web/revisions)
assert_not_contains "$revisions" '"number":2' "health made no revision"
applies=$(api_get '/v1/audit?action=director.apply')
assert_contains "$applies" '"cause":"health"' "the director applied the effective spec for health"

step "start the HTTP server of rs2 again"
"$IP" netns exec rs2 busybox httpd -f -p 80 -h "$LAB_DIR/www/rs2" &
LAB_PIDS="$LAB_PIDS $!"
t0=$(now)
wait_until 10 weight_is "$RS2:80" 2 || fail "rs2 not back: $(ipvsadm -Ln)"
info "rs2 back at weight 2 after $(elapsed "$t0") s (rise $RISE)"
pass "rs2 is back at its weight 2"
assert_eq "rs1=10 rs2=20 rs3=30" "$(count_hits 60 "http://$VIP/")" "wrr 1:2:3 again"

step "every transition is in the audit log"
down=$(api_get '/v1/audit?action=health.down')
info "$down"
assert_contains "$down" "\"server\":\"$RS2:80\"" "health.down names the server"
assert_contains "$down" "\"service\":\"tcp:$VIP:80\"" "and the service"
assert_contains "$down" '"reason":"' "and the reason"
assert_eq 1 "$(printf '%s' "$down" | grep -o '"action":"health.down"' | wc -l)" "one server went down once"
up=$(api_get '/v1/audit?action=health.up')
assert_contains "$up" "\"server\":\"$RS2:80\"" "health.up names the server"
assert_eq 1 "$(printf '%s' "$up" | grep -o '"action":"health.up"' | wc -l)" "and it came back once"
lvsd health --server "$LVSD_API" --cluster web >/tmp/health.txt
info "$(cat /tmp/health.txt)"
assert_contains "$(cat /tmp/health.txt)" "$RS2:80" "lvsd health lists the servers"
lvsd_stop
step "done"
