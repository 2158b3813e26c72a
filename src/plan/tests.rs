//! Each planning rule on a literal case: the plan's lines (one per change,
//! as operators read them), and for some the exact kernel operations.
//!
//! `check` also applies every plan to a `MemoryTable` holding the actual
//! table and plans again, so every case proves the plan runs on the kernel's
//! semantics and leaves nothing to do.

use std::collections::BTreeSet;

use super::*;
use crate::ipvs::memory::Conns;
use crate::ipvs::{
    Daemon, Dest, DestKey, IpvsTable, MemoryTable, Op, Service, Timeouts, fwd, svc_flags,
};
use crate::model::DaemonRole;

const WEB: &str = "tcp:192.168.31.100:80";

/// The NAT cluster of the design: one wrr service with three weighted servers.
const NAT: &str = r#"{
    "services": [{
        "id": "tcp:192.168.31.100:80", "scheduler": "wrr",
        "servers": [
            {"address": "172.25.0.31", "forwarding": "nat", "weight": 1},
            {"address": "172.25.0.32", "forwarding": "nat", "weight": 2},
            {"address": "172.25.0.33", "forwarding": "nat", "weight": 3}
        ]
    }]
}"#;

fn spec(json: &str) -> Spec {
    Spec::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{json}"))
}

fn key(id: &str) -> ServiceKey {
    id.parse().unwrap()
}

fn dest_key(addr: &str) -> DestKey {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    DestKey {
        addr: addr.ip(),
        port: addr.port(),
    }
}

/// A fresh kernel's table after `json` was applied to it.
fn table_with(json: &str) -> MemoryTable {
    let mut table = MemoryTable::new();
    let ops = plan(&table.snapshot_now(), &spec(json), &PlanOptions::default()).into_ops();
    table.apply(&ops).unwrap();
    table
}

fn lines(plan: &Plan) -> Vec<String> {
    plan.to_string().lines().map(str::to_string).collect()
}

fn whole_table() -> PlanOptions {
    PlanOptions::default()
}

fn draining() -> PlanOptions {
    PlanOptions {
        drain: true,
        ..PlanOptions::default()
    }
}

/// Plans `desired` over `table`, checks the plan reads `expected`, applies
/// it, and checks that planning again leaves nothing to do (drains aside).
fn check(table: &mut MemoryTable, desired: &str, options: &PlanOptions, expected: &[&str]) -> Plan {
    let desired = spec(desired);
    let plan = plan(&table.snapshot_now(), &desired, options);
    assert_eq!(lines(&plan), expected, "\nplan:\n{plan}");
    table
        .apply(plan.ops())
        .unwrap_or_else(|e| panic!("{e}\nplan:\n{plan}"));
    if !options.drain {
        let again = super::plan(&table.snapshot_now(), &desired, options);
        assert!(again.is_empty(), "planning again gave:\n{again}");
    }
    plan
}

#[test]
fn services_come_before_their_servers_and_globals_last() {
    let mut table = MemoryTable::new();
    let desired = r#"{
        "services": [
            {"id": "udp:192.168.31.100:53", "scheduler": "rr", "servers": [{"address": "172.25.0.31", "forwarding": "dr"}]},
            {"id": "tcp:192.168.31.100:80", "scheduler": "wrr", "servers": [{"address": "172.25.0.31", "port": 8080, "forwarding": "nat", "weight": 2}]}
        ],
        "timeouts": {"tcp": 900, "udp": 60},
        "sync_daemons": [{"role": "master", "interface": "eth0", "syncid": 7}]
    }"#;
    let plan = check(
        &mut table,
        desired,
        &whole_table(),
        &[
            "+ service tcp 192.168.31.100:80 wrr",
            "+ real server 172.25.0.31:8080 to tcp 192.168.31.100:80: nat weight 2",
            "+ service udp 192.168.31.100:53 rr",
            "+ real server 172.25.0.31:53 to udp 192.168.31.100:53: dr weight 1",
            "~ timeouts: udp 300s -> 60s",
            "+ sync daemon master on eth0 syncid 7",
        ],
    );
    let web = key(WEB);
    let first_dest = Dest {
        key: dest_key("172.25.0.31:8080"),
        fwd_method: fwd::MASQ,
        weight: 2,
        u_threshold: 0,
        l_threshold: 0,
        tun_type: 0,
        tun_port: 0,
        tun_flags: 0,
    };
    assert_eq!(
        plan.ops()[..2],
        [
            Op::AddService(Service {
                key: web,
                scheduler: "wrr".into(),
                flags: 0,
                timeout: 0,
                netmask: u32::MAX,
                pe_name: None,
            }),
            Op::AddDest(web, first_dest),
        ]
    );
    // Only the timeouts the spec sets are sent; 0 leaves tcpfin as the kernel has it.
    assert_eq!(
        plan.ops()[4],
        Op::SetTimeouts(Timeouts {
            tcp: 900,
            tcp_fin: 0,
            udp: 60
        })
    );
    assert_eq!(
        plan.summary().to_string(),
        "2 services added, 2 real servers added, timeouts changed, 1 sync daemon started"
    );
}

#[test]
fn a_matching_table_needs_nothing() {
    let mut table = table_with(NAT);
    let plan = check(&mut table, NAT, &whole_table(), &[]);
    assert!(plan.is_empty());
    assert_eq!(plan.summary().to_string(), "no changes");
    assert!(plan.drift().is_empty());
}

#[test]
fn servers_are_edited_in_place() {
    let mut table = table_with(NAT);
    let desired = NAT
        .replace(
            r#""172.25.0.31", "forwarding": "nat", "weight": 1"#,
            r#""172.25.0.31", "forwarding": "nat", "weight": 2"#,
        )
        .replace(
            r#""172.25.0.32", "forwarding": "nat", "weight": 2"#,
            r#""172.25.0.32", "forwarding": "dr", "weight": 2, "upper_threshold": 100"#,
        );
    let plan = check(
        &mut table,
        &desired,
        &whole_table(),
        &[
            "~ real server 172.25.0.31:80 of tcp 192.168.31.100:80: weight 1 -> 2",
            "~ real server 172.25.0.32:80 of tcp 192.168.31.100:80: forwarding nat -> dr, upper threshold 0 -> 100",
        ],
    );
    assert!(plan.ops().iter().all(|op| matches!(op, Op::EditDest(..))));
    assert_eq!(plan.summary().servers_changed, 2);
}

#[test]
fn services_are_edited_in_place() {
    let mut table = table_with(NAT);
    let desired = NAT.replace(
        r#""scheduler": "wrr","#,
        r#""scheduler": "rr", "persistence": {"timeout": 300, "netmask": 24},"#,
    );
    check(
        &mut table,
        &desired,
        &whole_table(),
        &[
            "~ service tcp 192.168.31.100:80: scheduler wrr -> rr, flags none -> persistent, timeout 0s -> 300s, \
           netmask 255.255.255.255 -> 255.255.255.0",
        ],
    );
}

#[test]
fn persistence_engine_changes_in_place() {
    // SET_SERVICE rebinds the persistence engine (ip_vs_edit_service), so
    // adding or dropping `sip` needs no delete and re-add.
    let plain = r#"{"services": [{"id": "udp:10.0.0.1:5060", "scheduler": "rr", "persistence": {"timeout": 60},
        "servers": [{"address": "172.25.0.31"}]}]}"#;
    let sip = plain.replace(
        r#""persistence": {"timeout": 60},"#,
        r#""persistence": {"timeout": 60}, "persistence_engine": "sip","#,
    );
    let mut table = table_with(plain);
    check(
        &mut table,
        &sip,
        &whole_table(),
        &["~ service udp 10.0.0.1:5060: pe none -> sip"],
    );
    check(
        &mut table,
        plain,
        &whole_table(),
        &["~ service udp 10.0.0.1:5060: pe sip -> none"],
    );
}

#[test]
fn new_servers_come_before_leaving_ones() {
    let mut table = table_with(NAT);
    let desired = NAT
        .replace(
            r#"{"address": "172.25.0.31", "forwarding": "nat", "weight": 1},"#,
            "",
        )
        .replace(
            r#""172.25.0.33", "forwarding": "nat", "weight": 3}"#,
            r#""172.25.0.33", "forwarding": "nat", "weight": 3},
            {"address": "172.25.0.34", "forwarding": "nat", "weight": 3}"#,
        );
    check(
        &mut table,
        &desired,
        &whole_table(),
        &[
            "+ real server 172.25.0.34:80 to tcp 192.168.31.100:80: nat weight 3",
            "- real server 172.25.0.31:80 from tcp 192.168.31.100:80",
        ],
    );
}

#[test]
fn leaving_services_go_first_with_their_servers() {
    let mut table = table_with(NAT);
    let desired = r#"{"services": [{"id": "tcp:192.168.31.101:443", "scheduler": "wlc",
        "servers": [{"address": "172.25.0.31"}]}]}"#;
    let plan = check(
        &mut table,
        desired,
        &whole_table(),
        &[
            "- service tcp 192.168.31.100:80 and its 3 real servers",
            "+ service tcp 192.168.31.101:443 wlc",
            "+ real server 172.25.0.31:443 to tcp 192.168.31.101:443: dr weight 1",
        ],
    );
    // One DELETE_SERVICE takes the servers with it: deleting them one by one
    // first would crowd the traffic onto the last ones.
    assert_eq!(plan.ops()[0], Op::DelService(key(WEB)));
    assert_eq!(plan.summary().servers_removed, 3);
}

#[test]
fn odd_kernel_values_are_edited_to_the_spec() {
    // What another tool may leave: an unknown scheduler, a weight above the
    // model's 65535, stray flags and tunnel settings on a NAT server.
    let web = key(WEB);
    let mut table = table_with(NAT).with_schedulers(["wrr", "foo"]);
    let odd_service = Service {
        key: web,
        scheduler: "foo".into(),
        flags: svc_flags::ONEPACKET,
        timeout: 17,
        netmask: u32::MAX,
        pe_name: None,
    };
    let snapshot = table.snapshot_now();
    let odd_dest = Dest {
        weight: 70_000,
        tun_type: 1,
        tun_port: 6080,
        ..snapshot.services[0].dests[0].dest
    };
    table
        .apply(&[Op::EditService(odd_service), Op::EditDest(web, odd_dest)])
        .unwrap();
    check(
        &mut table,
        NAT,
        &whole_table(),
        &[
            "~ service tcp 192.168.31.100:80: scheduler foo -> wrr, flags one-packet -> none, timeout 17s -> 0s",
            "~ real server 172.25.0.31:80 of tcp 192.168.31.100:80: forwarding nat gue port 6080 -> nat, weight 70000 -> 1",
        ],
    );
}

#[test]
fn timeouts_change_only_where_the_spec_says() {
    let mut table = MemoryTable::new();
    // The kernel has 900/120/300: setting tcp to 900 is no change.
    check(
        &mut table,
        r#"{"timeouts": {"tcp": 900}}"#,
        &whole_table(),
        &[],
    );
    let plan = check(
        &mut table,
        r#"{"timeouts": {"tcp": 900, "tcpfin": 30}}"#,
        &whole_table(),
        &["~ timeouts: tcpfin 120s -> 30s"],
    );
    assert_eq!(
        plan.ops(),
        [Op::SetTimeouts(Timeouts {
            tcp: 900,
            tcp_fin: 30,
            udp: 0
        })]
    );
    // A spec without timeouts leaves the kernel's alone.
    check(&mut table, "{}", &whole_table(), &[]);
    assert_eq!(
        table.snapshot_now().timeouts,
        Timeouts {
            tcp: 900,
            tcp_fin: 30,
            udp: 300
        }
    );
}

#[test]
fn daemons_start_stop_and_restart() {
    let mut table = MemoryTable::new();
    let master = r#"{"sync_daemons": [{"role": "master", "interface": "eth0", "syncid": 7}]}"#;
    check(
        &mut table,
        master,
        &whole_table(),
        &["+ sync daemon master on eth0 syncid 7"],
    );
    // The kernel reports its defaults (port 8848, ...): a spec that leaves them out matches.
    assert_eq!(table.snapshot_now().daemons[0].mcast_port, Some(8848));
    check(&mut table, master, &whole_table(), &[]);

    let moved = r#"{"sync_daemons": [{"role": "master", "interface": "eth1", "syncid": 7, "mcast_port": 9000},
                                      {"role": "backup", "interface": "eth1", "syncid": 7}]}"#;
    let plan = check(
        &mut table,
        moved,
        &whole_table(),
        &[
            "~ sync daemon master (restarted): interface eth0 -> eth1, port 8848 -> 9000",
            "+ sync daemon backup on eth1 syncid 7",
        ],
    );
    assert!(matches!(
        plan.ops()[..],
        [
            Op::StopDaemon(DaemonRole::Master),
            Op::StartDaemon(_),
            Op::StartDaemon(_)
        ]
    ));

    let plan = check(
        &mut table,
        "{}",
        &whole_table(),
        &[
            "- sync daemon master on eth1 syncid 7 maxlen 1472 group 224.0.0.81 port 9000 ttl 1",
            "- sync daemon backup on eth1 syncid 7 maxlen 1472 group 224.0.0.81 port 8848 ttl 1",
        ],
    );
    assert_eq!(plan.summary().daemons_stopped, 2);
}

#[test]
fn a_daemon_stops_before_and_starts_after_mixed_family_servers() {
    // The kernel refuses real servers of another family while a sync daemon
    // runs, and a daemon while such servers exist.
    let mixed = r#"{"services": [{"id": "tcp:192.168.31.100:80", "servers": [
        {"address": "2001:db8::7", "forwarding": "tun"}]}]}"#;
    let with_daemon = r#"{"services": [{"id": "tcp:192.168.31.100:80", "servers": [
        {"address": "172.25.0.31", "forwarding": "tun"}]}],
        "sync_daemons": [{"role": "backup", "interface": "eth0"}]}"#;
    let mut table = table_with(with_daemon);
    check(
        &mut table,
        mixed,
        &whole_table(),
        &[
            "- sync daemon backup on eth0 syncid 0 maxlen 1472 group 224.0.0.81 port 8848 ttl 1",
            "+ real server [2001:db8::7]:80 to tcp 192.168.31.100:80: tun ipip weight 1",
            "- real server 172.25.0.31:80 from tcp 192.168.31.100:80",
        ],
    );
    check(
        &mut table,
        with_daemon,
        &whole_table(),
        &[
            "+ real server 172.25.0.31:80 to tcp 192.168.31.100:80: tun ipip weight 1",
            "- real server [2001:db8::7]:80 from tcp 192.168.31.100:80",
            "+ sync daemon backup on eth0 syncid 0",
        ],
    );
}

#[test]
fn a_daemon_waits_for_mixed_family_servers_to_drain() {
    let mixed = r#"{"services": [{"id": "tcp:192.168.31.100:80", "servers": [
        {"address": "2001:db8::7", "forwarding": "tun"}]}]}"#;
    let with_daemon = r#"{"services": [{"id": "tcp:192.168.31.100:80", "servers": []}],
        "sync_daemons": [{"role": "backup", "interface": "eth0"}]}"#;
    let mut table = table_with(mixed);
    let plan = check(
        &mut table,
        with_daemon,
        &draining(),
        &[
            "~ real server [2001:db8::7]:80 of tcp 192.168.31.100:80: weight 1 -> 0, draining (leaves the spec; 0 connections)",
            "! not yet: + sync daemon backup on eth0 syncid 0: real server [2001:db8::7]:80 of tcp 192.168.31.100:80 \
             is ipv6 in an ipv4 service (draining), and the kernel cannot sync services that mix address families",
        ],
    );
    assert_eq!(plan.deferred().len(), 1);
    check(
        &mut table,
        with_daemon,
        &draining(),
        &[
            "- real server [2001:db8::7]:80 from tcp 192.168.31.100:80",
            "+ sync daemon backup on eth0 syncid 0",
        ],
    );
}

#[test]
fn shared_tables_keep_what_lvsd_does_not_own() {
    let both = r#"{"services": [
        {"id": "tcp:192.168.31.100:80", "servers": [{"address": "172.25.0.31"}]},
        {"id": "tcp:192.168.31.101:80", "servers": [{"address": "172.25.0.32"}]},
        {"id": "fwmark:1", "servers": [{"address": "172.25.0.33", "port": 0}]}],
        "sync_daemons": [{"role": "master", "interface": "eth0"}]}"#;
    let mut table = table_with(both);
    let before = table.snapshot_now();
    // lvsd manages :100 and fwmark 1 (which leaves the spec); :101 is someone else's.
    let owned: BTreeSet<ServiceKey> = [key(WEB), key("fwmark:1")].into();
    let options = PlanOptions {
        ownership: Ownership::Only(owned),
        ..PlanOptions::default()
    };
    let desired = r#"{"services": [{"id": "tcp:192.168.31.100:80", "servers": [{"address": "172.25.0.31", "weight": 5}]}]}"#;
    check(
        &mut table,
        desired,
        &options,
        &[
            "- service fwmark 1 and its real server",
            "~ real server 172.25.0.31:80 of tcp 192.168.31.100:80: weight 1 -> 5",
        ],
    );
    let after = table.snapshot_now();
    let other = key("tcp:192.168.31.101:80");
    let find = |s: &Snapshot| s.services.iter().find(|e| e.service.key == other).cloned();
    assert_eq!(
        find(&after),
        find(&before),
        "the unmanaged service is untouched"
    );
    assert_eq!(
        after.daemons, before.daemons,
        "daemons the spec does not list are left alone"
    );
}

#[test]
fn drained_servers_wait_for_their_connections() {
    let mut table = table_with(NAT);
    let (web, leaving) = (key(WEB), dest_key("172.25.0.33:80"));
    table.set_conns(
        &web,
        &leaving,
        Conns {
            active: 4,
            inactive: 1,
            persistent: 0,
        },
    );
    let desired = NAT.replace(
        r#",
            {"address": "172.25.0.33", "forwarding": "nat", "weight": 3}"#,
        "",
    );

    let plan = check(
        &mut table,
        &desired,
        &draining(),
        &[
            "~ real server 172.25.0.33:80 of tcp 192.168.31.100:80: weight 3 -> 0, draining (leaves the spec; 5 connections)",
        ],
    );
    assert_eq!(
        plan.ops(),
        [Op::EditDest(
            web,
            Dest {
                weight: 0,
                ..table.snapshot_now().services[0].dests[2].dest
            }
        )]
    );
    assert_eq!(plan.draining().len(), 1);
    assert_eq!(plan.summary().servers_draining, 1);

    // Connections left: nothing to send, the drain is reported.
    let plan = check(
        &mut table,
        &desired,
        &draining(),
        &[
            "= real server 172.25.0.33:80 of tcp 192.168.31.100:80 draining: 4 active, 1 inactive connections left",
        ],
    );
    assert!(plan.is_empty());
    assert_eq!(plan.drift()[0].kind, DriftKind::Draining);

    // Drained: it goes.
    table.set_conns(&web, &leaving, Conns::default());
    check(
        &mut table,
        &desired,
        &draining(),
        &["- real server 172.25.0.33:80 from tcp 192.168.31.100:80"],
    );
    check(&mut table, &desired, &draining(), &[]);
}

#[test]
fn drains_are_set_per_service_and_end_at_their_deadline() {
    let two = r#"{"services": [
        {"id": "tcp:192.168.31.100:80", "servers": [{"address": "172.25.0.31"}, {"address": "172.25.0.32"}]},
        {"id": "tcp:192.168.31.100:443", "servers": [{"address": "172.25.0.31"}, {"address": "172.25.0.32"}]}
    ]}"#;
    let one_each = two.replace(r#", {"address": "172.25.0.32"}"#, "");
    let (web, tls, leaving) = (
        key(WEB),
        key("tcp:192.168.31.100:443"),
        dest_key("172.25.0.32:443"),
    );
    let mut table = table_with(two);
    table.set_conns(
        &tls,
        &leaving,
        Conns {
            active: 3,
            ..Conns::default()
        },
    );

    // Draining everywhere but port 80, which deletes at once.
    let mut options = draining();
    options.drain_services.insert(web, false);
    assert!(!options.drains(&web) && options.drains(&tls));
    // UDP deletes at once unless named.
    let dns = key("udp:192.168.31.100:53");
    assert!(!options.drains(&dns), "udp drains only when named");
    options.drain_services.insert(dns, true);
    assert!(options.drains(&dns));
    check(
        &mut table,
        &one_each,
        &options,
        &[
            "- real server 172.25.0.32:80 from tcp 192.168.31.100:80",
            "~ real server 172.25.0.32:443 of tcp 192.168.31.100:443: weight 1 -> 0, draining (leaves the spec; 3 connections)",
        ],
    );
    // The deadline passes with connections left: the server goes all the same.
    options.drain_expired.insert((tls, leaving));
    check(
        &mut table,
        &one_each,
        &options,
        &["- real server 172.25.0.32:443 from tcp 192.168.31.100:443"],
    );
    assert!(
        plan(&table.snapshot_now(), &spec(&one_each), &options)
            .draining()
            .is_empty()
    );
}

#[test]
fn a_leaving_service_is_drained_before_it_goes() {
    let mut table = table_with(NAT);
    let web = key(WEB);
    table.set_conns(
        &web,
        &dest_key("172.25.0.32:80"),
        Conns {
            active: 2,
            ..Conns::default()
        },
    );
    let plan = check(
        &mut table,
        "{}",
        &draining(),
        &[
            "~ real server 172.25.0.31:80 of tcp 192.168.31.100:80: weight 1 -> 0, draining (leaves the spec; 0 connections)",
            "~ real server 172.25.0.32:80 of tcp 192.168.31.100:80: weight 2 -> 0, draining (leaves the spec; 2 connections)",
            "~ real server 172.25.0.33:80 of tcp 192.168.31.100:80: weight 3 -> 0, draining (leaves the spec; 0 connections)",
        ],
    );
    assert!(plan.draining().iter().all(|d| d.service_leaves));
    let radius = blast_radius(&plan, &Snapshot::default());
    assert_eq!((radius.services_removed, radius.servers_removed), (1, 3));

    check(
        &mut table,
        "{}",
        &draining(),
        &[
            // Drained servers go at once, as from a service that stays.
            "- real server 172.25.0.31:80 from tcp 192.168.31.100:80",
            "- real server 172.25.0.33:80 from tcp 192.168.31.100:80",
            "= real server 172.25.0.32:80 of tcp 192.168.31.100:80 draining: 2 active, 0 inactive connections left; \
             the service goes once its servers are drained",
        ],
    );
    table.set_conns(&web, &dest_key("172.25.0.32:80"), Conns::default());
    check(
        &mut table,
        "{}",
        &draining(),
        &["- service tcp 192.168.31.100:80 and its real server"],
    );
    assert!(table.snapshot_now().services.is_empty());
}

#[test]
fn blast_radius_counts_what_stops_serving() {
    let two = r#"{"services": [
        {"id": "tcp:192.168.31.100:80", "servers": [{"address": "172.25.0.31"}, {"address": "172.25.0.32", "weight": 0}]},
        {"id": "tcp:192.168.31.101:80", "servers": [{"address": "172.25.0.31"}, {"address": "172.25.0.32"}]}]}"#;
    let table = table_with(two);
    let actual = table.snapshot_now();
    let one = r#"{"services": [{"id": "tcp:192.168.31.100:80", "servers": [{"address": "172.25.0.31"}]}]}"#;
    let plan = plan(&actual, &spec(one), &whole_table());
    let radius = blast_radius(&plan, &actual);
    // The weight-0 server took no new connections: deleting it removes nothing.
    assert_eq!(
        radius,
        BlastRadius {
            services_removed: 1,
            services_total: 2,
            servers_removed: 2,
            servers_total: 4
        }
    );
    assert_eq!(
        (
            radius.services_removed_share(),
            radius.servers_removed_share()
        ),
        (0.5, 0.5)
    );

    let strict = PlanOptions {
        removal_limit: Some(0.3),
        ..PlanOptions::default()
    };
    let err = check_removal_limit(&plan, &actual, &strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the plan takes 1 of 2 services (50%) and 2 of 4 real servers (50%) out of service, above the limit of 30%"
    );
    let lenient = PlanOptions {
        removal_limit: Some(0.5),
        ..PlanOptions::default()
    };
    assert_eq!(check_removal_limit(&plan, &actual, &lenient), Ok(radius));
    assert_eq!(
        blast_radius(&plan, &Snapshot::default()).services_removed_share(),
        0.0
    );
}

#[test]
fn drift_reads_as_differences() {
    let mut table = table_with(NAT);
    table
        .execute(&Op::DelDest(key(WEB), dest_key("172.25.0.31:80")))
        .unwrap();
    table
        .execute(&Op::AddService(Service::from(
            &spec(r#"{"services": [{"id": "fwmark:3"}]}"#).services()[0],
        )))
        .unwrap();
    let desired = NAT.replace(r#""weight": 3"#, r#""weight": 4"#);
    let drifts: Vec<String> = drift(&table.snapshot_now(), &spec(&desired), &whole_table())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        drifts,
        [
            "service fwmark 3: in the kernel, not in the spec",
            "real server 172.25.0.31:80 of tcp 192.168.31.100:80: in the spec, missing from the kernel",
            "real server 172.25.0.33:80 of tcp 192.168.31.100:80: differs from the spec (weight: kernel 3, spec 4)",
        ]
    );
}

#[test]
fn a_failed_plan_reports_where_it_stopped() {
    let mut table = MemoryTable::new();
    table.fail_once(
        |op| matches!(op, Op::AddDest(_, d) if d.weight == 2),
        crate::ipvs::error::errno::ENOMEM,
    );
    let plan = plan(&table.snapshot_now(), &spec(NAT), &whole_table());
    let err = table.apply(plan.ops()).unwrap_err();
    assert_eq!(err.first_failure().unwrap().0, 2);
    assert_eq!(err.applied().count(), 2);
    // Planning again picks up where the failure left off.
    let rest = super::plan(&table.snapshot_now(), &spec(NAT), &whole_table());
    assert_eq!(
        lines(&rest),
        [
            "+ real server 172.25.0.32:80 to tcp 192.168.31.100:80: nat weight 2",
            "+ real server 172.25.0.33:80 to tcp 192.168.31.100:80: nat weight 3",
        ]
    );
}

#[test]
fn daemon_settings_the_spec_leaves_out_match_anything() {
    let running = Daemon {
        role: DaemonRole::Master,
        mcast_ifn: "eth0".into(),
        syncid: 0,
        sync_maxlen: Some(1472),
        mcast_group: Some("224.0.0.81".parse().unwrap()),
        mcast_port: Some(8848),
        mcast_ttl: Some(1),
    };
    let actual = Snapshot {
        daemons: vec![running],
        ..Snapshot::default()
    };
    for (json, restarts) in [
        (r#"{"role": "master", "interface": "eth0"}"#, false),
        (
            r#"{"role": "master", "interface": "eth0", "mcast_group": "224.0.0.81", "mcast_ttl": 1}"#,
            false,
        ),
        (
            r#"{"role": "master", "interface": "eth0", "mcast_ttl": 2}"#,
            true,
        ),
        (
            r#"{"role": "master", "interface": "eth0", "syncid": 1}"#,
            true,
        ),
    ] {
        let desired = spec(&format!(r#"{{"sync_daemons": [{json}]}}"#));
        let plan = plan(&actual, &desired, &whole_table());
        assert_eq!(
            plan.summary().daemons_restarted == 1,
            restarts,
            "{json}: {plan}"
        );
    }
}
