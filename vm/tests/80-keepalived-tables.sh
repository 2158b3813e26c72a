#!/bin/sh
# keepalived itself as the witness of `lvsd import --format keepalived`: for
# a NAT and a DR keepalived.conf, keepalived (checkers only, -C) builds the
# IPVS table in the director's namespace with every checker passing against
# the lab's real servers; then the table is flushed, the same file goes
# through lvsd import, commit and `lvsd apply`, and ipvsadm -Sn (and the
# timeouts) must be the ones keepalived made.
# vm-timeout: 300
set -e
. /vm/lib.sh

export HOME=/tmp/ka LVSD_SERVER=http://127.0.0.1:7080 LVSD_CLUSTER=ka
mkdir -p "$HOME"

step "lab: director in the root namespace, real servers with httpd"
lab_nat 3
# Addresses the DR file uses beside the NAT lab's own.
ip addr add 172.25.0.100/32 dev br-rs
ip addr add 172.25.0.101/32 dev br-rs
ip addr add 172.25.0.102/32 dev br-rs

cat >"$HOME/nat.conf" <<EOF
! NAT in front of the lab's three web servers, checked by HTTP and TCP.
global_defs {
    lvs_timeouts tcp 600 tcpfin 60 udp 120
}

virtual_server $VIP 80 {
    delay_loop 1
    lvs_sched wrr
    lvs_method NAT
    protocol TCP

    real_server $RS1 80 {
        weight 1
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
        }
    }
    real_server $RS2 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server $RS3 80 {
        weight 3
        uthreshold 100
        lthreshold 50
        TCP_CHECK {
            connect_timeout 1
        }
    }
}

virtual_server $VIP 53 {
    lvs_sched rr
    lvs_method NAT
    protocol UDP
    ops
    real_server $RS1 53 {
        weight 1
    }
    real_server $RS2 5353 {
        weight 4
    }
}

virtual_server $VIP6 80 {
    delay_loop 1
    lvs_sched sh
    sh-port
    lvs_method NAT
    protocol TCP
    real_server $RS1_6 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server $RS2_6 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
EOF

cat >"$HOME/dr.conf" <<EOF
! Direct routing: persistence by /24, a firewall mark, a group of VIPs, a tunnel.
virtual_server 172.25.0.100 80 {
    delay_loop 1
    lb_algo wlc
    lb_kind DR
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    protocol TCP

    real_server $RS1 80 {
        weight 5
        inhibit_on_failure
        HTTP_GET {
            url {
                path /index.html
            }
            connect_timeout 1
        }
    }
    real_server $RS2 80 {
        weight 5
        inhibit_on_failure
        HTTP_GET {
            url {
                path /index.html
            }
            connect_timeout 1
        }
    }
}

virtual_server fwmark 7 {
    lvs_sched mh
    mh-fallback
    mh-port
    lvs_method DR
    real_server $RS1 {
        weight 2
    }
    real_server $RS3 {
        weight 1
    }
}

virtual_server_group VIPS {
    172.25.0.101-102 443
}

virtual_server group VIPS {
    lvs_sched lc
    lvs_method DR
    protocol TCP
    real_server $RS2 443 {
        weight 1
    }
    real_server $RS3 443 {
        weight 3
    }
}

virtual_server 172.25.0.100 8080 {
    lvs_sched rr
    lvs_method TUN type gre csum
    protocol TCP
    real_server $RS3 8080 {
        weight 1
        uthreshold 10
    }
}
EOF

step "lvsd serve (no kernel access: only the API)"
lvsd serve --init --db "$HOME/lvsd.db" --http 127.0.0.1:7080 --grpc 127.0.0.1:7081 >"$HOME/serve.log" 2>&1 &
SERVE=$!
wait_until 60 lvsd cluster list || { cat "$HOME/serve.log"; fail "lvsd serve did not answer"; }
lvsd cluster create ka

rev=0
thresholds() { $IPVSADM -Ln --thresholds | awk '$1 == "->" && $2 != "RemoteAddress:Port" { print $2, $3, $4 }' | sort; }
for conf in nat dr; do
    step "$conf: keepalived builds the table (checkers only, all passing)"
    $IPVSADM -C
    $IPVSADM --set 900 120 300
    $KEEPALIVED -t -f "$HOME/$conf.conf" || fail "keepalived -t refuses $conf.conf"
    $KEEPALIVED -C -n -l -D -f "$HOME/$conf.conf" -p "$HOME/ka.pid" -c "$HOME/ka-check.pid" >"$HOME/ka-$conf.log" 2>&1 &
    KA=$!
    want_lines=$(case $conf in nat) echo 10 ;; dr) echo 14 ;; esac)
    built() { [ "$($IPVSADM -Sn | wc -l)" -ge "$want_lines" ]; }
    wait_until 60 built || { cat "$HOME/ka-$conf.log"; $IPVSADM -Sn; fail "keepalived did not build the $conf table"; }
    # Three delay_loops: every checker has run and passed (a failure
    # would remove or quiesce a server, and the comparison would show it).
    sleep 4
    built || { cat "$HOME/ka-$conf.log"; fail "a keepalived checker took a server out"; }
    by_keepalived=$($IPVSADM -Sn | sort)
    thresholds_ka=$(thresholds)
    timeouts_ka=$($IPVSADM -L --timeout)
    info "keepalived's table:"
    echo "$by_keepalived"
    kill "$KA"
    wait "$KA" || true

    step "$conf: flush, then lvsd import --strict, commit and apply"
    $IPVSADM -C
    $IPVSADM --set 900 120 300
    assert_eq "" "$($IPVSADM -Sn)" "flushed"
    lvsd import --format keepalived --strict "$HOME/$conf.conf"
    lvsd commit -m "$conf from keepalived"
    rev=$((rev + 1))
    lvsd export "$rev" --spec >"$HOME/$conf.json"
    lvsd apply "$HOME/$conf.json"
    by_lvsd=$($IPVSADM -Sn | sort)
    assert_eq "$by_keepalived" "$by_lvsd" "$conf: ipvsadm -Sn of lvsd's table is keepalived's"
    assert_eq "$thresholds_ka" "$(thresholds)" "$conf: thresholds as keepalived set them"
    assert_eq "$timeouts_ka" "$($IPVSADM -L --timeout)" "$conf: timeouts as keepalived set them"

    step "$conf: lvsd export --format keepalived is accepted by keepalived"
    lvsd export --format keepalived "$rev" >"$HOME/$conf.export.conf"
    $KEEPALIVED -t -f "$HOME/$conf.export.conf" || { cat "$HOME/$conf.export.conf"; fail "keepalived -t refuses lvsd's export"; }
done

step "traffic through the table lvsd built from the NAT file"
$IPVSADM -C
lvsd apply "$HOME/nat.json"
assert_eq "rs1=2 rs2=4 rs3=6" "$(count_hits 12 "http://$VIP/")" "wrr 1:2:3 as keepalived.conf's weights say"

kill "$SERVE"
pass "keepalived and lvsd build the same tables from the same keepalived.conf"
