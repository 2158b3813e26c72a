# vm/lib.sh — helpers for test scripts running inside the lvsd test VM.
# Source it from a test (busybox sh):   . /vm/lib.sh
#
# Variables
#   IP IPVSADM NFT SS SOCAT  full paths of the host tools (iproute2's ip: busybox
#                       sh prefers its own applets, so call tools by path;
#                       the functions ip() and modprobe() below do that)
#   IPVS_SCHEDULERS     schedulers the running kernel offers ("rr wrr ...")
#   KERNEL              uname -r
#   TEST_NAME           basename of the test script without .sh
#
# Output / assertions (every failure exits the test with status 1)
#   step MSG...                     log a step with the guest uptime
#   info MSG...                     log a line
#   pass MSG...                     log a passed check
#   fail MSG...                     print FAIL + state dump, exit 1
#   assert_eq EXPECTED ACTUAL MSG
#   assert_ne UNEXPECTED ACTUAL MSG
#   assert_contains HAYSTACK NEEDLE MSG
#   assert_not_contains HAYSTACK NEEDLE MSG
#   assert_ok CMD...                CMD must succeed (output shown on failure)
#   assert_fails CMD...             CMD must fail
#   wait_until SECS CMD...          retry CMD every 0.1 s until it succeeds
#                                   (returns 1 after SECS)
# Timing (date +%s%N does not work in busybox)
#   now                             seconds since boot, e.g. 12.34
#   elapsed START                   seconds since START (a value of now)
#   time_cmd VAR CMD...             run CMD, store its duration in $VAR
# Labs (network namespaces + veth + bridge, no traffic leaves the VM)
#   lab_nat [N]                     LVS-NAT lab with N real servers (default 3)
#   lab_dr [N]                      LVS-DR lab with N real servers (default 3)
#   lab_cleanup                     remove the lab (namespaces, links, httpd)
#   in_ns NS CMD...                 run CMD in namespace NS
#   http_get URL                    one GET from the client (5 s bound)
#   count_hits N URL                N GETs from the client; prints
#                                   "rs1=10 rs2=20 rs3=30" (+ " fail=K" /
#                                   " other=K" when some failed/unknown)
#   hit_count NAME HITS             the count of NAME in count_hits output
#   ipvs_stat ADDR:PORT FIELD       a counter (conns inpkts outpkts inbytes
#                                   outbytes) of a service or real server
#                                   from ipvsadm -Ln --stats --exact
#   ipvs_conns ADDR:PORT            ipvs_stat ADDR:PORT conns
#   wait_ipvs_stat A:P FIELD VALUE [SECS]  wait until the counter is VALUE
#   dump_state                      print ipvsadm/ip state (done by fail)

# --- environment ----------------------------------------------------------------
if [ -f /etc/lvsd-vm/paths ]; then
    . /etc/lvsd-vm/paths
fi
IP=${IP:-/usr/sbin/ip}
IPVSADM=${IPVSADM:-/usr/sbin/ipvsadm}
KEEPALIVED=${KEEPALIVED:-/usr/sbin/keepalived}
NFT=${NFT:-/usr/sbin/nft}
SS=${SS:-/usr/bin/ss}
SOCAT=${SOCAT:-/usr/bin/socat}
export IP IPVSADM NFT SS KEEPALIVED SOCAT
IPVS_SCHEDULERS=$(cat /etc/lvsd-vm/schedulers 2>/dev/null)
KERNEL=$(uname -r)
TEST_NAME=$(basename "$0" .sh)
LAB_DIR=/tmp/lab

# iproute2's ip and kmod's modprobe instead of the busybox applets
ip() { "$IP" "$@"; }
modprobe() { /sbin/modprobe "$@"; }

# --- output / assertions --------------------------------------------------------
now() { cut -d' ' -f1 /proc/uptime; }
elapsed() { awk -v s="$1" -v n="$(now)" 'BEGIN { printf "%.2f\n", n - s }'; }
time_cmd() {
    _tc_var=$1
    shift
    _tc_t0=$(now)
    _tc_rc=0
    "$@" || _tc_rc=$?
    eval "$_tc_var=\$(elapsed \"\$_tc_t0\")"
    return "$_tc_rc"
}

step() { echo "---- [$(now)s] $*"; }
info() { echo "     $*"; }
pass() { echo "PASS: $*"; }

dump_state() {
    echo "----- state dump ($TEST_NAME) -----"
    echo "# ipvsadm -Ln --stats --exact"
    "$IPVSADM" -Ln --stats --exact 2>&1
    echo "# ipvsadm -Lnc (first 20)"
    "$IPVSADM" -Lnc 2>&1 | head -n 22
    echo "# ip -br addr"
    "$IP" -br addr 2>&1
    if [ -n "${LAB:-}" ]; then
        echo "# ip netns"
        "$IP" netns list 2>&1
    fi
    echo "-----------------------------------"
}

fail() {
    echo "FAIL: $*" >&2
    if [ -z "${_in_fail:-}" ]; then
        _in_fail=1
        dump_state >&2
    fi
    exit 1
}

assert_eq() {
    if [ "$1" = "$2" ]; then
        pass "${3:-values equal}: '$2'"
    else
        fail "${3:-assert_eq}: expected '$1', got '$2'"
    fi
}
assert_ne() {
    if [ "$1" != "$2" ]; then
        pass "${3:-values differ}: '$2'"
    else
        fail "${3:-assert_ne}: got '$2', which must not be"
    fi
}
assert_contains() {
    case $1 in
        *"$2"*) pass "${3:-contains} ('$2')" ;;
        *) fail "${3:-assert_contains}: '$2' not found in:
$1" ;;
    esac
}
assert_not_contains() {
    case $1 in
        *"$2"*) fail "${3:-assert_not_contains}: '$2' found in:
$1" ;;
        *) pass "${3:-does not contain} ('$2')" ;;
    esac
}
assert_ok() {
    _ao_out=$("$@" 2>&1) || fail "command failed (rc=$?): $*
$_ao_out"
    pass "ok: $*"
}
assert_fails() {
    if _af_out=$("$@" 2>&1); then
        fail "command succeeded but should have failed: $*
$_af_out"
    fi
    pass "fails as expected: $*"
}
wait_until() {
    _wu_limit=$1
    shift
    _wu_t0=$(now)
    while :; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        if awk -v s="$_wu_t0" -v n="$(now)" -v l="$_wu_limit" 'BEGIN { exit !(n - s >= l) }'; then
            return 1
        fi
        sleep 0.1
    done
}

# --- labs -----------------------------------------------------------------------
in_ns() {
    _ns=$1
    shift
    "$IP" netns exec "$_ns" "$@"
}
_sysctl() { echo "$2" >"/proc/sys/$(echo "$1" | tr . /)" || fail "sysctl $1=$2 failed"; }

LAB_PIDS=
# iproute2 starts slowly under TCG (~50 ms a process): labs feed their
# commands to "ip -batch" instead, one process per namespace.
# _ipb [-n NS]: run the ip commands on stdin; fail the test on error.
_ipb() {
    _ipb_out=$("$IP" "$@" -batch - 2>&1) || fail "lab setup: ip $* -batch failed:
$_ipb_out"
}
# _ns_sh NS SCRIPT: run a sh script inside namespace NS.
_ns_sh() { "$IP" netns exec "$1" sh -ec "$2" || fail "lab setup: in $1: $2"; }

_lab_common_vars() {
    _n=$1
    RS_NAMES= RS_IPS= RS_IPS6=
    _i=1
    while [ "$_i" -le "$_n" ]; do
        RS_NAMES="$RS_NAMES rs$_i"
        RS_IPS="$RS_IPS 172.25.0.$((30 + _i))"
        RS_IPS6="$RS_IPS6 fd00:25::$((30 + _i))"
        eval "RS$_i=172.25.0.$((30 + _i)) RS${_i}_6=fd00:25::$((30 + _i))"
        _i=$((_i + 1))
    done
    RS_NAMES=${RS_NAMES# } RS_IPS=${RS_IPS# } RS_IPS6=${RS_IPS6# }
    CLIENT_IP=192.168.31.2 CLIENT_IP6=fd00:31::2
    DIP=172.25.0.1 DIP6=fd00:25::1
}

# root-namespace ip commands: br-rs (DIP 172.25.0.1/24, fd00:25::1/64) and
# one veth per real server, its peer "eth0" moved into netns rsI.
_lab_root_rs_cmds() {
    echo "link add br-rs type bridge"
    echo "addr add $DIP/24 dev br-rs"
    echo "addr add $DIP6/64 dev br-rs nodad"
    echo "link set br-rs up"
    for _r in $RS_NAMES; do
        echo "netns add $_r"
        echo "link add v$_r type veth peer name eth0 netns $_r"
        echo "link set v$_r master br-rs up"
    done
}
# _lab_rs_up GW GW6: address the real servers, default routes via GW/GW6,
# start busybox httpd on :80 serving "rsI" in each.
_lab_rs_up() {
    for _r in $RS_NAMES; do
        _i=${_r#rs}
        _ipb -n "$_r" <<EOF
link set lo up
addr add 172.25.0.$((30 + _i))/24 dev eth0
addr add fd00:25::$((30 + _i))/64 dev eth0 nodad
link set eth0 up
route add default via $1
route add default via $2
EOF
        mkdir -p "$LAB_DIR/www/$_r"
        echo "$_r" >"$LAB_DIR/www/$_r/index.html"
        "$IP" netns exec "$_r" busybox httpd -f -p 80 -h "$LAB_DIR/www/$_r" &
        LAB_PIDS="$LAB_PIDS $!"
    done
}
# _lab_wait_rs: every real server answers on its own address.
_lab_wait_rs() {
    for _ip in $RS_IPS; do
        wait_until 10 sh -c "timeout 2 wget -q -O - http://$_ip/ | grep -q ." \
            || fail "lab: httpd on $_ip does not answer"
    done
}

# lab_nat [N]: LVS-NAT lab.
#   client (netns "client"): eth0 192.168.31.2/24, fd00:31::2/64,
#       default route via the director (192.168.31.1 / fd00:31::1)
#   director (root netns): cli0 192.168.31.1/24 + VIP 192.168.31.100/24,
#       fd00:31::1/64 + VIP6 fd00:31::100/64; br-rs DIP 172.25.0.1/24,
#       fd00:25::1/64; forwarding on
#   real servers rsI (netns "rsI", I=1..N): eth0 172.25.0.(30+I)/24,
#       fd00:25::(30+I)/64, default route via the DIP, busybox httpd on :80
#       serving "rsI"
# Sets LAB=nat VIP VIP6 CLIENT_IP CLIENT_IP6 DIP DIP6 RS_NAMES RS_IPS
# RS_IPS6 RS1.. RS1_6..
lab_nat() {
    _lab_common_vars "${1:-3}"
    LAB=nat VIP=192.168.31.100 VIP6=fd00:31::100
    mkdir -p "$LAB_DIR"
    _sysctl net.ipv4.ip_forward 1
    _sysctl net.ipv6.conf.all.forwarding 1
    {
        echo "netns add client"
        echo "link add cli0 type veth peer name eth0 netns client"
        echo "addr add 192.168.31.1/24 dev cli0"
        echo "addr add $VIP/24 dev cli0"
        echo "addr add fd00:31::1/64 dev cli0 nodad"
        echo "addr add $VIP6/64 dev cli0 nodad"
        echo "link set cli0 up"
        _lab_root_rs_cmds
    } | _ipb
    _ipb -n client <<EOF
link set lo up
addr add $CLIENT_IP/24 dev eth0
addr add $CLIENT_IP6/64 dev eth0 nodad
link set eth0 up
route add default via 192.168.31.1
route add default via fd00:31::1
EOF
    _lab_rs_up "$DIP" "$DIP6"
    _lab_wait_rs
    info "lab_nat ready: VIP $VIP/$VIP6, real servers $RS_IPS"
}

# lab_dr [N]: LVS-DR lab (textbook: the real servers answer the client
# directly through a router, not through the director).
#   client (netns "client"): 192.168.31.2/24, fd00:31::2/64, default via gw
#   gw (netns "gw"): router; eth0 192.168.31.1/24 + fd00:31::1/64 towards
#       the client, lan0 172.25.0.254/24 + fd00:25::fe/64 on br-rs
#   director (root netns): br-rs DIP 172.25.0.1/24 (fd00:25::1/64) and the
#       VIP 172.25.0.100/32 (VIP6 fd00:25::100/128) on br-rs; default route
#       via gw
#   real servers rsI: eth0 172.25.0.(30+I)/24, default via gw, the VIP on
#       lo, arp_ignore=1 arp_announce=2, busybox httpd on :80 serving "rsI"
# Sets LAB=dr VIP VIP6 GW_IP GW_IP6 and the same RS_* / CLIENT_* / DIP vars.
# With LAB_DR_BARE=1 the lab leaves out the VIPs (director and real servers)
# and the real servers' ARP settings: the test makes them (lvsd host).
lab_dr() {
    _lab_common_vars "${1:-3}"
    LAB=dr VIP=172.25.0.100 VIP6=fd00:25::100 GW_IP=172.25.0.254 GW_IP6=fd00:25::fe
    mkdir -p "$LAB_DIR"
    {
        _lab_root_rs_cmds
        if [ -z "${LAB_DR_BARE:-}" ]; then
            echo "addr add $VIP/32 dev br-rs"
            echo "addr add $VIP6/128 dev br-rs nodad"
        fi
        echo "netns add gw"
        echo "netns add client"
        echo "link add vgw type veth peer name lan0 netns gw"
        echo "link set vgw master br-rs up"
        echo "link add cli0 netns client type veth peer name eth0 netns gw"
    } | _ipb
    _ns_sh gw "echo 1 >/proc/sys/net/ipv4/ip_forward; echo 1 >/proc/sys/net/ipv6/conf/all/forwarding"
    _ipb -n gw <<EOF
link set lo up
addr add $GW_IP/24 dev lan0
addr add $GW_IP6/64 dev lan0 nodad
link set lan0 up
addr add 192.168.31.1/24 dev eth0
addr add fd00:31::1/64 dev eth0 nodad
link set eth0 up
EOF
    _ipb -n client <<EOF
link set lo up
link set cli0 name eth0
addr add $CLIENT_IP/24 dev eth0
addr add $CLIENT_IP6/64 dev eth0 nodad
link set eth0 up
route add default via 192.168.31.1
route add default via fd00:31::1
EOF
    # the director's default route goes through the router (needs it up)
    _ipb <<EOF
route add default via $GW_IP
route add default via $GW_IP6
EOF
    for _r in $RS_NAMES; do
        [ -z "${LAB_DR_BARE:-}" ] || break
        _ipb -n "$_r" <<EOF
addr add $VIP/32 dev lo
addr add $VIP6/128 dev lo nodad
EOF
        _ns_sh "$_r" "for c in all eth0; do
            echo 1 >/proc/sys/net/ipv4/conf/\$c/arp_ignore
            echo 2 >/proc/sys/net/ipv4/conf/\$c/arp_announce
        done"
    done
    _lab_rs_up "$GW_IP" "$GW_IP6"
    _lab_wait_rs
    info "lab_dr ready: VIP $VIP/$VIP6, real servers $RS_IPS, router $GW_IP"
}

lab_cleanup() {
    for _p in $LAB_PIDS; do kill "$_p" 2>/dev/null; done
    for _p in $LAB_PIDS; do wait "$_p" 2>/dev/null; done
    LAB_PIDS=
    for _ns in client gw $RS_NAMES; do
        "$IP" netns del "$_ns" 2>/dev/null
    done
    "$IP" link del br-rs 2>/dev/null
    "$IP" link del cli0 2>/dev/null
    "$IP" link del vgw 2>/dev/null
    rm -rf "$LAB_DIR"
    LAB=
    return 0
}

http_get() {
    [ -e /run/netns/client ] || fail "http_get: no lab (network namespace 'client' missing)"
    "$IP" netns exec client timeout 5 wget -q -O - "$1"
}

# count_hits N URL: N requests (new connection each) from the client.
count_hits() {
    [ -e /run/netns/client ] || fail "count_hits: no lab (network namespace 'client' missing)"
    "$IP" netns exec client sh -c '
        i=0
        while [ "$i" -lt "$1" ]; do
            i=$((i + 1))
            if out=$(timeout 5 wget -q -O - "$2" 2>/dev/null) && [ -n "$out" ]; then
                echo "$out" | head -n1
            else
                echo "fail"
            fi
        done' count_hits "$1" "$2" 2>/dev/null \
        | awk -v names="$RS_NAMES" '
            { c[$0]++ }
            END {
                n = split(names, a, " ")
                line = ""
                for (i = 1; i <= n; i++) { line = line " " a[i] "=" (c[a[i]] + 0); known[a[i]] = 1 }
                other = 0
                for (k in c) if (!(k in known) && k != "fail") other += c[k]
                if (c["fail"] > 0) line = line " fail=" c["fail"]
                if (other > 0) line = line " other=" other
                sub(/^ /, "", line)
                print line
            }'
}

hit_count() {
    for _kv in $2; do
        case $_kv in "$1="*) echo "${_kv#*=}"; return 0 ;; esac
    done
    echo 0
}

# ipvs_stat ADDR:PORT FIELD: a counter of a service or real server from
# ipvsadm -Ln --stats --exact; FIELD is conns inpkts outpkts inbytes outbytes.
# (Counters are folded in by a 2-second estimator: poll with wait_until.)
ipvs_stat() {
    case $2 in
        conns) _col=3 ;; inpkts) _col=4 ;; outpkts) _col=5 ;;
        inbytes) _col=6 ;; outbytes) _col=7 ;;
        *) fail "ipvs_stat: unknown field '$2'" ;;
    esac
    "$IPVSADM" -Ln --stats --exact | awk -v a="$1" -v c="$_col" '$2 == a { print $c; exit }'
}
ipvs_conns() { ipvs_stat "$1" conns; }
# wait_ipvs_stat ADDR:PORT FIELD VALUE [SECS]: wait (default 8 s) until the
# counter equals VALUE; returns 1 on timeout (assert afterwards).
_wis_check() { [ "$(ipvs_stat "$1" "$2")" = "$3" ]; }
wait_ipvs_stat() { wait_until "${4:-8}" _wis_check "$1" "$2" "$3"; }

# --- lvsd serve, driven over its REST API with busybox wget ----------------------
#   lvsd_start [ARGS...]            start `lvsd serve --apply-local` (REST on
#                                   $LVSD_API, database /tmp/lvsd/lvsd.db kept
#                                   across restarts) with ARGS; wait until it answers
#   lvsd_stop                       stop it (SIGTERM) and wait
#   api_get PATH                    GET; the body on stdout; rc 1 on an HTTP error
#   api_post PATH JSON              POST JSON; the body on stdout; rc 1 on an HTTP error
#   api_post_file PATH FILE [TYPE]  POST a file (default application/json)
#   json_get JSON NAME              the first "NAME": value in compact JSON
#                                   (strings unquoted; objects/arrays not supported)
#   wait_applied REV [SECS]         wait until the director reports REV applied
#                                   (default 15 s); fails the test otherwise
LVSD_API=${LVSD_API:-http://127.0.0.1:7080}
LVSD_DIR=/tmp/lvsd
LVSD_DIRECTOR=${LVSD_DIRECTOR:-d1}
LVSD_CLUSTER=${LVSD_CLUSTER:-web}
LVSD_PID=
lvsd_start() {
    mkdir -p "$LVSD_DIR"
    lvsd serve --init --db "$LVSD_DIR/lvsd.db" --http 127.0.0.1:7080 --grpc 127.0.0.1:7081 \
        --apply-local --director "$LVSD_DIRECTOR" "$@" >>"$LVSD_DIR/stdout" 2>>"$LVSD_DIR/log" &
    LVSD_PID=$!
    wait_until 60 api_get /readyz || { cat "$LVSD_DIR/log" "$LVSD_DIR/stdout"; fail "lvsd serve does not answer"; }
    info "$(grep 'applying' "$LVSD_DIR/stdout" | tail -n1)"
}
lvsd_stop() {
    [ -n "$LVSD_PID" ] || return 0
    kill "$LVSD_PID" 2>/dev/null
    wait "$LVSD_PID" 2>/dev/null
    LVSD_PID=
}
api_get() { timeout 20 wget -q -O - "$LVSD_API$1"; }
api_post() { timeout 60 wget -q -O - --header 'Content-Type: application/json' --post-data "$2" "$LVSD_API$1"; }
api_post_file() {
    timeout 120 wget -q -O - --header "Content-Type: ${3:-application/json}" --post-file "$2" "$LVSD_API$1"
}
json_get() {
    printf '%s' "$1" | grep -o "\"$2\":\(\"[^\"]*\"\|[^,}]*\)" | head -n1 | sed "s/^\"$2\"://; s/^\"//; s/\"\$//"
}
_director_has() {
    _dh=$(api_get "/v1/clusters/$LVSD_CLUSTER/directors/$LVSD_DIRECTOR") || return 1
    [ "$(json_get "$_dh" applied_revision)" = "$1" ] && [ "$(json_get "$_dh" result)" = applied ]
}
wait_applied() {
    wait_until "${2:-15}" _director_has "$1" \
        || fail "revision $1 not applied: $(api_get "/v1/clusters/$LVSD_CLUSTER/directors/$LVSD_DIRECTOR")"
    pass "director $LVSD_DIRECTOR applied revision $1"
}
