#!/bin/sh
# The classic LVS-NAT lab built by `lvsd apply`: wrr 1:2:3 splits real HTTP
# requests 10/20/30, counted by the responses and by `lvsd show --stats`
# (which must print what `ipvsadm -Ln --stats` prints). Then apply edits
# weights in place, is idempotent, reads ipvsadm -S text, and empties the
# table with an empty spec.
set -e
. /vm/lib.sh

step "build lab_nat"
lab_nat 3

cat >/tmp/nat.json <<JSON
{
  "services": [
    {"protocol": "tcp", "address": "$VIP", "port": 80, "scheduler": "wrr",
     "servers": [
       {"address": "$RS1", "forwarding": "nat", "weight": 1},
       {"address": "$RS2", "forwarding": "nat", "weight": 2},
       {"address": "$RS3", "forwarding": "nat", "weight": 3}
     ]},
    {"id": "tcp:[$VIP6]:80", "scheduler": "rr",
     "servers": [
       {"address": "$RS1_6", "forwarding": "nat"},
       {"address": "$RS2_6", "forwarding": "nat"},
       {"address": "$RS3_6", "forwarding": "nat"}
     ]}
  ]
}
JSON

step "lvsd apply --dry-run changes nothing"
out=$(lvsd apply --dry-run /tmp/nat.json)
info "$out"
assert_contains "$out" "would apply: 2 services added, 6 real servers added" "dry-run summary"
assert_eq "" "$(ipvsadm -Sn)" "table still empty"

step "lvsd apply builds the NAT service"
out=$(lvsd apply /tmp/nat.json)
assert_contains "$out" "applied: 2 services added, 6 real servers added (8 kernel operations)" "apply summary"
expected=$(printf '%s\n' \
    "-A -t $VIP:80 -s wrr" \
    "-a -t $VIP:80 -r $RS1:80 -m -w 1" \
    "-a -t $VIP:80 -r $RS2:80 -m -w 2" \
    "-a -t $VIP:80 -r $RS3:80 -m -w 3" \
    "-A -t [$VIP6]:80 -s rr" \
    "-a -t [$VIP6]:80 -r [$RS1_6]:80 -m -w 1" \
    "-a -t [$VIP6]:80 -r [$RS2_6]:80 -m -w 1" \
    "-a -t [$VIP6]:80 -r [$RS3_6]:80 -m -w 1")
assert_eq "$expected" "$(ipvsadm -Sn)" "ipvsadm -Sn shows what lvsd applied"
assert_eq "$(ipvsadm -Ln)" "$(lvsd show)" "lvsd show = ipvsadm -Ln"

step "60 requests split 1:2:3, 15 IPv6 requests round robin"
t0=$(now)
assert_eq "rs1=10 rs2=20 rs3=30" "$(count_hits 60 "http://$VIP/")" "wrr split by responses"
info "60 requests in $(elapsed "$t0")s"
assert_eq "rs1=5 rs2=5 rs3=5" "$(count_hits 15 "http://[$VIP6]/")" "rr split over IPv6"

step "lvsd show --stats counts them as ipvsadm does"
settled() { [ "$(ipvs_conns "$VIP:80")" = 60 ] && [ "$(ipvs_conns "[$VIP6]:80")" = 15 ]; }
wait_until 8 settled || true
sleep 2.2 # read both just after one estimator round, not across one
a=$(ipvsadm -Ln --stats --exact)
b=$(lvsd show --stats --exact)
echo "$b"
assert_eq "$a" "$b" "lvsd show --stats --exact = ipvsadm -Ln --stats --exact"
conns() { lvsd show --stats --exact | awk -v a="$1" '$2 == a { print $3; exit }'; }
assert_eq 60 "$(conns "$VIP:80")" "service: 60 connections"
assert_eq "10 20 30" "$(conns "$RS1:80") $(conns "$RS2:80") $(conns "$RS3:80")" "real servers: 10 20 30"
assert_eq 15 "$(conns "[$VIP6]:80")" "IPv6 service: 15 connections"
assert_eq "$(ipvsadm -Ln --stats)" "$(lvsd show --stats)" "--stats without --exact"
# Rates change at every estimator round (2 s): compare again if one fell between the two reads.
rates_agree() { [ "$(ipvsadm -Ln --rate --exact)" = "$(lvsd show --rate --exact)" ]; }
rates_agree || rates_agree || rates_agree || fail "--rate: lvsd and ipvsadm differ three times"
pass "--rate: lvsd show --rate --exact = ipvsadm -Ln --rate --exact"

step "applying the same spec again changes nothing"
assert_contains "$(lvsd apply /tmp/nat.json)" "applied: no changes (0 kernel operations)" "idempotent"

step "weights 3:2:1 are edited in place"
sed -e 's/"weight": 1}/"weight": 9}/; s/"weight": 3}/"weight": 1}/; s/"weight": 9}/"weight": 3}/' /tmp/nat.json >/tmp/nat2.json
out=$(lvsd apply -v /tmp/nat2.json)
info "$out"
assert_contains "$out" "applied: 2 real servers changed (2 kernel operations)" "two real servers edited"
assert_eq "rs1=30 rs2=20 rs3=10" "$(count_hits 60 "http://$VIP/")" "wrr split 3:2:1"

step "lvsd apply reads ipvsadm -S text"
ipvsadm -Sn >/tmp/saved.txt
lvsd apply /tmp/nat.json >/dev/null
assert_contains "$(lvsd apply /tmp/saved.txt)" "applied: 2 real servers changed" "back to the saved weights"
assert_eq "$(cat /tmp/saved.txt)" "$(ipvsadm -Sn)" "table equals the saved text"
assert_eq "$(cat /tmp/saved.txt)" "$(lvsd show --save)" "lvsd show --save = the saved text"

step "an empty spec empties the table (stdin)"
assert_contains "$(echo '{}' | lvsd apply -)" "2 services removed, 6 real servers removed" "empty spec"
assert_eq "" "$(ipvsadm -Sn)" "table empty"
step "done"
