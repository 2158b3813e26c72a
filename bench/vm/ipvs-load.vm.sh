#!/bin/sh
# Inside the VM: see bench/ipvs-load.sh.  ARGS: ROUNDS SERVICES SERVERS
. /vm/lib.sh
ROUNDS=${1:-3} SERVICES=${2:-1000} SERVERS=${3:-10}
W=/tmp/bench
mkdir -p $W

# The same table in both inputs: service s = 10.10.(s/250).(s%250+1):80,
# real server r of it = 10.(20+r).(s/250).(s%250+1):80, NAT, weight r+1.
awk -v n="$SERVICES" -v m="$SERVERS" 'BEGIN {
    for (s = 0; s < n; s++) {
        vip = sprintf("10.10.%d.%d:80", int(s / 250), s % 250 + 1)
        print "-A -t " vip " -s wrr"
        for (r = 0; r < m; r++)
            printf "-a -t %s -r 10.%d.%d.%d:80 -m -w %d\n", vip, 20 + r, int(s / 250), s % 250 + 1, r + 1
    }
}' >$W/rules.txt
awk -v n="$SERVICES" -v m="$SERVERS" 'BEGIN {
    printf "{\"services\": ["
    for (s = 0; s < n; s++) {
        printf "%s{\"protocol\": \"tcp\", \"address\": \"10.10.%d.%d\", \"port\": 80, \"scheduler\": \"wrr\", \"servers\": [", (s ? "," : ""), int(s / 250), s % 250 + 1
        for (r = 0; r < m; r++)
            printf "%s{\"address\": \"10.%d.%d.%d\", \"port\": 80, \"forwarding\": \"nat\", \"weight\": %d}", (r ? "," : ""), 20 + r, int(s / 250), s % 250 + 1, r + 1
        printf "]}"
    }
    print "]}"
}' >$W/spec.json
ops=$(wc -l <$W/rules.txt)
step "table: $SERVICES services x $SERVERS real servers = $ops operations; $ROUNDS rounds"

# Both tools are timed through `ip netns exec`, so its cost counts for both.
# fresh_ns NAME: a namespace with lo up and a route to the real servers.
fresh_ns() {
    ip netns del "$1" 2>/dev/null
    ip netns add "$1" || fail "ip netns add $1"
    ip -n "$1" link set lo up
    ip -n "$1" route add 10.0.0.0/8 dev lo
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

i=0
: >$W/ipvsadm-R; : >$W/lvsd-apply; : >$W/ipvsadm-S; : >$W/lvsd-save
while [ "$i" -lt "$ROUNDS" ]; do
    i=$((i + 1))
    fresh_ns a$i
    time_cmd t in_ns a$i ipvsadm -R <$W/rules.txt || fail "ipvsadm -R"
    echo "$t" >>$W/ipvsadm-R
    fresh_ns l$i
    time_cmd t in_ns l$i lvsd apply $W/spec.json >$W/apply.out || fail "lvsd apply: $(cat $W/apply.out)"
    echo "$t" >>$W/lvsd-apply
    # Both loaded the same table.
    [ "$(in_ns a$i ipvsadm -Sn | sort | md5sum)" = "$(in_ns l$i ipvsadm -Sn | sort | md5sum)" ] \
        || fail "round $i: lvsd apply and ipvsadm -R loaded different tables"
    time_cmd t in_ns l$i sh -c 'ipvsadm -Sn >/dev/null' || fail "ipvsadm -Sn"
    echo "$t" >>$W/ipvsadm-S
    time_cmd t in_ns l$i sh -c 'lvsd show --save >/tmp/bench/save.txt' || fail "lvsd show --save"
    echo "$t" >>$W/lvsd-save
    [ "$(sort $W/save.txt | md5sum)" = "$(in_ns l$i ipvsadm -Sn | sort | md5sum)" ] \
        || fail "round $i: lvsd show --save differs from ipvsadm -Sn"
    info "round $i: ipvsadm -R $(tail -n1 $W/ipvsadm-R)s, lvsd apply $(tail -n1 $W/lvsd-apply)s, ipvsadm -Sn $(tail -n1 $W/ipvsadm-S)s, lvsd show --save $(tail -n1 $W/lvsd-save)s"
    ip netns del a$i
    ip netns del l$i
done

R=$(median <$W/ipvsadm-R) A=$(median <$W/lvsd-apply) S=$(median <$W/ipvsadm-S) D=$(median <$W/lvsd-save)
# Ratios per round (both tools timed back to back), then their median: the
# host's load drifts between rounds, less within one.
paste $W/ipvsadm-R $W/lvsd-apply | awk '{ print ($2 > 0 ? $1 / $2 : 999) }' >$W/load-ratio
paste $W/ipvsadm-S $W/lvsd-save | awk '{ print ($2 > 0 ? $1 / $2 : 999) }' >$W/dump-ratio
LR=$(median <$W/load-ratio) DR=$(median <$W/dump-ratio)
echo
printf 'RESULT load %s ops: ipvsadm -R %ss, lvsd apply %ss: lvsd %.1fx faster\n' "$ops" "$R" "$A" "$LR"
printf 'RESULT dump:          ipvsadm -Sn %ss, lvsd show --save %ss: lvsd %.1fx faster\n' "$S" "$D" "$DR"
echo "(times: medians of $ROUNDS rounds; ratios: median of the per-round ratios; kernel $KERNEL; clock /proc/uptime, 10 ms)"
