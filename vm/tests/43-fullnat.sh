#!/bin/sh
# FULLNAT on a mainline kernel: real servers whose default route does not
# lead back through the director are served through the VIP, because lvsd
# (`lvsd apply --host`) turns on forwarding and IPVS conntrack and
# source-NATs the forwarded packets in nftables tables of its own. The real
# servers see the director's address, not the client's. lvsd's table exists
# only while a fullnat service does, and nothing else of the ruleset moves.
set -e
. /vm/lib.sh

step "build lab_nat; the real servers' default route goes elsewhere"
lab_nat 3
for r in $RS_NAMES; do
    in_ns "$r" "$IP" route replace default via 172.25.0.254
    # A CGI that answers with the client address the real server sees.
    mkdir -p "$LAB_DIR/www/$r/cgi-bin"
    printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%%s\\n" "$REMOTE_ADDR"\n' >"$LAB_DIR/www/$r/cgi-bin/addr"
    chmod +x "$LAB_DIR/www/$r/cgi-bin/addr"
done
echo 0 >/proc/sys/net/ipv4/ip_forward
modprobe nf_tables
modprobe nft_chain_nat
modprobe nft_masq
# The administrator's own table: lvsd must not touch it.
nft -f - <<'NFT'
table inet admin {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp dport 22 counter accept
    }
}
NFT
ruleset_before=$(nft list ruleset)

spec() { # spec FORWARDING [HOST-SECTION]
    cat <<JSON
{"services": [
  {"id": "tcp:$VIP:80", "scheduler": "rr", "servers": [
    {"address": "$RS1", "forwarding": "$1"},
    {"address": "$RS2", "forwarding": "$1"},
    {"address": "$RS3", "forwarding": "$1"}]}]${2:+, \"host\": $2}}
JSON
}
spec nat '{"vip_interface": "none"}' >/tmp/nat.json
spec fullnat '{"vip_interface": "none"}' >/tmp/fullnat.json
spec fullnat '{"vip_interface": "none", "snat_address": "172.25.0.2"}' >/tmp/fullnat-snat.json
conntrack() { cat /proc/sys/net/ipv4/vs/conntrack; }
# The client address a real server saw (httpd listens on IPv6: [::ffff:A.B.C.D]).
seen_by_rs() { http_get "http://$VIP/cgi-bin/addr" | sed 's/^\[::ffff://; s/\]$//'; }

step "plain NAT cannot serve them: their replies do not come back"
out=$(lvsd apply --host --name d1 --state-dir /tmp/host /tmp/nat.json)
info "$(echo "$out" | tr '\n' ';')"
assert_eq 1 "$(cat /proc/sys/net/ipv4/ip_forward)" "nat: lvsd turned forwarding on"
assert_eq "rs1=0 rs2=0 rs3=0 fail=3" "$(count_hits 3 "http://$VIP/")" "nat: nothing served"
assert_fails nft list table ip lvsd

step "fullnat: conntrack on, lvsd's table written, all three serve"
out=$(lvsd apply --host --name d1 --state-dir /tmp/host /tmp/fullnat.json)
info "$(echo "$out" | tr '\n' ';')"
assert_contains "$out" "~ net.ipv4.vs.conntrack = 1 (was 0)" "conntrack on"
assert_contains "$out" "~ nftables table ip lvsd: 3 source NAT rule(s) for fullnat" "table written"
table=$(nft list table ip lvsd)
echo "$table"
assert_contains "$table" "ip daddr $RS1 tcp dport 80 ct original ip daddr $VIP ct original proto-dst 80 masquerade" "rs1's rule"
assert_eq "$(echo "$ruleset_before" | sed -n '/table inet admin/,/^}/p')" \
    "$(nft list table inet admin | sed 's/counter packets [0-9]* bytes [0-9]*/counter packets 0 bytes 0/')" "the admin table is untouched"
assert_eq "rs1=10 rs2=10 rs3=10" "$(count_hits 30 "http://$VIP/")" "rr split through fullnat"
seen=$(seen_by_rs)
assert_eq "$DIP" "$seen" "the real server sees the director's address (masquerade)"
assert_ne "$CLIENT_IP" "$seen" "the client address is hidden"
assert_eq "host: no changes" "$(lvsd host apply --role director --name d1 --spec /tmp/fullnat.json --state-dir /tmp/host)" "applying again changes nothing"

step "snat_address: the source is the address given"
ip addr add 172.25.0.2/24 dev br-rs
out=$(lvsd apply --host --name d1 --state-dir /tmp/host /tmp/fullnat-snat.json)
assert_contains "$(nft list table ip lvsd)" "snat to 172.25.0.2" "snat rule"
assert_eq "172.25.0.2 172.25.0.2 172.25.0.2" "$(for i in 1 2 3; do seen_by_rs; done | tr '\n' ' ' | sed 's/ $//')" "every real server sees 172.25.0.2"

step "back to nat: lvsd's table goes, conntrack is restored, the ruleset is as before"
out=$(lvsd apply --host --name d1 --state-dir /tmp/host /tmp/nat.json)
info "$(echo "$out" | tr '\n' ';')"
assert_contains "$out" "- nftables table ip lvsd" "table deleted"
assert_fails nft list table ip lvsd
assert_eq 0 "$(conntrack)" "conntrack restored"
assert_eq "$ruleset_before" "$(nft list ruleset | sed 's/counter packets [0-9]* bytes [0-9]*/counter packets 0 bytes 0/')" "nft list ruleset as before"

step "an empty spec: forwarding back to what it was"
echo '{}' | lvsd apply --host --name d1 --state-dir /tmp/host - >/dev/null
assert_eq 0 "$(cat /proc/sys/net/ipv4/ip_forward)" "ip_forward restored"
assert_eq "director: nothing added" "$(lvsd host show --state-dir /tmp/host | grep director)" "nothing left"
step "done"
