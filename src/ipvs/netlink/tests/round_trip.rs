//! Every request lvsd sends, emitted and parsed back; every object converted
//! to attributes and back without loss.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use proptest::prelude::*;

use super::{decode, encode, ipvs};
use crate::ipvs::netlink::message::{IpvsAttr, IpvsCmd, IpvsMessage};
use crate::ipvs::netlink::{config, daemon, dest, request, service};
use crate::ipvs::types::*;
use crate::model::{AddressFamily, DaemonRole, Protocol, ServiceKey};

fn request_bytes(msg: IpvsMessage) -> Vec<u8> {
    let mut genl = GenlMessage::from_payload(msg);
    genl.set_resolved_family_id(32);
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    header.sequence_number = 7;
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
    nl.finalize();
    encode(&nl)
}

fn sample_service() -> Service {
    Service {
        key: ServiceKey::Addr {
            protocol: Protocol::Sctp,
            addr: "[2001:db8::5]:3868".parse().unwrap(),
        },
        scheduler: "mh".into(),
        flags: svc_flags::PERSISTENT | svc_flags::SCHED1,
        timeout: 1800,
        netmask: 96,
        pe_name: Some("sip".into()),
    }
}

fn sample_dest() -> Dest {
    Dest {
        key: DestKey {
            addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x31)),
            port: 3868,
        },
        fwd_method: fwd::TUNNEL,
        weight: 65535,
        u_threshold: 1000,
        l_threshold: 750,
        tun_type: tun::GRE,
        tun_port: 0,
        tun_flags: tun::FLAG_REMCSUM,
    }
}

fn sample_daemon() -> Daemon {
    Daemon {
        role: DaemonRole::Backup,
        mcast_ifn: "eth1".into(),
        syncid: 200,
        sync_maxlen: Some(1400),
        mcast_group: Some(IpAddr::V6("ff02::81".parse().unwrap())),
        mcast_port: Some(8849),
        mcast_ttl: Some(4),
    }
}

fn every_op() -> Vec<Op> {
    let svc = sample_service();
    let fwmark = ServiceKey::Fwmark {
        mark: 12,
        family: AddressFamily::Ipv6,
    };
    vec![
        Op::AddService(svc.clone()),
        Op::EditService(Service {
            pe_name: None,
            flags: 0,
            ..svc.clone()
        }),
        Op::DelService(svc.key),
        Op::AddDest(svc.key, sample_dest()),
        Op::EditDest(
            fwmark,
            Dest {
                fwd_method: fwd::DROUTE,
                ..sample_dest()
            },
        ),
        Op::DelDest(svc.key, sample_dest().key),
        Op::SetTimeouts(Timeouts {
            tcp: 900,
            tcp_fin: 0,
            udp: 300,
        }),
        Op::StartDaemon(sample_daemon()),
        Op::StopDaemon(DaemonRole::Master),
        Op::Flush,
        Op::Zero(Some(fwmark)),
        Op::Zero(None),
    ]
}

#[test]
fn every_request_parses_back_to_itself() {
    for op in every_op() {
        let msg = request::for_op(&op);
        let parsed = decode(&request_bytes(msg.clone()));
        assert_eq!(ipvs(&parsed), &msg, "{op:?}");
    }
}

#[test]
fn requests_carry_what_the_kernel_requires() {
    let cmds: Vec<IpvsCmd> = every_op()
        .iter()
        .map(|op| request::for_op(op).cmd)
        .collect();
    use IpvsCmd::*;
    assert_eq!(
        cmds,
        [
            NewService, SetService, DelService, NewDest, SetDest, DelDest, SetConfig, NewDaemon,
            DelDaemon, Flush, Zero, Zero
        ]
    );
    // NEW/SET_SERVICE: AF, protocol/addr/port, scheduler, flags, timeout and netmask.
    let msg = request::for_op(&Op::AddService(sample_service()));
    let kinds: Vec<u16> = msg
        .service()
        .unwrap()
        .iter()
        .map(netlink_packet_core::Nla::kind)
        .collect();
    assert_eq!(kinds, [1, 2, 3, 4, 6, 11, 7, 8, 9]);
    // NEW/SET_DEST: the service's key, then addr, port, family, method, weight, thresholds (+ tunnel).
    let msg = request::for_op(&Op::AddDest(sample_service().key, sample_dest()));
    let kinds: Vec<u16> = msg
        .dest()
        .unwrap()
        .iter()
        .map(netlink_packet_core::Nla::kind)
        .collect();
    assert_eq!(kinds, [1, 2, 11, 3, 4, 5, 6, 13, 14, 15]);
    assert_eq!(msg.service().unwrap().len(), 4);
    // No tunnel attributes without tunnel forwarding.
    let nat = Dest {
        fwd_method: fwd::MASQ,
        tun_type: 0,
        tun_flags: 0,
        ..sample_dest()
    };
    let msg = request::for_op(&Op::EditDest(sample_service().key, nat));
    assert_eq!(msg.dest().unwrap().len(), 7);
    // Flush and zero-all carry nothing; timeouts only the ones set.
    assert!(request::for_op(&Op::Flush).attrs.is_empty());
    assert!(request::for_op(&Op::Zero(None)).attrs.is_empty());
    assert_eq!(
        request::for_op(&Op::SetTimeouts(Timeouts {
            tcp: 900,
            tcp_fin: 0,
            udp: 300
        }))
        .attrs
        .len(),
        2
    );
}

#[test]
fn service_flags_go_out_with_a_full_mask_and_never_hashed() {
    let svc = Service {
        flags: svc_flags::ONEPACKET | svc_flags::HASHED,
        ..sample_service()
    };
    let attrs = service::full_attrs(&svc);
    assert!(attrs.contains(&service::ServiceAttr::Flags {
        flags: svc_flags::ONEPACKET,
        mask: u32::MAX
    }));
}

#[test]
fn netmask_byte_order_depends_on_the_family() {
    let v4 = Service {
        key: ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1:80".parse().unwrap(),
        },
        netmask: 0xffff_ff00,
        ..sample_service()
    };
    assert!(service::full_attrs(&v4).contains(&service::ServiceAttr::Netmask([255, 255, 255, 0])));
    let v6 = sample_service();
    assert!(service::full_attrs(&v6).contains(&service::ServiceAttr::Netmask(96u32.to_ne_bytes())));
}

#[test]
fn unknown_attributes_are_kept_and_ignored() {
    // A service from a future kernel with an attribute 42 and a counter 99.
    let mut attrs = service::entry_attrs(
        &sample_service(),
        &Stats {
            conns: 5,
            ..Stats::default()
        },
    );
    attrs.push(service::ServiceAttr::Other(
        netlink_packet_core::DefaultNla::new(42, vec![1, 2, 3]),
    ));
    let msg = IpvsMessage::new(IpvsCmd::NewService, vec![IpvsAttr::Service(attrs)]);
    let parsed = decode(&request_bytes(msg.clone()));
    assert_eq!(ipvs(&parsed), &msg);
    let (svc, stats) = service::parse_entry(ipvs(&parsed).service().unwrap()).unwrap();
    assert_eq!(svc, sample_service());
    assert_eq!(stats.conns, 5);
}

#[test]
fn stats64_wins_over_stats() {
    // 2^32 + 1 connections: STATS wraps, STATS64 does not.
    let stats = Stats {
        conns: (1 << 32) + 1,
        ..Stats::default()
    };
    let (_, parsed) =
        service::parse_entry(&service::entry_attrs(&sample_service(), &stats)).unwrap();
    assert_eq!(parsed.conns, (1 << 32) + 1);
}

#[test]
fn daemons_and_timeouts_convert_both_ways() {
    assert_eq!(
        daemon::parse(&daemon::start_attrs(&sample_daemon())).unwrap(),
        sample_daemon()
    );
    let minimal = Daemon {
        role: DaemonRole::Master,
        mcast_ifn: "eth0".into(),
        syncid: 0,
        sync_maxlen: None,
        mcast_group: Some(IpAddr::V4(Ipv4Addr::new(239, 1, 2, 3))),
        mcast_port: None,
        mcast_ttl: None,
    };
    assert_eq!(
        daemon::parse(&daemon::start_attrs(&minimal)).unwrap(),
        minimal
    );
    assert_eq!(
        daemon::stop_attrs(DaemonRole::Backup),
        vec![daemon::DaemonAttr::State(2)]
    );
    let t = Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    };
    assert_eq!(config::parse(&config::set_attrs(&t)), t);
}

fn any_service() -> impl Strategy<Value = Service> {
    let key = prop_oneof![
        (0..3u8, any::<[u8; 4]>(), any::<u16>()).prop_map(|(p, ip, port)| ServiceKey::Addr {
            protocol: [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][p as usize],
            addr: (Ipv4Addr::from(ip), port).into(),
        }),
        (0..3u8, any::<[u8; 16]>(), any::<u16>()).prop_map(|(p, ip, port)| ServiceKey::Addr {
            protocol: [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][p as usize],
            addr: (Ipv6Addr::from(ip), port).into(),
        }),
        (1..=u32::MAX, any::<bool>()).prop_map(|(mark, v6)| ServiceKey::Fwmark {
            mark,
            family: if v6 {
                AddressFamily::Ipv6
            } else {
                AddressFamily::Ipv4
            },
        }),
    ];
    (
        key,
        "[a-z]{1,15}",
        0..64u32,
        any::<u32>(),
        any::<u32>(),
        proptest::option::of("[a-z]{1,15}"),
    )
        .prop_map(
            |(key, scheduler, flags, timeout, netmask, pe_name)| Service {
                key,
                scheduler,
                flags: flags & svc_flags::SETTABLE,
                timeout,
                netmask,
                pe_name,
            },
        )
}

fn any_dest() -> impl Strategy<Value = Dest> {
    let addr = prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ];
    (
        addr,
        any::<u16>(),
        0..5u32,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        0..3u8,
        any::<u16>(),
        0..3u16,
    )
        .prop_map(
            |(
                addr,
                port,
                fwd_method,
                weight,
                u_threshold,
                l_threshold,
                tun_type,
                tun_port,
                tun_flags,
            )| {
                let tunnel = fwd_method == fwd::TUNNEL;
                Dest {
                    key: DestKey { addr, port },
                    fwd_method,
                    weight,
                    u_threshold,
                    l_threshold,
                    tun_type: if tunnel { tun_type } else { 0 },
                    tun_port: if tunnel { tun_port } else { 0 },
                    tun_flags: if tunnel { tun_flags } else { 0 },
                }
            },
        )
}

proptest! {
    #[test]
    fn any_service_survives_the_wire(svc in any_service()) {
        let msg = request::for_op(&Op::AddService(svc.clone()));
        let parsed = decode(&request_bytes(msg));
        let (back, _) = service::parse_entry(ipvs(&parsed).service().unwrap()).unwrap();
        prop_assert_eq!(back, svc);
    }

    #[test]
    fn any_dest_survives_the_wire(d in any_dest(), svc in any_service()) {
        let msg = request::for_op(&Op::AddDest(svc.key, d));
        let parsed = decode(&request_bytes(msg));
        let entry = dest::parse_entry(ipvs(&parsed).dest().unwrap(), service::af(svc.key.family())).unwrap();
        prop_assert_eq!(entry.dest, d);
    }
}
