//! proptest strategies for valid `model::Spec` values, for the crate's own
//! tests and, with the `testing` feature, for the integration tests.
//!
//! Values are drawn raw, then bent into what the model accepts (dr and tun
//! servers on the virtual port, lower threshold at most the upper one, ...),
//! and finally validated by the model itself, so a strategy that drifts from
//! the model's rules fails loudly instead of testing less.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use crate::model::{
    AddressFamily, CheckType, DaemonRole, ForwardingMethod, GarpDoc, HaDoc, HaSyncDoc,
    HealthCheckDoc, InternalVipDoc, MAX_TIMEOUT_SECS, OnFailure, PersistenceDoc, PersistenceEngine,
    Protocol, RealServerDoc, Scheduler, ServiceKey, Spec, SpecDoc, SyncDaemonDoc, SyncMode,
    Timeouts, Tunnel, TunnelChecksum, TunnelType, VirtualServiceDoc, VrrpInstanceDoc,
};

/// Any valid spec, fullnat real servers and health checks included.
pub fn spec() -> impl Strategy<Value = Spec> {
    spec_with(true)
}

/// Any spec the kernel and ipvsadm can express: no fullnat real servers, no health checks.
pub fn kernel_spec() -> impl Strategy<Value = Spec> {
    spec_with(false)
}

fn spec_with(fullnat: bool) -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(service_doc(fullnat), 0..6),
        timeouts(),
        prop::option::of(daemon(DaemonRole::Master)),
        prop::option::of(daemon(DaemonRole::Backup)),
        prop::option::weighted(0.3, ha()),
    )
        .prop_map(move |(services, timeouts, master, backup, mut ha)| {
            let mut seen = BTreeSet::new();
            let services = services
                .into_iter()
                .filter(|doc| seen.insert(doc.key().expect("a valid key")))
                .collect();
            let services: Vec<VirtualServiceDoc> = if fullnat {
                services
            } else {
                services
                    .into_iter()
                    .map(|doc| VirtualServiceDoc {
                        health_check: None,
                        ..doc
                    })
                    .collect()
            };
            // The kernel's sync daemon cannot carry real servers of another family.
            let crosses_families = services.iter().any(|svc| {
                let family = svc.key().expect("a valid key").family();
                svc.servers
                    .iter()
                    .any(|rs| rs.address.is_some_and(|a| AddressFamily::of(a) != family))
            });
            let sync_daemons = if crosses_families {
                Vec::new()
            } else {
                master.into_iter().chain(backup).collect()
            };
            // ipvsadm cannot express the `ha` section.
            if !fullnat {
                ha = None;
            }
            // One sync daemon configuration at a time, and one the kernel can run.
            if let Some(ha) = &mut ha
                && (crosses_families || !sync_daemons.is_empty())
            {
                ha.sync = None;
            }
            let doc = SpecDoc {
                services,
                timeouts,
                sync_daemons,
                ha,
                ..SpecDoc::default()
            };
            doc.validate()
                .unwrap_or_else(|e| panic!("the strategy built an invalid spec: {e}\n{doc:#?}"))
        })
}

/// A unicast IPv4 address (1.0.0.0 to 223.255.255.255).
fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    (0x0100_0000u32..=0xdfff_ffff).prop_map(Ipv4Addr::from)
}

/// A global unicast IPv6 address, zero words frequent so `::` shows up
/// anywhere in it.
fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    let word = prop_oneof![Just(0u16), Just(1u16), any::<u16>()];
    (0x2000u16..=0x3fff, prop::array::uniform7(word)).prop_map(|(first, rest)| {
        Ipv6Addr::new(
            first, rest[0], rest[1], rest[2], rest[3], rest[4], rest[5], rest[6],
        )
    })
}

fn address_of(family: AddressFamily, v4: Ipv4Addr, v6: Ipv6Addr) -> IpAddr {
    match family {
        AddressFamily::Ipv4 => IpAddr::V4(v4),
        AddressFamily::Ipv6 => IpAddr::V6(v6),
    }
}

fn family() -> impl Strategy<Value = AddressFamily> {
    prop_oneof![Just(AddressFamily::Ipv4), Just(AddressFamily::Ipv6)]
}

fn service_key() -> impl Strategy<Value = ServiceKey> {
    let protocol = prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Sctp)
    ];
    let port = prop_oneof![Just(0u16), Just(80u16), Just(443u16), any::<u16>()];
    prop_oneof![
        3 => (protocol, family(), ipv4(), ipv6(), port).prop_map(|(protocol, family, v4, v6, port)| ServiceKey::Addr {
            protocol,
            addr: (address_of(family, v4, v6), port).into(),
        }),
        1 => (1u32..=u32::MAX, family()).prop_map(|(mark, family)| ServiceKey::Fwmark { mark, family }),
    ]
}

/// Persistence as (timeout, netmask as a prefix length, or the default).
fn persistence() -> impl Strategy<Value = (u32, Option<u8>)> {
    (
        prop_oneof![Just(300u32), Just(360u32), 1..=MAX_TIMEOUT_SECS],
        prop::option::of(0u8..=128),
    )
}

fn service_doc(fullnat: bool) -> impl Strategy<Value = VirtualServiceDoc> {
    (
        service_key(),
        prop::sample::select(Scheduler::ALL.to_vec()),
        any::<(bool, bool)>(),
        prop::option::of(persistence()),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(server_doc(fullnat), 0..5),
        prop::option::of(health_check()),
    )
        .prop_map(
            |(
                key,
                scheduler,
                (fallback, port_flag),
                persistence,
                one_packet,
                sip,
                servers,
                health_check,
            )| {
                let family = key.family();
                // Port 0 means "all ports", which the kernel allows only with persistence.
                let persistence = match persistence {
                    None if key.port() == 0 && !key.is_fwmark() => Some((300, None)),
                    p => p,
                };
                let persistence = persistence.map(|(timeout, prefix)| {
                    let prefix = prefix.map(|p| match family {
                        AddressFamily::Ipv4 => p % 33,
                        AddressFamily::Ipv6 => p.max(1),
                    });
                    let mut doc = PersistenceDoc {
                        timeout,
                        netmask: None,
                    };
                    // The netmask type is not exported; it deserializes from a number.
                    doc.netmask = prefix
                        .map(|p| serde_json::from_value(p.into()).expect("a prefix is a netmask"));
                    doc
                });
                let one_packet = one_packet
                    && !matches!(
                        key,
                        ServiceKey::Addr {
                            protocol: Protocol::Tcp | Protocol::Sctp,
                            ..
                        }
                    );
                let mut sched_flags = Vec::new();
                if scheduler.takes_flags() {
                    if fallback {
                        sched_flags.push(format!("{scheduler}-fallback"));
                    }
                    if port_flag {
                        sched_flags.push(format!("{scheduler}-port"));
                    }
                }
                let persistence_engine =
                    (sip && persistence.is_some()).then_some(PersistenceEngine::Sip);
                let mut seen = BTreeSet::new();
                let servers = servers
                    .into_iter()
                    .map(|raw| raw.fit(&key))
                    .filter(|doc| seen.insert((doc.address, doc.port)))
                    .collect();
                let mut doc = VirtualServiceDoc {
                    scheduler: Some(scheduler),
                    sched_flags,
                    persistence,
                    one_packet,
                    persistence_engine,
                    servers,
                    health_check,
                    ..VirtualServiceDoc::default()
                };
                match key {
                    ServiceKey::Addr { protocol, addr } => {
                        doc.protocol = Some(protocol);
                        doc.address = Some(addr.ip());
                        doc.port = Some(addr.port());
                    }
                    ServiceKey::Fwmark { mark, family } => {
                        doc.fwmark = Some(mark);
                        doc.family = Some(family);
                    }
                }
                doc
            },
        )
}

/// A real server drawn without knowing its service; `fit` makes it valid for one.
#[derive(Debug, Clone)]
struct RawServer {
    v4: Ipv4Addr,
    v6: Ipv6Addr,
    /// Tunnels may cross families; this picks the family then.
    other_family: bool,
    port: u16,
    forwarding: ForwardingMethod,
    tunnel: (TunnelType, u16, TunnelChecksum),
    weight: u16,
    upper_threshold: u32,
    lower_threshold: u32,
}

fn server_doc(fullnat: bool) -> impl Strategy<Value = RawServer> {
    let forwarding = if fullnat {
        prop_oneof![
            Just(ForwardingMethod::Nat),
            Just(ForwardingMethod::Dr),
            Just(ForwardingMethod::Tun),
            Just(ForwardingMethod::Fullnat)
        ]
        .boxed()
    } else {
        prop_oneof![
            Just(ForwardingMethod::Nat),
            Just(ForwardingMethod::Dr),
            Just(ForwardingMethod::Tun)
        ]
        .boxed()
    };
    let tunnel = (
        prop_oneof![
            Just(TunnelType::Ipip),
            Just(TunnelType::Gue),
            Just(TunnelType::Gre)
        ],
        1u16..=65535,
        prop_oneof![
            Just(TunnelChecksum::None),
            Just(TunnelChecksum::Csum),
            Just(TunnelChecksum::Remcsum)
        ],
    );
    let threshold = prop_oneof![Just(0u32), 0u32..=1000, 0..=i32::MAX as u32];
    (
        (ipv4(), ipv6(), prop::bool::weighted(0.2)),
        prop_oneof![Just(0u16), Just(80u16), any::<u16>()],
        forwarding,
        tunnel,
        prop_oneof![Just(0u16), Just(1u16), any::<u16>()],
        (threshold.clone(), threshold),
    )
        .prop_map(
            |((v4, v6, other_family), port, forwarding, tunnel, weight, (upper, lower))| {
                RawServer {
                    v4,
                    v6,
                    other_family,
                    port,
                    forwarding,
                    tunnel,
                    weight,
                    upper_threshold: upper,
                    lower_threshold: if upper == 0 { 0 } else { lower % (upper + 1) },
                }
            },
        )
}

impl RawServer {
    fn fit(self, service: &ServiceKey) -> RealServerDoc {
        let is_tun = self.forwarding == ForwardingMethod::Tun;
        let family = match (service.family(), is_tun && self.other_family) {
            (family, false) => family,
            (AddressFamily::Ipv4, true) => AddressFamily::Ipv6,
            (AddressFamily::Ipv6, true) => AddressFamily::Ipv4,
        };
        // dr and tun deliver packets unchanged, so they keep the virtual port.
        let port = match self.forwarding {
            ForwardingMethod::Dr | ForwardingMethod::Tun if !service.is_fwmark() => service.port(),
            _ => self.port,
        };
        let tunnel = is_tun.then(|| {
            let (kind, port, checksum) = self.tunnel;
            match kind {
                TunnelType::Ipip => Tunnel {
                    kind,
                    port: None,
                    checksum: TunnelChecksum::None,
                },
                TunnelType::Gue => Tunnel {
                    kind,
                    port: Some(port),
                    checksum,
                },
                TunnelType::Gre => {
                    let checksum = if checksum == TunnelChecksum::Remcsum {
                        TunnelChecksum::None
                    } else {
                        checksum
                    };
                    Tunnel {
                        kind,
                        port: None,
                        checksum,
                    }
                }
            }
        });
        RealServerDoc {
            id: None,
            address: Some(address_of(family, self.v4, self.v6)),
            port: Some(port),
            forwarding: self.forwarding,
            tunnel,
            weight: self.weight.into(),
            upper_threshold: self.upper_threshold,
            lower_threshold: self.lower_threshold,
            health_check: None,
        }
    }
}

/// A tcp or http check with its own port (fwmark services' servers may have port 0).
fn health_check() -> impl Strategy<Value = HealthCheckDoc> {
    (
        any::<bool>(),
        1u16..,
        100u32..=60_000,
        1u32..=10,
        1u32..=10,
        any::<bool>(),
        "/[a-z]{0,8}",
    )
        .prop_map(
            |(http, port, interval_ms, rise, fall, remove, path)| HealthCheckDoc {
                kind: Some(if http {
                    CheckType::Http
                } else {
                    CheckType::Tcp
                }),
                port: Some(port),
                interval_ms: Some(interval_ms),
                timeout_ms: Some(interval_ms.min(1000)),
                rise: Some(rise),
                fall: Some(fall),
                on_failure: Some(if remove {
                    OnFailure::Remove
                } else {
                    OnFailure::Quiesce
                }),
                path: http.then_some(path),
                ..HealthCheckDoc::default()
            },
        )
}

fn timeouts() -> impl Strategy<Value = Timeouts> {
    let secs = || prop::option::of(1..=MAX_TIMEOUT_SECS);
    (secs(), secs(), secs()).prop_map(|(tcp, tcpfin, udp)| Timeouts { tcp, tcpfin, udp })
}

fn daemon(role: DaemonRole) -> impl Strategy<Value = SyncDaemonDoc> {
    let group = prop_oneof![
        (224u8..=239, any::<[u8; 3]>())
            .prop_map(|(first, [b, c, d])| IpAddr::V4(Ipv4Addr::new(first, b, c, d))),
        any::<[u16; 7]>().prop_map(|w| IpAddr::V6(Ipv6Addr::new(
            0xff02, w[0], w[1], w[2], w[3], w[4], w[5], w[6]
        ))),
    ];
    (
        prop::sample::select(vec!["eth0", "eth1", "bond0", "ens3f0np0", "vlan.100"]),
        0u32..=255,
        // ipvsadm's range; the model does not bound it.
        prop::option::of(1u16..=65507),
        prop::option::of(group),
        prop::option::of(1u16..=65535),
        prop::option::of(1u8..=255),
    )
        .prop_map(
            move |(interface, syncid, sync_maxlen, mcast_group, mcast_port, mcast_ttl)| {
                SyncDaemonDoc {
                    role,
                    interface: interface.to_string(),
                    syncid,
                    sync_maxlen,
                    mcast_group,
                    mcast_port,
                    mcast_ttl,
                }
            },
        )
}

/// A unicast IPv4 address a VIP can be (no loopback).
fn vip4() -> impl Strategy<Value = Ipv4Addr> {
    ipv4().prop_map(|a| match a.is_loopback() {
        true => Ipv4Addr::new(10, 127, a.octets()[2], a.octets()[3]),
        false => a,
    })
}

/// A valid `ha` section: two or three directors, one or two instances.
fn ha() -> impl Strategy<Value = HaDoc> {
    let instance = |vrid: u32| {
        (
            prop::option::of((1u32..=4095).prop_map(|cs| cs * 10)),
            prop::option::of(prop::collection::vec(vip4(), 1..3)),
            prop::collection::btree_map(
                prop::sample::select(vec!["d1", "d2", "d3"]),
                1u32..=254,
                0..3,
            ),
            any::<(bool, bool)>(),
            prop::option::of(0u32..=1000),
            prop::option::of(vip4()),
            prop::option::of((0u32..=10, 0u32..=10, 0u32..=600)),
        )
            .prop_map(
                move |(advert, vips, priority, (multicast, preempt), delay, internal, garp)| {
                    let mut vips = vips;
                    if let Some(list) = &mut vips {
                        list.dedup();
                    }
                    VrrpInstanceDoc {
                        name: format!("VI_{vrid}"),
                        virtual_router_id: vrid,
                        interface: "eth0".into(),
                        advert_interval_ms: advert,
                        vips: vips.map(|l| {
                            let set: BTreeSet<_> = l.into_iter().map(IpAddr::V4).collect();
                            set.into_iter().collect()
                        }),
                        priority: priority
                            .into_iter()
                            .map(|(d, p)| (d.to_string(), p))
                            .collect(),
                        unicast_peers: None,
                        multicast,
                        preempt,
                        preempt_delay_secs: delay.filter(|_| preempt),
                        track_interfaces: if multicast {
                            vec!["eth1".into()]
                        } else {
                            Vec::new()
                        },
                        internal_vip: internal.map(|a| InternalVipDoc {
                            address: IpAddr::V4(a),
                            prefix_len: Some(24),
                            interface: "eth1".into(),
                            virtual_router_id: vrid,
                        }),
                        garp: garp.map(|(d, r, f)| GarpDoc {
                            master_delay_secs: Some(d),
                            master_repeat: Some(r),
                            master_refresh_secs: Some(f),
                        }),
                    }
                },
            )
    };
    (
        prop::collection::vec(instance(51), 1..2),
        prop::option::of(instance(52)),
        any::<bool>(),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(first, second, three, sync)| {
            let mut directors = BTreeMap::new();
            directors.insert("d1".to_string(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
            directors.insert("d2".to_string(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
            if three {
                directors.insert("d3".to_string(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)));
            }
            let mut vrrp = first;
            vrrp.extend(second);
            for instance in &mut vrrp {
                instance.priority.retain(|d, _| directors.contains_key(d));
            }
            HaDoc {
                directors,
                vrrp,
                sync: sync.map(|follow| HaSyncDoc {
                    mode: if follow {
                        SyncMode::FollowVrrp
                    } else {
                        SyncMode::Both
                    },
                    interface: "eth0".into(),
                    syncid: 7,
                    mcast_group: None,
                }),
            }
        })
}
