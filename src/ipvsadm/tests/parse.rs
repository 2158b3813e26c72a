//! Reading ipvsadm text: every option, every refusal with its line.

use crate::ipvsadm::parse;
use crate::model::Spec;

fn spec(json: &str) -> Spec {
    Spec::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("bad expected spec {json}: {e}"))
}

/// One service, as JSON, in a spec of its own.
fn one(service_json: &str) -> Spec {
    spec(&format!(r#"{{"services":[{service_json}]}}"#))
}

#[test]
fn reads_service_options() {
    let cases = [
        (
            "-A -t 10.0.0.1:80",
            r#"{"id":"tcp:10.0.0.1:80","scheduler":"wlc"}"#,
        ),
        (
            "--add-service --tcp-service 10.0.0.1:80 --scheduler rr",
            r#"{"id":"tcp:10.0.0.1:80","scheduler":"rr"}"#,
        ),
        (
            "-At10.0.0.1:80 -srr",
            r#"{"id":"tcp:10.0.0.1:80","scheduler":"rr"}"#,
        ),
        (
            "-A --tcp-service=10.0.0.1:80 --scheduler=lblcr",
            r#"{"id":"tcp:10.0.0.1:80","scheduler":"lblcr"}"#,
        ),
        (
            "-A -u 10.0.0.1:53 -s rr -o",
            r#"{"id":"udp:10.0.0.1:53","scheduler":"rr","one_packet":true}"#,
        ),
        (
            "-A --udp-service 10.0.0.1:53 --ops",
            r#"{"id":"udp:10.0.0.1:53","one_packet":true}"#,
        ),
        (
            "-A --sctp-service 10.0.0.1:3868 -s twos",
            r#"{"id":"sctp:10.0.0.1:3868","scheduler":"twos"}"#,
        ),
        ("-A -f 7", r#"{"id":"fwmark:7"}"#),
        ("-A -f 7 -6 -o", r#"{"id":"fwmark6:7","one_packet":true}"#),
        (
            "-A --fwmark-service 4294967295 --ipv6",
            r#"{"id":"fwmark6:4294967295"}"#,
        ),
        // ipvsadm's default is libipvs's IPVS_SVC_PERSISTENT_TIMEOUT, 6 minutes.
        (
            "-A -t 10.0.0.1:80 -p",
            r#"{"id":"tcp:10.0.0.1:80","persistence":{"timeout":360}}"#,
        ),
        (
            "-A -t 10.0.0.1:80 -p -s rr",
            r#"{"id":"tcp:10.0.0.1:80","scheduler":"rr","persistence":{"timeout":360}}"#,
        ),
        (
            "-A -t 10.0.0.1:80 --persistent 600",
            r#"{"id":"tcp:10.0.0.1:80","persistence":{"timeout":600}}"#,
        ),
        (
            "-A -t 10.0.0.1:80 -p600",
            r#"{"id":"tcp:10.0.0.1:80","persistence":{"timeout":600}}"#,
        ),
        (
            "-A -t 10.0.0.1:80 -p 600 -M 255.255.255.0",
            r#"{"id":"tcp:10.0.0.1:80","persistence":{"timeout":600,"netmask":24}}"#,
        ),
        (
            "-A -t 10.0.0.1:80 --netmask 0.0.0.0 -p 1",
            r#"{"id":"tcp:10.0.0.1:80","persistence":{"timeout":1,"netmask":0}}"#,
        ),
        (
            "-A -t [2001:db8::1]:80 -p 60 -M 64",
            r#"{"id":"tcp:[2001:db8::1]:80","persistence":{"timeout":60,"netmask":64}}"#,
        ),
        (
            "-A -f 3 -6 -p -M 48",
            r#"{"id":"fwmark6:3","persistence":{"timeout":360,"netmask":48}}"#,
        ),
        // A mask without persistence: ipvsadm takes it, nothing reads it.
        (
            "-A -t 10.0.0.1:80 -M 255.255.255.0",
            r#"{"id":"tcp:10.0.0.1:80"}"#,
        ),
        (
            "-A -t 10.0.0.1:0 -p",
            r#"{"id":"tcp:10.0.0.1:0","persistence":{"timeout":360}}"#,
        ),
        (
            "-A -t 10.0.0.1 -p",
            r#"{"id":"tcp:10.0.0.1:0","persistence":{"timeout":360}}"#,
        ),
        (
            "-A -t 2001:db8::1 -p",
            r#"{"id":"tcp:[2001:db8::1]:0","persistence":{"timeout":360}}"#,
        ),
        ("-A -t 10.0.0.1:https", r#"{"id":"tcp:10.0.0.1:443"}"#),
        (
            "-A -u [2001:db8::53]:domain",
            r#"{"id":"udp:[2001:db8::53]:53"}"#,
        ),
        (
            "-A -t 10.0.0.1:80 -p --pe sip",
            r#"{"id":"tcp:10.0.0.1:80","persistence":{"timeout":360},"persistence_engine":"sip"}"#,
        ),
        (
            "-A -t 10.0.0.1:80 -s sh -b sh-fallback,sh-port",
            r#"{"id":"tcp:10.0.0.1:80","scheduler":"sh","sched_flags":["sh-fallback","sh-port"]}"#,
        ),
        (
            "-A -t 10.0.0.1:80 -b mh-port -s mh",
            r#"{"id":"tcp:10.0.0.1:80","scheduler":"mh","sched_flags":["mh-port"]}"#,
        ),
        (
            "-A -t 10.0.0.1:80 -s mh --sched-flags flag-1,flag-2",
            r#"{"id":"tcp:10.0.0.1:80","scheduler":"mh","sched_flags":["mh-fallback","mh-port"]}"#,
        ),
        (
            "-A -t 10.0.0.1:80 -s sh -b ''",
            r#"{"id":"tcp:10.0.0.1:80","scheduler":"sh"}"#,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text), Ok(one(expected)), "{text}");
    }
}

const VIP: &str = "-A -t 10.0.0.1:80\n";

#[test]
fn reads_server_options() {
    let service = |servers: &str| {
        one(&format!(
            r#"{{"id":"tcp:10.0.0.1:80","servers":[{servers}]}}"#
        ))
    };
    let cases = [
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1",
            r#"{"id":"10.0.1.1:80","forwarding":"dr","weight":1}"#,
        ),
        // dr and tun keep the virtual port whatever is written.
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -g",
            r#"{"id":"10.0.1.1:80","forwarding":"dr"}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -i",
            r#"{"id":"10.0.1.1:80","forwarding":"tun"}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 0",
            r#"{"id":"10.0.1.1:8080","forwarding":"nat","weight":0}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -m",
            r#"{"id":"10.0.1.1:80","forwarding":"nat"}"#,
        ),
        (
            "--add-server --tcp-service 10.0.0.1:80 --real-server 10.0.1.1:81 --masquerading --weight 65535 --u-threshold 10 --l-threshold 5",
            r#"{"id":"10.0.1.1:81","forwarding":"nat","weight":65535,"upper_threshold":10,"lower_threshold":5}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -x 2147483647",
            r#"{"id":"10.0.1.1:80","upper_threshold":2147483647}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -mw3",
            r#"{"id":"10.0.1.1:80","forwarding":"nat","weight":3}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 --ipip --tun-type ipip",
            r#"{"id":"10.0.1.1:80","forwarding":"tun"}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 6080",
            r#"{"id":"10.0.1.1:80","forwarding":"tun","tunnel":{"type":"gue","port":6080}}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 6080 --tun-remcsum",
            r#"{"id":"10.0.1.1:80","forwarding":"tun","tunnel":{"type":"gue","port":6080,"checksum":"remcsum"}}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gre --tun-csum",
            r#"{"id":"10.0.1.1:80","forwarding":"tun","tunnel":{"type":"gre","checksum":"csum"}}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gre --tun-nocsum",
            r#"{"id":"10.0.1.1:80","forwarding":"tun","tunnel":{"type":"gre"}}"#,
        ),
        // Only tunnels cross address families.
        (
            "-a -t 10.0.0.1:80 -r [2001:db8::2]:80 -i",
            r#"{"id":"[2001:db8::2]:80","forwarding":"tun"}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 2001:db8::2 -i",
            r#"{"id":"[2001:db8::2]:80","forwarding":"tun"}"#,
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1:www -m",
            r#"{"id":"10.0.1.1:80","forwarding":"nat"}"#,
        ),
    ];
    for (line, expected) in cases {
        let text = format!("{VIP}{line}");
        assert_eq!(parse(&text), Ok(service(expected)), "{line}");
    }

    // A fwmark service has no port: real server ports stay as written, 0 by default.
    let text = "-A -f 7\n-a -f 7 -r 10.0.1.1:8080 -g\n-a -f 7 -r 10.0.1.2\n-A -f 7 -6\n-a -f 7 -6 -r [2001:db8::9]:443 -m";
    let expected = spec(
        r#"{"services":[
            {"id":"fwmark:7","servers":[{"id":"10.0.1.1:8080"},{"id":"10.0.1.2:0"}]},
            {"id":"fwmark6:7","servers":[{"id":"[2001:db8::9]:443","forwarding":"nat"}]}]}"#,
    );
    assert_eq!(parse(text), Ok(expected));
}

#[test]
fn edits_replace_every_option() {
    let text = "\
-A -t 10.0.0.1:80 -s wrr -p 600
-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3 -x 100 -y 10
-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m
# -E is the kernel's SET_SERVICE: what is not given returns to its default.
-E -t 10.0.0.1:80 -s rr
# -e likewise: weight back to 1, thresholds dropped.
-e -t 10.0.0.1:80 -r 10.0.1.1:8080 -m
-d -t 10.0.0.1:80 -r 10.0.1.2:8080
";
    let expected = one(
        r#"{"id":"tcp:10.0.0.1:80","scheduler":"rr","servers":[{"id":"10.0.1.1:8080","forwarding":"nat"}]}"#,
    );
    assert_eq!(parse(text), Ok(expected));

    // -e may change the forwarding method, and with it the port of dr.
    let text = "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1 -m\n-e -t 10.0.0.1:80 -r 10.0.1.1:80 -i --tun-type gre";
    let expected = one(
        r#"{"id":"tcp:10.0.0.1:80","servers":[{"id":"10.0.1.1:80","forwarding":"tun","tunnel":{"type":"gre"}}]}"#,
    );
    assert_eq!(parse(text), Ok(expected));
}

#[test]
fn deletes_clears_timeouts_and_daemons() {
    let text = "\
--set 900 120 300
--start-daemon master --mcast-interface eth1 --syncid 7 --sync-maxlen 1400 --mcast-group 239.1.1.1 --mcast-port 8848 --mcast-ttl 2
--start-daemon backup
-A -t 10.0.0.1:80
-A -u 10.0.0.1:53
-a -u 10.0.0.1:53 -r 10.0.1.1
-D -t 10.0.0.1:80
# 0 leaves a timeout as it was.
--set 0 60 0
";
    let expected = spec(
        r#"{
        "services":[{"id":"udp:10.0.0.1:53","servers":[{"id":"10.0.1.1:53"}]}],
        "timeouts":{"tcp":900,"tcpfin":60,"udp":300},
        "sync_daemons":[
            {"role":"master","interface":"eth1","syncid":7,"sync_maxlen":1400,"mcast_group":"239.1.1.1","mcast_port":8848,"mcast_ttl":2},
            {"role":"backup","interface":"eth0"}]}"#,
    );
    assert_eq!(parse(text), Ok(expected));

    // -C flushes services only; daemons stop one by one.
    let more = format!("{text}-C\n--stop-daemon master --syncid 7\n");
    let expected = spec(
        r#"{"timeouts":{"tcp":900,"tcpfin":60,"udp":300},"sync_daemons":[{"role":"backup","interface":"eth0"}]}"#,
    );
    assert_eq!(parse(&more), Ok(expected));
}

#[test]
fn reads_scripts_and_save_output_alike() {
    let script = r#"#!/bin/sh
# web farm
ipvsadm -C
ipvsadm -A -t 192.168.31.100:80 -s wrr   # the VIP
/sbin/ipvsadm -a -t 192.168.31.100:80 \
    -r 172.25.0.31:80 -m -w 1
ipvsadm --add-server -t "192.168.31.100:80" -r '172.25.0.32:80' -m -w 2

ipvsadm -Ln
ipvsadm -L -n --stats --exact
ipvsadm -Z
ipvsadm -S -n
ipvsadm
"#;
    let saved = "\
-A -t 192.168.31.100:80 -s wrr
-a -t 192.168.31.100:80 -r 172.25.0.31:80 -m -w 1
-a -t 192.168.31.100:80 -r 172.25.0.32:80 -m -w 2
";
    let expected = one(
        r#"{"id":"tcp:192.168.31.100:80","scheduler":"wrr","servers":[
            {"id":"172.25.0.31:80","forwarding":"nat","weight":1},{"id":"172.25.0.32:80","forwarding":"nat","weight":2}]}"#,
    );
    assert_eq!(parse(script), Ok(expected.clone()));
    assert_eq!(parse(saved), Ok(expected));
    assert_eq!(parse(""), Ok(Spec::default()));
    assert_eq!(parse("# nothing\n\n"), Ok(Spec::default()));
}

#[test]
fn refusals_name_the_line_and_the_words() {
    let cases: &[(&str, usize, &str)] = &[
        // The kernel's refusals.
        (
            "-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80",
            2,
            "`-t 10.0.0.1:80`: service tcp:10.0.0.1:80 already exists",
        ),
        (
            "-E -t 10.0.0.1:80",
            1,
            "`-t 10.0.0.1:80`: no such service tcp:10.0.0.1:80",
        ),
        ("-D -f 1", 1, "`-f 1`: no such service fwmark:1"),
        (
            "-A -f 1\n-Z -f 1\n-Z -f 1 -6",
            3,
            "`-f 1`: no such service fwmark6:1",
        ),
        (
            "-L -n -u 10.0.0.1:53",
            1,
            "`-u 10.0.0.1:53`: no such service udp:10.0.0.1:53",
        ),
        (
            "-A -f 1\n-a -f 1 -6 -r [::2]:0",
            2,
            "`-f 1`: service fwmark6:1 is not defined",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1",
            1,
            "service tcp:10.0.0.1:80 is not defined: add it with -A first",
        ),
        (
            "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1\n-a -t 10.0.0.1:80 -r 10.0.1.1:81",
            3,
            "`-r 10.0.1.1:81`: real server 10.0.1.1:80 already exists in tcp:10.0.0.1:80",
        ),
        (
            "-A -t 10.0.0.1:80\n-e -t 10.0.0.1:80 -r 10.0.1.1",
            2,
            "`-r 10.0.1.1`: no real server 10.0.1.1:80",
        ),
        (
            "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1 -m\n-d -t 10.0.0.1:80 -r 10.0.1.1:81",
            3,
            "no real server 10.0.1.1:81",
        ),
        (
            "--stop-daemon master",
            1,
            "`--stop-daemon master`: no master sync daemon is running",
        ),
        (
            "--start-daemon master\n--start-daemon master",
            2,
            "a master sync daemon is already started",
        ),
        // ipvsadm's option checks.
        (
            "--start-daemon primary",
            1,
            "`--start-daemon primary`: illegal daemon state",
        ),
        (
            "--stop-daemon",
            1,
            "`--stop-daemon`: --stop-daemon needs a value",
        ),
        (
            "-A -t 10.0.0.1:80 -w 3",
            1,
            "`-w 3`: the 'weight' option is not allowed with the 'add-service' command",
        ),
        (
            "-D -t 10.0.0.1:80 -s rr",
            1,
            "`-s rr`: the 'scheduler' option is not allowed with the 'delete-service' command",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -s rr",
            1,
            "not allowed with the 'add-server' command",
        ),
        (
            "-C -t 10.0.0.1:80",
            1,
            "not allowed with the 'flush' command",
        ),
        (
            "--set 1 2 3 -n",
            1,
            "`-n`: the 'numeric' option is not allowed with the 'set' command",
        ),
        (
            "-A -s rr",
            1,
            "`-A`: the 'add-service' command needs the 'service-address' option",
        ),
        (
            "-a -t 10.0.0.1:80",
            1,
            "`-a`: the 'add-server' command needs the 'real-server' option (-r)",
        ),
        (
            "-A -t 10.0.0.1:80 -s rr -s wrr",
            1,
            "`-s wrr`: multiple 'scheduler' options specified",
        ),
        (
            "-A -t 10.0.0.1:80 -u 10.0.0.1:80",
            1,
            "multiple 'service-address' options specified",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -m -g",
            1,
            "`-g`: multiple 'forwarding-method' options specified",
        ),
        ("-A -t 10.0.0.1:80 extra", 1, "`extra`: unexpected argument"),
        ("-R", 1, "`-R`: reads rules from standard input"),
        ("-h", 1, "`-h`: prints ipvsadm's help"),
        ("set -e", 1, "`set`: not an ipvsadm command"),
        (
            "ipvsadm -A -t $VIP:80",
            1,
            "`$`: shell expansions are not performed",
        ),
        ("-A -t 10.0.0.1:80 -q", 1, "`-q`: unknown option"),
        // Values.
        (
            "-A -t 10.0.0.1:80 -s foo",
            1,
            "`-s foo`: unknown scheduler `foo`",
        ),
        (
            "-A -t 10.0.0.1:80 -p 0",
            1,
            "`-p 0`: invalid timeout value: expected a whole number from 1 to 2678400",
        ),
        (
            "-A -t 10.0.0.1:80 -p 2678401",
            1,
            "`-p 2678401`: invalid timeout value",
        ),
        (
            "-A -t 10.0.0.1:80 -p abc",
            1,
            "`-p abc`: invalid timeout value",
        ),
        (
            "-A -t 10.0.0.1:80 -p -M 24",
            1,
            "`-M 24`: illegal persistent mask: IPv4 services take a dotted netmask",
        ),
        (
            "-A -t 10.0.0.1:80 -p -M 255.0.255.0",
            1,
            "`-M 255.0.255.0`: `255.0.255.0` is not a contiguous netmask",
        ),
        (
            "-A -t [::1]:80 -p -M 129",
            1,
            "`-M 129`: prefix length 129 is out of range",
        ),
        (
            "-A -t [::1]:80 -p -M 0",
            1,
            "`-M 0`: prefix length 0 is out of range",
        ),
        (
            "-A -t [::1]:80 -p -M ffff::",
            1,
            "`-M ffff::`: illegal IPv6 netmask",
        ),
        (
            "-A -t 10.0.0.1:0",
            1,
            "`-t 10.0.0.1:0`: port 0 (all ports) is only allowed for persistent services",
        ),
        (
            "-A -t 10.0.0.1:80 -o",
            1,
            "`-o`: one-packet scheduling is only for UDP services",
        ),
        (
            "-A -t 10.0.0.1:80 --pe sip",
            1,
            "`--pe sip`: a persistence engine needs persistence",
        ),
        (
            "-A -t 10.0.0.1:80 -p --pe foo",
            1,
            "`--pe foo`: unknown persistence engine",
        ),
        (
            "-A -t 10.0.0.1:80 -b sh-port",
            1,
            "`-b sh-port`: flag `sh-port` belongs to the sh scheduler, but the service uses wlc",
        ),
        (
            "-A -t 10.0.0.1:80 -s rr -b flag-1",
            1,
            "`-b flag-1`: `flag-1`: lvsd keeps scheduler flags for sh and mh only",
        ),
        (
            "-A -t 10.0.0.1:80 -s sh -b flag-3",
            1,
            "`-b flag-3`: `flag-3`",
        ),
        (
            "-A -t 10.0.0.1:80 -s sh -b sh-bogus",
            1,
            "unknown scheduler flag `sh-bogus`",
        ),
        (
            "-A -t web.example.com:80",
            1,
            "`web.example.com` is a host name: lvsd reads numeric addresses only",
        ),
        ("-A -t 10.0.0.1:80x", 1, "`80x` is not a port"),
        ("-A -t 10.0.0.1:99999", 1, "`99999` is not a port"),
        ("-A -t 10.0.0.1:", 1, "`` is not a port"),
        (
            "-A -t 80",
            1,
            "`-t 80`: illegal virtual server address[:port]: expected ADDRESS[:PORT]",
        ),
        (
            "-A -t [10.0.0.1]:80",
            1,
            "brackets are for IPv6 addresses only",
        ),
        (
            "-A -t [2001:db8::1]",
            1,
            "expected `:PORT` after `[ADDRESS]`",
        ),
        ("-A -t [2001:db8::1:80", 1, "missing `]`"),
        (
            "-A -t 2001:db8::1:80:x",
            1,
            "is not an address (write IPv6 as [ADDRESS]:PORT)",
        ),
        ("-A -t 10.1:80", 1, "`10.1` is not a dotted IPv4 address"),
        ("-A -t 0.0.0.0:80", 1, "0.0.0.0 cannot be a virtual address"),
        ("-A -f 0", 1, "`-f 0`: invalid fwmark value"),
        ("-A -f 4294967296", 1, "invalid fwmark value"),
        ("-A -f x", 1, "invalid fwmark value"),
        ("-A -6 -f 1", 1, "`-6`: -6 used before -f"),
        ("-A -t 10.0.0.1:80 -6", 1, "`-6`: -6 used before -f"),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -w 65536",
            1,
            "`-w 65536`: illegal weight: expected a whole number from 0 to 65535",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -w -1",
            1,
            "`-w -1`: illegal weight",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -x 2147483648",
            1,
            "`-x 2147483648`: illegal u_threshold",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -y x",
            1,
            "`-y x`: illegal l_threshold",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -x 10 -y 11",
            1,
            "`-y 11`: 11 is above the upper threshold 10",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -y 5",
            1,
            "`-y 5`: 5 is above the upper threshold 0",
        ),
        (
            "-a -t 10.0.0.1:80 -r [2001:db8::2]:80 -m",
            1,
            "`-r [2001:db8::2]:80`: 2001:db8::2 is ipv6 but the service is ipv4",
        ),
        (
            "-a -f 1 -r [2001:db8::2]:80",
            1,
            "`-r [2001:db8::2]:80`: 2001:db8::2 is ipv6 but the service is ipv4",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -m --tun-type gre",
            1,
            "`--tun-type gre`: tunnel options conflict with the forwarding method",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 --tun-nocsum",
            1,
            "`--tun-nocsum`: tunnel options conflict",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type vxlan",
            1,
            "`--tun-type vxlan`: illegal tunnel type",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue",
            1,
            "`--tun-type gue`: the 'gue' tunnel type needs the 'tun-port' option",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-port 1",
            1,
            "`--tun-port 1`: not allowed with the 'ipip' tunnel type",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-csum",
            1,
            "`--tun-csum`: not allowed with the 'ipip' tunnel type",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gre --tun-remcsum",
            1,
            "`--tun-remcsum`: not allowed with the 'gre' tunnel type",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 1 --tun-csum --tun-remcsum",
            1,
            "`--tun-remcsum`: conflicts with --tun-csum in the 'gue' tunnel type",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 0",
            1,
            "`--tun-port 0`: illegal tunnel port",
        ),
        (
            "-a -t 10.0.0.1:80 -r 0.0.0.0 -m",
            1,
            "`-r 0.0.0.0`: 0.0.0.0 is the unspecified address",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1:x -m",
            1,
            "`-r 10.0.1.1:x`: illegal real server address[:port]: `x` is not a port",
        ),
        (
            "--set 1 2",
            1,
            "`--set`: needs 3 timeout values: tcp tcpfin udp",
        ),
        ("--set 1 2 3 4", 1, "`4`: unexpected argument"),
        ("--set 1 x 3", 1, "`x`: invalid timeout value"),
        ("--set 2678401 0 0", 1, "`2678401`: invalid timeout value"),
        (
            "--start-daemon master --syncid 256",
            1,
            "`--syncid 256`: illegal syncid",
        ),
        (
            "--start-daemon master --mcast-interface averyveryverylongname",
            1,
            "`--mcast-interface averyveryverylongname`: `averyveryverylongname` is not an interface name",
        ),
        (
            "--start-daemon master --mcast-group 10.0.0.1",
            1,
            "`--mcast-group 10.0.0.1`: 10.0.0.1 is not a multicast address",
        ),
        (
            "--start-daemon master --mcast-group foo",
            1,
            "`--mcast-group foo`: invalid mcast-group",
        ),
        (
            "--start-daemon master --mcast-port 0",
            1,
            "`--mcast-port 0`: illegal mcast-port",
        ),
        (
            "--start-daemon master --mcast-ttl 256",
            1,
            "`--mcast-ttl 256`: illegal mcast-ttl",
        ),
        (
            "--start-daemon master --sync-maxlen 65508",
            1,
            "`--sync-maxlen 65508`: illegal sync-maxlen",
        ),
        (
            "--stop-daemon backup --syncid x",
            1,
            "`--syncid x`: illegal syncid",
        ),
        // Lines count from 1, continuations and comments included.
        (
            "# header\n\n-A \\\n  -t 10.0.0.1:80 \\\n  -s foo",
            5,
            "`-s foo`: unknown scheduler",
        ),
        ("-C\n-A -t 10.0.0.1:80 \\\n -p 0 -s rr", 3, "`-p 0`"),
    ];
    for (text, line, needle) in cases {
        let err = parse(text).expect_err(text);
        assert_eq!(err.line, *line, "{text}: {err}");
        assert!(
            err.message.contains(needle),
            "{text}:\n  got:  {err}\n  want: {needle}"
        );
    }
}

#[test]
fn refusals_become_field_errors() {
    let err = parse("-C\n-A -t 10.0.0.1:80 -s foo").unwrap_err();
    assert_eq!(err.to_string(), format!("line 2: {}", err.message));
    let field: crate::model::ValidationError = err.clone().into();
    assert_eq!(field.field, "line 2");
    assert_eq!(field.message, err.message);
}

/// Big directors keep thousands of servers: reading stays linear-ish.
#[test]
fn reads_large_scripts() {
    let mut text = String::new();
    for s in 0..500 {
        let vip = format!("10.0.{}.{}:80", s / 250, s % 250 + 1);
        text += &format!("-A -t {vip} -s wrr\n");
        for r in 0..20 {
            text += &format!("-a -t {vip} -r 172.16.{}.{} -m -w {r}\n", s % 250, r + 1);
        }
    }
    let spec = parse(&text).unwrap();
    assert_eq!((spec.services().len(), spec.server_count()), (500, 10_000));
}
