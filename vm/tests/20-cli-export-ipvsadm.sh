#!/bin/sh
# The lvsd command line against a real `lvsd serve` inside the VM: revisions
# typed as ipvsadm-style commands, then `lvsd export N | ipvsadm -R` for each
# of them gives back, from the kernel, the very rules lvsd exported
# (ipvsadm -Sn), thresholds (ipvsadm -Ln --thresholds) and timeouts
# (ipvsadm -L --timeout); and lvsd applying the revision's spec itself
# (`lvsd apply`) leaves the kernel with the same ipvsadm -Sn.
# vm-timeout: 300
set -e
. /vm/lib.sh

export HOME=/tmp/cli LVSD_SERVER=http://127.0.0.1:7080 LVSD_CLUSTER=web
mkdir -p "$HOME"
# Real servers need a route from the director (EINVAL otherwise).
ip route add 172.25.0.0/16 dev lo
ip route add 192.168.10.0/24 dev lo
ip -6 route add 2001:db8::/32 dev lo

step "lvsd serve"
lvsd serve --init --db "$HOME/lvsd.db" >"$HOME/serve.log" 2>&1 &
wait_until 30 lvsd cluster list || { cat "$HOME/serve.log"; fail "lvsd serve did not answer"; }
lvsd cluster create web

step "revision 1: the classic LVS-NAT example"
lvsd svc add -t 192.168.31.100:80 -s wrr
for i in 1 2 3; do lvsd rs add -t 192.168.31.100:80 -r 172.25.0.3$i -m -w $i; done
lvsd commit -m nat

step "revision 2: DR with persistence and thresholds, one-packet UDP, fwmark over GUE, IPv6, timeouts"
lvsd svc add -t 192.168.10.100:80 -s wlc -p 600
lvsd rs add -t 192.168.10.100:80 -r 192.168.10.21 -g
lvsd rs add -t 192.168.10.100:80 -r 192.168.10.22 -g -w 2
lvsd rs add -t 192.168.10.100:80 -r 192.168.10.23 -w 3 -x 1000 -y 800
lvsd svc add -u 192.168.10.100:53 -s rr -o
lvsd rs add -u 192.168.10.100:53 -r 192.168.10.21
lvsd svc add -f 12 -s sh -b sh-fallback,sh-port -p -M 255.255.255.0
lvsd rs add -f 12 -r 192.168.10.21 -g
lvsd rs add -f 12 -r 192.168.10.24 -i --tun-type gue --tun-port 6080 --tun-csum
lvsd svc add -t '[2001:db8::100]:443' -s lc
lvsd rs add -t '[2001:db8::100]:443' -r 2001:db8::21 -m
lvsd rs add -t '[2001:db8::100]:443' -r '[2001:db8::22]:8443' -m -w 4
lvsd timeout set --tcp 600 --tcpfin 60 --udp 120
lvsd commit -m dr

step "revision 3: edits that change only what they name, and deletions"
lvsd rs edit -t 192.168.31.100:80 -r 172.25.0.31 -w 5
lvsd rs edit -t 192.168.10.100:80 -r 192.168.10.23 -x 2000
lvsd svc edit -t 192.168.10.100:80 -s rr
lvsd svc edit -f 12 --no-persistent -b sh-port
lvsd rs del -t 192.168.31.100:80 -r 172.25.0.33
lvsd svc del -u 192.168.10.100:53
lvsd commit -m edits

step "revision 4: rollback to revision 2"
lvsd rollback 2
lvsd log

thresholds() { awk '$1 == "->" && $2 != "RemoteAddress:Port" { print $2, $3, $4 }' | sort; }

for n in 1 2 3 4; do
    step "revision $n: lvsd export $n | ipvsadm -R"
    ipvsadm -C
    lvsd export "$n" >"$HOME/export.$n"
    cat "$HOME/export.$n"
    ipvsadm -R <"$HOME/export.$n" || fail "ipvsadm -R refused lvsd's export of revision $n"
    ipvsadm -Ln

    # ipvsadm -S writes neither thresholds nor --set: compare the rest.
    want=$(grep -e '^-[Aa] ' "$HOME/export.$n" | sed -e 's/ -[xy] [0-9]*//g' | sort)
    got=$(ipvsadm -Sn | sort)
    assert_eq "$want" "$got" "revision $n: ipvsadm -Sn is lvsd's export"

    want=$(lvsd list --revision "$n" --thresholds | thresholds)
    got=$(ipvsadm -Ln --thresholds | thresholds)
    assert_eq "$want" "$got" "revision $n: thresholds as lvsd lists them"

    if grep -q -e '^--set ' "$HOME/export.$n"; then
        assert_eq "$(lvsd list --revision "$n" --timeout)" "$(ipvsadm -L --timeout)" "revision $n: timeouts"
    fi
    by_ipvsadm=$(ipvsadm -Sn)
    by_ipvsadm_thresholds=$(ipvsadm -Ln --thresholds | thresholds)

    step "revision $n: lvsd apply of its spec, on an empty table and on the previous revision's"
    lvsd export "$n" --spec >"$HOME/spec.$n.json"
    froms="empty"
    [ "$n" = 1 ] || froms="empty previous"
    for from in $froms; do
        ipvsadm -C
        if [ "$from" = previous ]; then
            lvsd apply "$HOME/spec.$((n - 1)).json"
        fi
        lvsd apply "$HOME/spec.$n.json" || fail "lvsd apply refused revision $n"
        assert_eq "$by_ipvsadm" "$(ipvsadm -Sn)" "revision $n from the $from table: lvsd apply = lvsd export | ipvsadm -R"
        assert_eq "$by_ipvsadm_thresholds" "$(ipvsadm -Ln --thresholds | thresholds)" "revision $n from the $from table: thresholds"
    done
done
assert_eq "$(cat "$HOME/export.2")" "$(cat "$HOME/export.4")" "the rollback exports as what it restored"

step "the kernel's table, saved and imported, is revision 4 again"
lvsd cluster create back
ipvsadm -Sn | lvsd import --cluster back -
want=$(grep -e '^-[Aa] ' "$HOME/export.4" | sed -e 's/ -[xy] [0-9]*//g')
assert_eq "$want" "$(lvsd draft show --rules --cluster back)" "ipvsadm -Sn | lvsd import -"

ipvsadm -C
step "done"
