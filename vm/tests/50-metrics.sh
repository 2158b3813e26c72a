#!/bin/sh
# GET /metrics of `lvsd serve --apply-local` against real traffic: 60
# requests through the VIP of the NAT lab (wrr 1:2:3), then the scraped
# per-real-server connection counters sum to 60, each equals the hits that
# real server answered, and the weights are the kernel's.
# vm-timeout: 300
set -e
. /vm/lib.sh

# The value of `metric` for real server `server` of the lab's service.
metric() {
    api_get /metrics | grep "^$1{" | grep "service=\"tcp:$VIP:80\"" | grep "server=\"$2\"" \
        | grep -v 'direction="out"' | awk '{ print $2 }'
}

# The sum of `metric` over the real servers.
metric_sum() {
    api_get /metrics | grep "^$1{" | grep "service=\"tcp:$VIP:80\"" | awk '{ s += $2 } END { print s + 0 }'
}

_conns_are() { [ "$(metric_sum lvsd_real_server_connections_total)" = "$1" ]; }

step "build lab_nat, start lvsd serve --apply-local"
lab_nat 3
lvsd_start --counters-interval 2s

step "commit the NAT lab, wrr 1:2:3"
api_post /v1/clusters '{"name":"web"}' >/dev/null
cat >/tmp/rules <<EOF2
-A -t $VIP:80 -s wrr
-a -t $VIP:80 -r $RS1:80 -m -w 1
-a -t $VIP:80 -r $RS2:80 -m -w 2
-a -t $VIP:80 -r $RS3:80 -m -w 3
EOF2
api_post_file /v1/clusters/web/draft/import /tmp/rules text/plain >/dev/null
api_post /v1/clusters/web/revisions '{"message":"NAT lab"}' >/dev/null
wait_applied 1
scrape=$(api_get /metrics)
assert_contains "$scrape" 'lvsd_director_applied_revision{cluster="web",director="d1"} 1' "the director applied revision 1"
assert_contains "$scrape" 'lvsd_director_revision_lag{cluster="web",director="d1"} 0' "and lags by nothing"
assert_contains "$scrape" 'lvsd_commits_total{cluster="web"} 1' "one commit counted"

step "60 requests through the VIP"
hits=$(count_hits 60 "http://$VIP/")
assert_eq "rs1=10 rs2=20 rs3=30" "$hits" "wrr 1:2:3"

step "scrape /metrics once the director has read its counters again (every 2 s)"
wait_until 15 _conns_are 60 || fail "connections in /metrics: $(metric_sum lvsd_real_server_connections_total), not 60"
pass "the real servers' connection counters sum to 60"
i=1
for rs in $RS1 $RS2 $RS3; do
    answered=$(printf '%s' "$hits" | tr ' ' '\n' | grep "^rs$i=" | cut -d= -f2)
    assert_eq "$answered" "$(metric lvsd_real_server_connections_total "$rs:80")" "rs$i: connections = the hits it answered"
    assert_eq "$i" "$(metric lvsd_real_server_weight "$rs:80")" "rs$i: weight $i"
    # Closed connections stay in the table (FIN_WAIT/TIME_WAIT, 2 min) as inactive.
    conns=$(($(metric lvsd_real_server_active_connections "$rs:80") + $(metric lvsd_real_server_inactive_connections "$rs:80")))
    assert_eq "$answered" "$conns" "rs$i: active + inactive connections = the hits it answered"
    inbound=$(metric lvsd_real_server_bytes_total "$rs:80")
    [ "$inbound" -gt 0 ] || fail "rs$i: no bytes in ($inbound)"
    i=$((i + 1))
done
total=$(api_get /metrics | grep "^lvsd_virtual_service_connections_total{" | awk '{ print $2 }')
assert_eq 60 "$total" "the virtual service counted 60 connections"
lvsd_stop
step "done"
