//! Real messages from the kernel: parse them, check every field, rebuild
//! them from lvsd's types as the kernel would, and emit the same bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::fixtures::*;
use super::{as_kernel_sends, decode, encode, ipvs};
use crate::ipvs::netlink::message::{IpvsAttr, IpvsCmd, IpvsMessage};
use crate::ipvs::netlink::{config, daemon, dest, info, service};
use crate::ipvs::types::*;
use crate::model::{AddressFamily, DaemonRole, Protocol, ServiceKey};

fn tcp(addr: &str) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: addr.parse().unwrap(),
    }
}

fn udp(addr: &str) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: addr.parse().unwrap(),
    }
}

/// Parses a NEW_SERVICE message, checks it against `expected`, and checks
/// that the same service rebuilt as the kernel writes it gives the same bytes.
fn check_service(bytes: &[u8], expected: &Service, counters: &Stats) {
    let msg = decode(bytes);
    assert_eq!(ipvs(&msg).cmd, IpvsCmd::NewService);
    let (svc, stats) = service::parse_entry(ipvs(&msg).service().unwrap()).unwrap();
    assert_eq!(&svc, expected);
    assert_eq!(&stats, counters);
    // Emitting what was parsed gives the kernel's bytes back...
    assert_eq!(encode(&msg), bytes);
    // ...and so does building the message from lvsd's types.
    let rebuilt = IpvsMessage::new(
        IpvsCmd::NewService,
        vec![IpvsAttr::Service(service::entry_attrs(&svc, &stats))],
    );
    assert_eq!(as_kernel_sends(rebuilt, msg.header.sequence_number), bytes);
}

fn check_dest(bytes: &[u8], service_af: u16, expected: &DestEntry) {
    let msg = decode(bytes);
    assert_eq!(ipvs(&msg).cmd, IpvsCmd::NewDest);
    let entry = dest::parse_entry(ipvs(&msg).dest().unwrap(), service_af).unwrap();
    assert_eq!(&entry, expected);
    assert_eq!(encode(&msg), bytes);
    let rebuilt = IpvsMessage::new(
        IpvsCmd::NewDest,
        vec![IpvsAttr::Dest(dest::entry_attrs(&entry))],
    );
    assert_eq!(as_kernel_sends(rebuilt, msg.header.sequence_number), bytes);
}

fn no_tunnel(key: DestKey, fwd_method: u32, weight: u32) -> Dest {
    Dest {
        key,
        fwd_method,
        weight,
        u_threshold: 0,
        l_threshold: 0,
        tun_type: 0,
        tun_port: 0,
        tun_flags: 0,
    }
}

#[test]
fn tcp_service_with_counters() {
    let expected = Service {
        key: tcp("192.168.31.100:80"),
        scheduler: "wrr".into(),
        flags: 0, // HASHED masked off
        timeout: 0,
        netmask: 0xffff_ffff,
        pe_name: None,
    };
    let stats = Stats {
        conns: 6,
        inpkts: 37,
        outpkts: 31,
        inbytes: 2434,
        outbytes: 2926,
        cps: 1,
        inpps: 3,
        outpps: 3,
        inbps: 228,
        outbps: 274,
    };
    check_service(&TCP_SERVICE_WITH_STATS, &expected, &stats);
}

#[test]
fn ipv6_service_with_scheduler_flags_and_prefix_netmask() {
    let expected = Service {
        key: udp("[2001:db8::1]:53"),
        scheduler: "sh".into(),
        flags: svc_flags::PERSISTENT | svc_flags::SCHED1 | svc_flags::SCHED2,
        timeout: 600,
        netmask: 64,
        pe_name: None,
    };
    check_service(&IPV6_SH_SERVICE, &expected, &Stats::default());
}

#[test]
fn one_packet_service_with_sip_persistence_engine() {
    let expected = Service {
        key: udp("10.1.0.1:5060"),
        scheduler: "lc".into(),
        flags: svc_flags::PERSISTENT | svc_flags::ONEPACKET,
        timeout: 300,
        netmask: 0xffff_ff00,
        pe_name: Some("sip".into()),
    };
    check_service(&UDP_SIP_SERVICE, &expected, &Stats::default());
}

#[test]
fn fwmark_service() {
    let expected = Service {
        key: ServiceKey::Fwmark {
            mark: 7,
            family: AddressFamily::Ipv4,
        },
        scheduler: "rr".into(),
        flags: 0,
        timeout: 0,
        netmask: 0xffff_ffff,
        pe_name: None,
    };
    check_service(&FWMARK_SERVICE, &expected, &Stats::default());
}

#[test]
fn nat_real_server_with_counters() {
    let key = DestKey {
        addr: IpAddr::V4(Ipv4Addr::new(172, 25, 0, 31)),
        port: 80,
    };
    let expected = DestEntry {
        dest: no_tunnel(key, fwd::MASQ, 1),
        active_conns: 0,
        inact_conns: 2,
        persist_conns: 0,
        stats: Stats {
            conns: 2,
            inpkts: 12,
            outpkts: 10,
            inbytes: 794,
            outbytes: 958,
            cps: 0,
            inpps: 1,
            outpps: 1,
            inbps: 56,
            outbps: 67,
        },
    };
    check_dest(&NAT_DEST_WITH_STATS, 2, &expected);
}

#[test]
fn ipv6_direct_routing_real_server_with_thresholds() {
    let key = DestKey {
        addr: IpAddr::V6("2001:db8::10".parse::<Ipv6Addr>().unwrap()),
        port: 53,
    };
    let dest = Dest {
        u_threshold: 100,
        l_threshold: 50,
        ..no_tunnel(key, fwd::DROUTE, 5)
    };
    let expected = DestEntry {
        dest,
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
        stats: Stats::default(),
    };
    check_dest(&IPV6_DR_DEST, 10, &expected);
}

#[test]
fn gue_tunnel_real_server() {
    let key = DestKey {
        addr: IpAddr::V4(Ipv4Addr::new(10, 2, 0, 9)),
        port: 0,
    };
    let dest = Dest {
        tun_type: tun::GUE,
        tun_port: 6080,
        tun_flags: tun::FLAG_CSUM,
        ..no_tunnel(key, fwd::TUNNEL, 3)
    };
    let expected = DestEntry {
        dest,
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
        stats: Stats::default(),
    };
    check_dest(&GUE_TUNNEL_DEST, 2, &expected);
}

#[test]
fn real_server_family_comes_from_its_own_attribute() {
    // The IPv6 real server read with an IPv4 service's family still reads
    // as IPv6: IPVS_DEST_ATTR_ADDR_FAMILY wins (mixed-family tunnels).
    let msg = decode(&IPV6_DR_DEST);
    let entry = dest::parse_entry(ipvs(&msg).dest().unwrap(), 2).unwrap();
    assert!(entry.dest.key.addr.is_ipv6());
}

#[test]
fn master_sync_daemon() {
    let msg = decode(&MASTER_DAEMON);
    assert_eq!(ipvs(&msg).cmd, IpvsCmd::NewDaemon);
    let parsed = daemon::parse(ipvs(&msg).daemon().unwrap()).unwrap();
    let expected = Daemon {
        role: DaemonRole::Master,
        mcast_ifn: "lo".into(),
        syncid: 7,
        sync_maxlen: Some(1472),
        mcast_group: Some(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 81))),
        mcast_port: Some(8848),
        mcast_ttl: Some(1),
    };
    assert_eq!(parsed, expected);
    assert_eq!(encode(&msg), MASTER_DAEMON);
    let rebuilt = IpvsMessage::new(
        IpvsCmd::NewDaemon,
        vec![IpvsAttr::Daemon(daemon::entry_attrs(&parsed))],
    );
    assert_eq!(as_kernel_sends(rebuilt, 8), MASTER_DAEMON);
}

#[test]
fn timeouts_reply() {
    let msg = decode(&CONFIG_REPLY);
    assert_eq!(ipvs(&msg).cmd, IpvsCmd::SetConfig);
    assert_eq!(
        config::parse(ipvs(&msg).config()),
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        }
    );
    assert_eq!(encode(&msg), CONFIG_REPLY);
}

#[test]
fn info_reply_reuses_attribute_numbers() {
    let msg = decode(&INFO_REPLY);
    assert_eq!(ipvs(&msg).cmd, IpvsCmd::SetInfo);
    // Attributes 1 and 2 are the version and table size here, not a service and a real server.
    let parsed = info::parse(ipvs(&msg).info()).unwrap();
    assert_eq!(
        parsed,
        Info {
            version: 0x010201,
            conn_tab_size: 4096
        }
    );
    assert_eq!(parsed.version_string(), "1.2.1");
    assert_eq!(encode(&msg), INFO_REPLY);
}
