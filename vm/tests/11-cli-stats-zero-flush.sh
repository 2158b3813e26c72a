#!/bin/sh
# lvsd's local commands on a live LVS-NAT lab, ipvsadm as the witness:
# `lvsd show --json` reads what ipvsadm set and the counters real traffic
# left; `lvsd zero` (one service, then all) and `lvsd flush` act as ipvsadm
# -Z/-C would; `lvsd info` agrees with /proc/net/ip_vs; refusals exit 1.
# Run: bash vm/run.sh --bin target/debug/lvsd vm/tests/11-cli-stats-zero-flush.sh
set -e
. /vm/lib.sh

# json_field ID FIELD: the first `"FIELD": N` after `"id": "ID"` in `lvsd show
# --json` (a service's own stats come before its servers).
json_field() {
    lvsd show --json | awk -v id="\"id\": \"$1\"" -v f="\"$2\": " '
        index($0, id) { found = 1 }
        found && index($0, f) { sub(/.*: /, ""); sub(/,$/, ""); print; exit }'
}
stat_of() { json_field "$1" "$2"; }

step "lvsd info agrees with /proc/net/ip_vs"
info_line=$(lvsd info | head -n1)
assert_eq "$(head -n1 /proc/net/ip_vs)" "$info_line" "version line"
assert_contains "$(lvsd info)" "schedulers available as modules: " "schedulers listed"

step "lab_nat, wrr 1:2:3 set by ipvsadm"
lab_nat 3
ipvsadm -A -t "$VIP:80" -s wrr
ipvsadm -a -t "$VIP:80" -r "$RS1:80" -m -w 1
ipvsadm -a -t "$VIP:80" -r "$RS2:80" -m -w 2
ipvsadm -a -t "$VIP:80" -r "$RS3:80" -m -w 3
ipvsadm -A -t "[$VIP6]:80" -s rr
for r in $RS_IPS6; do ipvsadm -a -t "[$VIP6]:80" -r "[$r]:80" -m; done

step "60 IPv4 and 15 IPv6 requests"
assert_eq "rs1=10 rs2=20 rs3=30" "$(count_hits 60 "http://$VIP/")" "wrr split"
assert_eq "rs1=5 rs2=5 rs3=5" "$(count_hits 15 "http://[$VIP6]/")" "rr split over IPv6"
stats_settled() { [ "$(stat_of "tcp:$VIP:80" conns)" = 60 ] && [ "$(stat_of "$RS3:80" conns)" = 30 ]; }
wait_until 8 stats_settled || true
sleep 2.5 # one more estimator round, so both tools read the same values

step "lvsd show --json counts what ipvsadm counts"
ipvsadm -Ln --stats --exact
for id in "tcp:$VIP:80" "$RS1:80" "$RS2:80" "$RS3:80" "tcp:[$VIP6]:80" "[$RS1_6]:80"; do
    addr=${id#tcp:}
    line=$(ipvsadm -Ln --stats --exact | awk -v a="$addr" '$1 == a || $2 == a')
    set -- $line
    shift # "->" before a real server, the protocol before a service
    assert_eq "$2 $3 $4 $5 $6" \
        "$(stat_of "$id" conns) $(stat_of "$id" inpkts) $(stat_of "$id" outpkts) $(stat_of "$id" inbytes) $(stat_of "$id" outbytes)" \
        "$id: conns inpkts outpkts inbytes outbytes"
done
assert_eq 60 "$(stat_of "tcp:$VIP:80" conns)" "service conns"
assert_eq 10 "$(stat_of "$RS1:80" conns)" "rs1 conns"
assert_eq 20 "$(stat_of "$RS2:80" conns)" "rs2 conns"
assert_eq 30 "$(stat_of "$RS3:80" conns)" "rs3 conns"
assert_eq 15 "$(stat_of "tcp:[$VIP6]:80" conns)" "IPv6 service conns"

step "lvsd zero -t VIP:80 zeroes that service only"
lvsd zero -t "$VIP:80"
assert_eq 0 "$(ipvs_conns "$VIP:80")" "ipvsadm: IPv4 service zeroed"
assert_eq 0 "$(ipvs_conns "$RS3:80")" "ipvsadm: its real servers zeroed"
assert_eq 15 "$(ipvs_conns "[$VIP6]:80")" "ipvsadm: IPv6 service untouched"
assert_eq 0 "$(stat_of "tcp:$VIP:80" conns)" "lvsd reads 0"

step "lvsd zero (all)"
lvsd zero
assert_eq 0 "$(ipvs_conns "[$VIP6]:80")" "ipvsadm: IPv6 service zeroed"

step "refusals exit 1 with the kernel's reason"
if out=$(lvsd zero -u "$VIP:53" 2>&1); then fail "zero of a missing service succeeded"; fi
assert_contains "$out" "no such service" "zero of a missing service"
if out=$(lvsd zero -f 7 -6 2>&1); then fail "zero of a missing fwmark service succeeded"; fi
assert_contains "$out" "fwmark 7 (ipv6): no such service" "names the fwmark service"

step "lvsd flush empties the table"
lvsd flush
assert_eq "" "$(ipvsadm -Sn)" "ipvsadm -Sn after lvsd flush"
assert_contains "$(lvsd show --json)" '"services": []' "lvsd show after flush"
if http_get "http://$VIP/" >/dev/null 2>&1; then fail "the VIP still answers after lvsd flush"; fi
pass "the VIP no longer answers"
step "done"
