#!/bin/sh
# Zeroing counters through the server (`lvsd zero --cluster web`, POST
# /v1/clusters/web/zero): `lvsd serve --apply-local` zeroes its own table at
# once (one service, then every service of the cluster), ipvsadm as the
# witness; agents get the request in what they should run.
# vm-timeout: 300
set -e
. /vm/lib.sh

step "lab_nat, lvsd serve --apply-local, a cluster with an IPv4 and an IPv6 service"
lab_nat 3
lvsd_start --reconcile-interval 5s
api_post /v1/clusters '{"name":"web"}' >/dev/null
{
    echo "-A -t $VIP:80 -s wrr"
    echo "-a -t $VIP:80 -r $RS1:80 -m -w 1"
    echo "-a -t $VIP:80 -r $RS2:80 -m -w 2"
    echo "-a -t $VIP:80 -r $RS3:80 -m -w 3"
    echo "-A -t [$VIP6]:80 -s rr"
    for r in $RS_IPS6; do echo "-a -t [$VIP6]:80 -r [$r]:80 -m -w 1"; done
} >/tmp/rules
api_post_file /v1/clusters/web/draft/import /tmp/rules text/plain >/dev/null
api_post /v1/clusters/web/revisions '{"message":"NAT lab, both families"}' >/dev/null
wait_applied 1

step "60 IPv4 and 15 IPv6 requests"
assert_eq "rs1=10 rs2=20 rs3=30" "$(count_hits 60 "http://$VIP/")" "wrr split"
assert_eq "rs1=5 rs2=5 rs3=5" "$(count_hits 15 "http://[$VIP6]/")" "rr split over IPv6"
wait_ipvs_stat "$VIP:80" conns 60 || true
wait_ipvs_stat "[$VIP6]:80" conns 15 || true
assert_eq 60 "$(ipvs_conns "$VIP:80")" "ipvsadm counts the IPv4 connections"
assert_eq 15 "$(ipvs_conns "[$VIP6]:80")" "ipvsadm counts the IPv6 connections"

step "lvsd zero --cluster web -t VIP:80: this director zeroes that service only"
out=$(lvsd zero --server "$LVSD_API" --cluster web -t "$VIP:80")
info "$out"
assert_contains "$out" "zeroing request 1 for service tcp:$VIP:80 of cluster web" "the request is numbered"
assert_contains "$out" "$LVSD_DIRECTOR (this server's own director): zeroed" "the local director zeroed at once"
assert_eq 0 "$(ipvs_conns "$VIP:80")" "ipvsadm: IPv4 service zeroed"
assert_eq 0 "$(ipvs_conns "$RS3:80")" "ipvsadm: its real servers zeroed"
assert_eq 15 "$(ipvs_conns "[$VIP6]:80")" "ipvsadm: IPv6 service untouched"

step "lvsd zero --cluster web: every service of the cluster"
lvsd zero --server "$LVSD_API" --cluster web >/dev/null
assert_eq 0 "$(ipvs_conns "[$VIP6]:80")" "ipvsadm: IPv6 service zeroed"
assert_eq "rs1=10 rs2=20 rs3=30" "$(count_hits 60 "http://$VIP/")" "traffic flows as before"

step "agents see the request; the audit log has both"
desired=$(api_get '/v1/clusters/web/desired?director=remote-1')
assert_contains "$desired" '"zero":{"seq":2}' "Desired.zero carries the latest request"
audit=$(api_get '/v1/audit?action=cluster.zero')
assert_eq 2 "$(printf '%s' "$audit" | grep -o '"action":"cluster.zero"' | wc -l)" "two requests audited"
if lvsd zero --server "$LVSD_API" --cluster web -u "$VIP:53" 2>/tmp/err; then fail "zero of a service the cluster lacks succeeded"; fi
assert_contains "$(cat /tmp/err)" "udp:$VIP:53 is not a service of cluster web" "names the service"
lvsd_stop
step "done"
