#!/bin/sh
# Every option both ways, ipvsadm as the witness.
#  1. `lvsd apply` of a spec using every service and real-server option,
#     every scheduler of this kernel, timeouts and a sync daemon: ipvsadm -Sn,
#     -Ln --thresholds/--timeout/--daemon show exactly that.
#  2. ipvsadm builds a table with every option: every `lvsd show` view prints
#     what the same `ipvsadm -Ln` view prints, and `lvsd show --save` what
#     `ipvsadm -Sn` prints; saved by lvsd and applied again, it is the same table.
set -e
. /vm/lib.sh
ip route add 10.0.0.0/8 dev lo
ip -6 route add 2001:db8::/32 dev lo

views="--stats --rate --thresholds --persistent-conn --tun-info --timeout --daemon"
same_views() {
    assert_eq "$(ipvsadm -Ln)" "$(lvsd show)" "lvsd show = ipvsadm -Ln"
    for v in $views; do
        assert_eq "$(ipvsadm -Ln $v)" "$(lvsd show $v)" "lvsd show $v = ipvsadm -Ln $v"
    done
}

step "1. lvsd apply: a spec with every option"
{
    echo '{"services": ['
    i=0
    for s in $IPVS_SCHEDULERS; do
        i=$((i + 1))
        echo "{\"id\": \"tcp:10.1.1.$i:80\", \"scheduler\": \"$s\", \"servers\": [{\"address\": \"10.2.1.$i\", \"forwarding\": \"nat\"}]},"
    done
    cat <<'JSON'
{"id": "udp:10.1.0.1:53", "scheduler": "rr", "one_packet": true,
 "servers": [{"address": "10.2.0.1", "port": 5353, "forwarding": "nat", "weight": 5}]},
{"id": "sctp:10.1.0.1:3868", "scheduler": "lc",
 "servers": [{"address": "10.2.0.2", "forwarding": "dr", "weight": 0}]},
{"id": "tcp:10.1.0.2:443", "scheduler": "sh", "sched_flags": ["sh-fallback", "sh-port"],
 "persistence": {"timeout": 600, "netmask": "255.255.255.0"},
 "servers": [
   {"address": "10.2.0.3", "forwarding": "dr", "weight": 2, "upper_threshold": 1000, "lower_threshold": 800},
   {"address": "10.2.0.4", "forwarding": "tun", "weight": 3},
   {"address": "10.2.0.5", "forwarding": "tun", "tunnel": {"type": "gue", "port": 6080, "checksum": "csum"}},
   {"address": "10.2.0.6", "forwarding": "tun", "tunnel": {"type": "gue", "port": 6081, "checksum": "remcsum"}},
   {"address": "10.2.0.7", "forwarding": "tun", "tunnel": {"type": "gre", "checksum": "csum"}},
   {"address": "10.2.0.8", "forwarding": "tun", "tunnel": {"type": "gre"}}
 ]},
{"id": "tcp:10.1.0.3:80", "scheduler": "mh", "sched_flags": ["mh-port"], "servers": []},
{"id": "udp:10.1.0.4:5060", "scheduler": "rr", "persistence": {"timeout": 120}, "persistence_engine": "sip",
 "servers": [{"address": "10.2.0.9", "forwarding": "dr"}]},
{"id": "tcp:[2001:db8::1]:80", "scheduler": "wrr", "persistence": {"timeout": 300, "netmask": 64},
 "servers": [
   {"address": "2001:db8::10", "port": 8080, "forwarding": "nat", "weight": 65535},
   {"address": "2001:db8::11", "forwarding": "tun", "tunnel": {"type": "ipip"}}
 ]},
{"id": "udp:[2001:db8::2]:53", "scheduler": "sed", "servers": [{"address": "2001:db8::12", "forwarding": "dr"}]},
{"id": "sctp:[2001:db8::3]:3868", "scheduler": "nq", "servers": []},
{"id": "fwmark:7", "scheduler": "wlc", "servers": [{"address": "10.2.0.10", "port": 0, "forwarding": "nat"}]},
{"id": "fwmark6:8", "scheduler": "dh", "servers": [{"address": "2001:db8::13", "port": 0, "forwarding": "dr"}]}
],
"timeouts": {"tcp": 901, "tcpfin": 121, "udp": 301},
"sync_daemons": [{"role": "master", "interface": "lo", "syncid": 9, "sync_maxlen": 1400,
                  "mcast_group": "239.1.2.3", "mcast_port": 9000, "mcast_ttl": 2}]
}
JSON
} >/tmp/every.json
out=$(lvsd apply /tmp/every.json) || fail "lvsd apply: $out"
info "$out"

{
    i=0
    for s in $IPVS_SCHEDULERS; do
        i=$((i + 1))
        echo "-A -t 10.1.1.$i:80 -s $s"
        echo "-a -t 10.1.1.$i:80 -r 10.2.1.$i:80 -m -w 1"
    done
    cat <<'EXPECTED'
-A -u 10.1.0.1:53 -s rr -o
-a -u 10.1.0.1:53 -r 10.2.0.1:5353 -m -w 5
-A --sctp-service 10.1.0.1:3868 -s lc
-a --sctp-service 10.1.0.1:3868 -r 10.2.0.2:3868 -g -w 0
-A -t 10.1.0.2:443 -s sh -p 600 -M 255.255.255.0 -b sh-fallback,sh-port
-a -t 10.1.0.2:443 -r 10.2.0.3:443 -g -w 2
-a -t 10.1.0.2:443 -r 10.2.0.4:443 -i -w 3 --tun-type ipip
-a -t 10.1.0.2:443 -r 10.2.0.5:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-a -t 10.1.0.2:443 -r 10.2.0.6:443 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum
-a -t 10.1.0.2:443 -r 10.2.0.7:443 -i -w 1 --tun-type gre --tun-csum
-a -t 10.1.0.2:443 -r 10.2.0.8:443 -i -w 1 --tun-type gre --tun-nocsum
-A -t 10.1.0.3:80 -s mh -b mh-port
-A -u 10.1.0.4:5060 -s rr -p 120 --pe sip
-a -u 10.1.0.4:5060 -r 10.2.0.9:5060 -g -w 1
-A -t [2001:db8::1]:80 -s wrr -p 300 -M 64
-a -t [2001:db8::1]:80 -r [2001:db8::10]:8080 -m -w 65535
-a -t [2001:db8::1]:80 -r [2001:db8::11]:80 -i -w 1 --tun-type ipip
-A -u [2001:db8::2]:53 -s sed
-a -u [2001:db8::2]:53 -r [2001:db8::12]:53 -g -w 1
-A --sctp-service [2001:db8::3]:3868 -s nq
-A -f 7 -s wlc
-a -f 7 -r 10.2.0.10:0 -m -w 1
-A -f 8 -6 -s dh
-a -f 8 -6 -r [2001:db8::13]:0 -g -w 1
EXPECTED
} | sort >/tmp/expected.txt
ipvsadm -Sn | sort >/tmp/actual.txt
if ! diff /tmp/expected.txt /tmp/actual.txt; then fail "ipvsadm -Sn differs from the spec (diff above: < expected, > kernel)"; fi
pass "ipvsadm -Sn shows every option of the spec ($(wc -l </tmp/actual.txt) lines)"
line=$(ipvsadm -Ln --thresholds | awk '$2 == "10.2.0.3:443"')
assert_eq "-> 10.2.0.3:443 1000 800" "$(echo "$line" | awk '{ print $1, $2, $3, $4 }')" "thresholds (ipvsadm -Ln --thresholds)"
assert_contains "$(ipvsadm -Ln --timeout)" "Timeout (tcp tcpfin udp): 901 121 301" "timeouts"
assert_contains "$(ipvsadm -Ln --daemon)" "master sync daemon (mcast=lo, syncid=9, maxlen=1400, group=239.1.2.3, port=9000, ttl=2)" "sync daemon"
same_views
assert_contains "$(lvsd apply /tmp/every.json)" "no changes" "applying it again changes nothing"

step "2. ipvsadm sets every option; lvsd reads the same"
lvsd apply - <<'JSON' >/dev/null
{}
JSON
assert_eq "" "$(ipvsadm -Sn)$(ipvsadm -Ln --daemon)" "the empty spec removed everything, daemon included"
ipvsadm -R <<'RULES'
-A -t 10.1.0.30:80 -s sh -b sh-port -p 120 -M 255.255.255.128
-a -t 10.1.0.30:80 -r 10.2.2.1:8080 -m -w 3 -x 500 -y 100
-a -t 10.1.0.30:80 -r 10.2.2.2 -i --tun-type gue --tun-port 7000 --tun-remcsum -w 2
-a -t 10.1.0.30:80 -r 10.2.2.3 -i --tun-type gre -w 4
-A -u [2001:db8::40]:5060 -s lc -p 30 -M 48 --pe sip -o
-a -u [2001:db8::40]:5060 -r [2001:db8::41]:5060 -g -w 0
-A -f 9 -6 -s mh -b mh-fallback,mh-port
-a -f 9 -6 -r [2001:db8::42]:0 -g -w 7
-A --sctp-service 10.1.0.31:3868 -s ovf
-a --sctp-service 10.1.0.31:3868 -r 10.2.2.4 -m -w 1
-A -f 10 -s fo
RULES
ipvsadm --set 902 122 302
ipvsadm --start-daemon backup --mcast-interface lo --syncid 4 --mcast-group ff02::81 --mcast-port 8850 --mcast-ttl 3
same_views
# ipvsadm -S drops thresholds; lvsd keeps them as -x/-y (which ipvsadm -R reads).
assert_eq "$(ipvsadm -Sn)" "$(lvsd show --save | sed 's/ -x 500 -y 100//')" "lvsd show --save = ipvsadm -Sn (thresholds aside)"
lvsd show --save >/tmp/saved.txt
ipvsadm -Sn >/tmp/before.txt

step "what lvsd saved, applied to an empty table, is the same table"
ipvsadm -C
lvsd apply /tmp/saved.txt >/dev/null
assert_eq "$(cat /tmp/before.txt)" "$(ipvsadm -Sn)" "ipvsadm -Sn after lvsd apply of lvsd show --save"
assert_eq "-> 10.2.2.1:8080 500 100" "$(ipvsadm -Ln --thresholds | awk '$2 == "10.2.2.1:8080" { print $1, $2, $3, $4 }')" "thresholds survive"
# A table file says nothing of daemons: the whole-table apply stopped the backup.
assert_eq "" "$(ipvsadm -Ln --daemon)" "the daemon is not part of ipvsadm -S text"
step "done"
