//! Planning, table by table: spec + role in, the plan's lines out.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::{HostPlan, Selector};
use crate::model::Spec;

fn spec(json: &str) -> Spec {
    Spec::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{json}"))
}

fn lines(plan: &HostPlan) -> Vec<String> {
    plan.to_string().lines().map(str::to_string).collect()
}

fn ips(list: &[&str]) -> BTreeSet<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

const DR: &str = r#"{"services": [
    {"id": "tcp:172.25.0.100:80", "servers": [{"address": "172.25.0.31"}, {"address": "172.25.0.32"}]},
    {"id": "tcp:172.25.0.100:443", "servers": [{"address": "172.25.0.31"}]},
    {"id": "tcp:[fd00:25::100]:80", "servers": [{"address": "fd00:25::31"}]}]}"#;

const TUN: &str = r#"{"services": [
    {"id": "udp:192.168.31.100:53", "servers": [{"address": "10.7.0.31", "forwarding": "tun"},
                                                 {"address": "10.7.0.32", "forwarding": "tun", "tunnel": {"type": "gue", "port": 5555}}]}]}"#;

const FULLNAT: &str = r#"{"services": [
    {"id": "tcp:192.168.31.100:80", "servers": [{"address": "10.9.0.31", "port": 8080, "forwarding": "fullnat"},
                                                 {"address": "10.9.0.32", "forwarding": "nat"}]},
    {"id": "fwmark:7", "servers": [{"address": "10.9.0.33", "forwarding": "fullnat"}]}],
    "host": {"snat_address": "10.9.0.1", "directors": {"d2": {"vip_interface": "eth1", "snat_address": "10.9.0.2", "ip_forward": false}}}}"#;

#[test]
fn vrrp_vips_are_left_to_keepalived() {
    let with_ha = |vips: &str| {
        spec(&DR.replace(
            "]}]}",
            &format!(
                r#"]}}], "ha": {{"vrrp": [{{"name": "VI_1", "virtual_router_id": 51, "interface": "br0"{vips}}}]}}}}"#
            ),
        ))
    };
    // Only IPVS's own settings: every VIP is keepalived's.
    assert_eq!(
        lines(&HostPlan::for_director(&with_ha(""), "d1")),
        [RECOMMENDED[2], RECOMMENDED[0], RECOMMENDED[1]]
    );
    assert_eq!(
        lines(&HostPlan::for_director(
            &with_ha(r#", "vips": ["172.25.0.100"]"#),
            "d1"
        )),
        [
            "interface lvs0 up",
            "address fd00:25::100/128 on lvs0",
            RECOMMENDED[2],
            RECOMMENDED[0],
            RECOMMENDED[1]
        ]
    );
}

#[test]
fn director_plans() {
    let cases: [(&str, &str, &str, &[&str]); 5] = [
        ("no services: nothing", "{}", "d1", &[]),
        (
            "dr: VIPs on the dummy lvs0, no forwarding",
            DR,
            "d1",
            &[
                "interface lvs0 up",
                "address 172.25.0.100/32 on lvs0",
                "address fd00:25::100/128 on lvs0",
                RECOMMENDED[2],
                RECOMMENDED[0],
                RECOMMENDED[1],
            ],
        ),
        (
            "vip_interface none binds nothing",
            r#"{"services": [{"id": "tcp:10.0.0.1:80"}], "host": {"vip_interface": "none", "ipvs_sysctls": {"recommended": false}}}"#,
            "d1",
            &[],
        ),
        (
            "fullnat: forwarding, conntrack, source NAT to snat_address",
            FULLNAT,
            "d1",
            &[
                "interface lvs0 up",
                "address 192.168.31.100/32 on lvs0",
                "sysctl net.ipv4.ip_forward=1",
                RECOMMENDED[2],
                "sysctl net.ipv4.vs.conntrack=1",
                RECOMMENDED[0],
                RECOMMENDED[1],
                "source nat tcp:192.168.31.100:80 -> 10.9.0.31:8080 to 10.9.0.1",
                "source nat fwmark:7 -> 10.9.0.33 to 10.9.0.1",
                "# firewall-mark services: lvsd binds no VIP for them (mark the packets and make their addresses local yourself)",
            ],
        ),
        (
            "a director's own interface, address, and forwarding left alone",
            FULLNAT,
            "d2",
            &[
                "interface eth1 up",
                "address 192.168.31.100/32 on eth1",
                RECOMMENDED[2],
                "sysctl net.ipv4.vs.conntrack=1",
                RECOMMENDED[0],
                RECOMMENDED[1],
                "source nat tcp:192.168.31.100:80 -> 10.9.0.31:8080 to 10.9.0.2",
                "source nat fwmark:7 -> 10.9.0.33 to 10.9.0.2",
                "# firewall-mark services: lvsd binds no VIP for them (mark the packets and make their addresses local yourself)",
            ],
        ),
    ];
    for (what, json, name, want) in cases {
        assert_eq!(
            lines(&HostPlan::for_director(&spec(json), name)),
            want,
            "{what}"
        );
    }
}

/// The plan lines of lvsd's recommended IPVS settings, in the plan's order (by path).
const RECOMMENDED: [&str; 3] = [
    "sysctl net.ipv4.vs.expire_nodest_conn=1 (lvsd's recommended value)",
    "sysctl net.ipv4.vs.expire_quiescent_template=1 (lvsd's recommended value)",
    "sysctl net.ipv4.vs.conn_reuse_mode=1 (lvsd's recommended value)",
];

#[test]
fn ipvs_sysctls_of_a_director() {
    let base = r#"{"services": [{"id": "udp:10.0.0.1:53"}], "host": {"vip_interface": "none", "ipvs_sysctls": IPVS}}"#;
    let cases: [(&str, &str, &str, &[&str]); 5] = [
        (
            "left out: lvsd's recommended values",
            "{}",
            "d1",
            &[RECOMMENDED[2], RECOMMENDED[0], RECOMMENDED[1]],
        ),
        (
            "given values win, recommended fill the rest",
            r#"{"expire_nodest_conn": false, "sloppy_tcp": true, "sync_threshold": 1, "sync_period": 10}"#,
            "d1",
            &[
                RECOMMENDED[2],
                "sysctl net.ipv4.vs.expire_nodest_conn=0",
                RECOMMENDED[1],
                "sysctl net.ipv4.vs.sloppy_tcp=1",
                "sysctl net.ipv4.vs.sync_threshold=1 10",
            ],
        ),
        (
            "recommended off: only what is given",
            r#"{"recommended": false, "schedule_icmp": true}"#,
            "d1",
            &["sysctl net.ipv4.vs.schedule_icmp=1"],
        ),
        (
            "a director's own, field by field over the spec's",
            r#"{"recommended": false, "schedule_icmp": true, "conn_reuse_mode": 0}"#,
            "d2",
            &[
                "sysctl net.ipv4.vs.conn_reuse_mode=3",
                "sysctl net.ipv4.vs.schedule_icmp=1",
                "sysctl net.ipv4.vs.sloppy_tcp=1",
            ],
        ),
        (
            "a director the host settings do not name follows the spec",
            r#"{"recommended": false, "conn_reuse_mode": 0}"#,
            "d3",
            &["sysctl net.ipv4.vs.conn_reuse_mode=0"],
        ),
    ];
    for (what, ipvs, name, want) in cases {
        let json = base.replace("IPVS", ipvs).replace(
            r#""vip_interface": "none","#,
            r#""vip_interface": "none", "directors": {"d2": {"ipvs_sysctls": {"conn_reuse_mode": 3, "sloppy_tcp": true}}},"#,
        );
        assert_eq!(
            lines(&HostPlan::for_director(&spec(&json), name)),
            want,
            "{what}"
        );
    }
    assert_eq!(
        lines(&HostPlan::for_director(&spec("{}"), "d1")),
        Vec::<String>::new(),
        "no services, IPVS may not be loaded: no IPVS settings"
    );
}

#[test]
fn vectors_read_back_with_tabs_are_the_same_value() {
    use super::sysctl::same_value;
    assert!(same_value("3\t50", "3 50"));
    assert!(same_value("1", "1"));
    assert!(!same_value("3\t50", "3 40"));
    assert!(!same_value("0", "1"));
}

#[test]
fn nat_forwarding_follows_the_families_of_nat_services() {
    let json = r#"{"services": [{"id": "tcp:[fd00:31::100]:80", "servers": [{"address": "fd00:25::31", "forwarding": "nat"}]}],
                   "host": {"vip_interface": "none", "ipvs_sysctls": {"recommended": false}}}"#;
    assert_eq!(
        lines(&HostPlan::for_director(&spec(json), "d1")),
        ["sysctl net.ipv6.conf.all.forwarding=1"]
    );
    let forced = json.replace(
        r#""vip_interface": "none""#,
        r#""vip_interface": "none", "ip_forward": true"#,
    );
    assert_eq!(
        lines(&HostPlan::for_director(&spec(&forced), "d1")),
        [
            "sysctl net.ipv4.ip_forward=1",
            "sysctl net.ipv6.conf.all.forwarding=1"
        ]
    );
}

#[test]
fn realserver_plans() {
    let arp = [
        "sysctl net.ipv4.conf.all.arp_announce=2",
        "sysctl net.ipv4.conf.all.arp_ignore=1",
        "sysctl net.ipv4.conf.lo.arp_announce=2",
        "sysctl net.ipv4.conf.lo.arp_ignore=1",
    ];
    let cases: Vec<(&str, &str, Selector, Vec<&str>)> = vec![
        (
            "dr: the VIPs of the services this host serves, on lo, ARP quiet",
            DR,
            Selector::LocalAddresses(ips(&["172.25.0.31", "fd00:25::31", "127.0.0.1"])),
            [
                &[
                    "address 172.25.0.100/32 on lo",
                    "address fd00:25::100/128 on lo",
                ][..],
                &arp[..],
            ]
            .concat(),
        ),
        (
            "dr: a host that serves only IPv6",
            DR,
            Selector::LocalAddresses(ips(&["fd00:25::31"])),
            vec!["address fd00:25::100/128 on lo"],
        ),
        (
            "dr: a host that serves nothing",
            DR,
            Selector::LocalAddresses(ips(&["172.25.0.99"])),
            vec![],
        ),
        (
            "--vip picks by virtual address",
            DR,
            Selector::Vips(ips(&["172.25.0.100"])),
            [&["address 172.25.0.100/32 on lo"][..], &arp[..]].concat(),
        ),
        (
            "tun ipip: tunl0 up with the VIP, rp_filter off",
            TUN,
            Selector::LocalAddresses(ips(&["10.7.0.31"])),
            vec![
                "interface tunl0 up",
                "address 192.168.31.100/32 on tunl0",
                "sysctl net.ipv4.conf.all.arp_announce=2",
                "sysctl net.ipv4.conf.all.arp_ignore=1",
                "sysctl net.ipv4.conf.all.rp_filter=0",
                "sysctl net.ipv4.conf.tunl0.arp_announce=2",
                "sysctl net.ipv4.conf.tunl0.arp_ignore=1",
                "sysctl net.ipv4.conf.tunl0.rp_filter=0",
            ],
        ),
        (
            "tun gue: left to the administrator, said so",
            TUN,
            Selector::LocalAddresses(ips(&["10.7.0.32"])),
            vec![
                "# udp:192.168.31.100:53: lvsd sets up ipip tunnels of IPv4 services to IPv4 real servers only: set up the gue tunnel for 10.7.0.32:53 yourself",
            ],
        ),
        (
            "nat and fullnat real servers need nothing; fwmark services are named",
            FULLNAT,
            Selector::LocalAddresses(ips(&["10.9.0.31", "10.9.0.32", "10.9.0.33"])),
            vec![
                "# fwmark:7: a firewall-mark service has no VIP in the spec: bind its addresses yourself",
            ],
        ),
    ];
    for (what, json, selector, want) in cases {
        assert_eq!(
            lines(&HostPlan::for_realserver(&spec(json), &selector)),
            want,
            "{what}"
        );
    }
}

#[test]
fn a_vip_served_by_dr_and_tun_goes_on_lo_once() {
    let json = r#"{"services": [
        {"id": "tcp:10.0.0.100:80", "servers": [{"address": "10.7.0.31"}]},
        {"id": "tcp:10.0.0.100:443", "servers": [{"address": "10.7.0.31", "forwarding": "tun"}]}]}"#;
    let plan =
        HostPlan::for_realserver(&spec(json), &Selector::LocalAddresses(ips(&["10.7.0.31"])));
    let addresses: Vec<String> = plan.addresses.iter().map(ToString::to_string).collect();
    assert_eq!(addresses, ["10.0.0.100/32 on lo"]);
    assert!(plan.links.iter().any(|l| l.name == "tunl0"), "{plan}");
}

#[test]
fn state_files_round_trip_and_vanish_when_empty() {
    use super::{ChangedSysctl, HostState, NftFamily, NftTable, PlannedAddress, Role};
    let dir = tempfile::tempdir().unwrap();
    let fresh = HostState::load(dir.path(), Role::Realserver).unwrap();
    assert!(fresh.records.is_empty());
    let mut state = fresh;
    state.records.addresses.push(PlannedAddress {
        interface: "lo".into(),
        address: "172.25.0.100".parse().unwrap(),
    });
    state.records.sysctls.push(ChangedSysctl {
        path: "net/ipv4/conf/all/arp_ignore".into(),
        previous: "0".into(),
        value: "1".into(),
        reason: "the VIP is the director's on the LAN".into(),
    });
    state.records.nft_tables.push(NftTable {
        family: NftFamily::Ip,
        sha256: "ab".into(),
    });
    state.save().unwrap();
    let path = dir.path().join("realserver.json");
    assert!(path.exists());
    assert_eq!(
        HostState::load(dir.path(), Role::Realserver).unwrap(),
        state
    );
    assert!(
        HostState::load(dir.path(), Role::Director)
            .unwrap()
            .records
            .is_empty(),
        "one file per role"
    );

    state.records = Default::default();
    state.save().unwrap();
    assert!(!path.exists(), "nothing to remember, no file");

    std::fs::write(&path, "not json").unwrap();
    let err = HostState::load(dir.path(), Role::Realserver).unwrap_err();
    assert!(
        err.contains("realserver.json") && err.contains("not a state file"),
        "{err}"
    );
}
