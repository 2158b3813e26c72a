//! Proptest strategies: valid specs, and actual tables as a kernel may hold
//! them (including what lvsd's model refuses: unknown schedulers, weights
//! above 65535, local or bypass forwarding, stray flags).
//!
//! Addresses, ports and marks come from small pools, so that a spec and a
//! table drawn independently share many services and real servers, and the
//! planner's edits get exercised, not only its additions and removals.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use proptest::sample::select;

use crate::ipvs::{
    Daemon, Dest, DestEntry, DestKey, Service, ServiceEntry, Snapshot, Stats, Timeouts, fwd,
    svc_flags, tun,
};
use crate::model::{
    AddressFamily, DaemonRole, Forwarding, MAX_TIMEOUT_SECS, Persistence, PersistenceDoc,
    PersistenceEngine, Protocol, RealServer, SchedFlags, Scheduler, ServerKey, ServiceKey, Spec,
    SyncDaemon, Timeouts as SpecTimeouts, Tunnel, TunnelChecksum, TunnelType, VirtualService,
    VirtualServiceDoc,
};

const VIPS: [&str; 3] = ["192.168.31.100", "192.168.31.101", "2001:db8::1"];
const REAL_IPS: [&str; 6] = [
    "172.25.0.31",
    "172.25.0.32",
    "172.25.0.33",
    "10.1.0.1",
    "2001:db8::7",
    "2001:db8::8",
];
const PORTS: [u16; 4] = [80, 443, 8080, 0];

fn ip(pool: &'static [&'static str]) -> impl Strategy<Value = IpAddr> {
    select(pool).prop_map(|s| s.parse().unwrap())
}

pub fn protocol() -> impl Strategy<Value = Protocol> {
    select(&[Protocol::Tcp, Protocol::Udp, Protocol::Sctp][..])
}

pub fn family() -> impl Strategy<Value = AddressFamily> {
    select(&[AddressFamily::Ipv4, AddressFamily::Ipv6][..])
}

pub fn service_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        3 => (protocol(), ip(&VIPS), select(&PORTS[..]))
            .prop_map(|(protocol, ip, port)| ServiceKey::Addr { protocol, addr: SocketAddr::new(ip, port) }),
        1 => (1u32..=3, family()).prop_map(|(mark, family)| ServiceKey::Fwmark { mark, family }),
    ]
}

pub fn scheduler() -> impl Strategy<Value = Scheduler> {
    select(&Scheduler::ALL[..])
}

fn persistence(family: AddressFamily) -> impl Strategy<Value = Persistence> {
    let netmask = match family {
        AddressFamily::Ipv4 => 0..=32u8,
        AddressFamily::Ipv6 => 1..=128u8,
    };
    (prop_oneof![Just(300u32), 1..=MAX_TIMEOUT_SECS], netmask)
        .prop_map(|(timeout, netmask)| Persistence { timeout, netmask })
}

fn tunnel() -> impl Strategy<Value = Tunnel> {
    let checksum = select(
        &[
            TunnelChecksum::None,
            TunnelChecksum::Csum,
            TunnelChecksum::Remcsum,
        ][..],
    );
    prop_oneof![
        Just(Tunnel {
            kind: TunnelType::Ipip,
            port: None,
            checksum: TunnelChecksum::None
        }),
        (1u16.., checksum).prop_map(|(port, checksum)| Tunnel {
            kind: TunnelType::Gue,
            port: Some(port),
            checksum
        }),
        select(&[TunnelChecksum::None, TunnelChecksum::Csum][..]).prop_map(|checksum| Tunnel {
            kind: TunnelType::Gre,
            port: None,
            checksum
        }),
    ]
}

fn forwarding() -> impl Strategy<Value = Forwarding> {
    prop_oneof![
        Just(Forwarding::Nat),
        Just(Forwarding::Dr),
        Just(Forwarding::Fullnat),
        tunnel().prop_map(Forwarding::Tun)
    ]
}

/// Upper and lower thresholds with lower <= upper, mostly 0.
fn thresholds() -> impl Strategy<Value = (u32, u32)> {
    prop_oneof![
        3 => Just((0, 0)),
        1 => (0u32..1000).prop_flat_map(|upper| (Just(upper), 0..=upper)),
    ]
}

/// A valid real server of `service`: only a tunnel crosses address
/// families, and only NAT maps ports (but a fwmark service has no port).
pub fn real_server(service: ServiceKey) -> impl Strategy<Value = RealServer> {
    let weight = prop_oneof![3 => 0u16..=3, 1 => any::<u16>()];
    (
        ip(&REAL_IPS),
        select(&PORTS[..]),
        forwarding(),
        weight,
        thresholds(),
    )
        .prop_map(
            move |(ip, port, forwarding, weight, (upper_threshold, lower_threshold))| {
                let forwarding = match forwarding {
                    Forwarding::Tun(_) => forwarding,
                    _ if AddressFamily::of(ip) != service.family() => {
                        Forwarding::Tun(Tunnel::default())
                    }
                    other => other,
                };
                let port = if service.is_fwmark() || forwarding.rewrites_destination() {
                    port
                } else {
                    service.port()
                };
                RealServer {
                    key: ServerKey(SocketAddr::new(ip, port)),
                    forwarding,
                    weight,
                    upper_threshold,
                    lower_threshold,
                    health_check: None,
                }
            },
        )
}

/// A valid virtual service with key `key`.
pub fn virtual_service(key: ServiceKey) -> BoxedStrategy<VirtualService> {
    let servers = prop::collection::vec(real_server(key), 0..5);
    (
        scheduler(),
        any::<(bool, bool)>(),
        prop::option::of(persistence(key.family())),
        any::<bool>(),
        any::<bool>(),
        servers,
    )
        .prop_map(
            move |(scheduler, (fallback, port), persistence, one_packet, sip, servers)| {
                // Port 0 means "all ports", which only persistent services may use.
                let persistence = match persistence {
                    None if key.port() == 0 && !key.is_fwmark() => Some(Persistence {
                        timeout: 300,
                        netmask: 32,
                    }),
                    other => other,
                };
                let sched_flags = if scheduler.takes_flags() {
                    SchedFlags { fallback, port }
                } else {
                    SchedFlags::default()
                };
                let one_packet = one_packet
                    && !matches!(
                        key,
                        ServiceKey::Addr {
                            protocol: Protocol::Tcp | Protocol::Sctp,
                            ..
                        }
                    );
                let doc = VirtualServiceDoc {
                    id: Some(key.to_string()),
                    scheduler: Some(scheduler),
                    sched_flags: sched_flags.names(scheduler),
                    persistence: persistence.map(|p| PersistenceDoc {
                        timeout: p.timeout,
                        netmask: None,
                    }),
                    one_packet,
                    persistence_engine: (sip && persistence.is_some())
                        .then_some(PersistenceEngine::Sip),
                    ..VirtualServiceDoc::default()
                };
                let mut service = doc.validate().expect("the strategy builds valid services");
                // The doc's netmask type is private to the model; the field is not.
                service.persistence = persistence;
                let unique: BTreeMap<ServerKey, RealServer> =
                    servers.into_iter().map(|rs| (rs.key, rs)).collect();
                service
                    .with_servers(unique.into_values().collect())
                    .expect("servers are unique")
            },
        )
        .boxed()
}

fn spec_timeouts() -> impl Strategy<Value = SpecTimeouts> {
    let timeout = || prop::option::of(prop_oneof![Just(900u32), 1..=MAX_TIMEOUT_SECS]);
    (timeout(), timeout(), timeout()).prop_map(|(tcp, tcpfin, udp)| SpecTimeouts {
        tcp,
        tcpfin,
        udp,
    })
}

fn sync_daemon(role: DaemonRole) -> impl Strategy<Value = SyncDaemon> {
    (
        select(&["eth0", "eth1"][..]),
        prop_oneof![Just(0u32), 0u32..=255],
        prop::option::of(1500u16..9000),
        prop::option::of(
            select(&["224.0.0.81", "239.1.2.3"][..]).prop_map(|g| g.parse::<IpAddr>().unwrap()),
        ),
        prop::option::of(prop_oneof![Just(8848u16), 1u16..]),
        prop::option::of(1u8..),
    )
        .prop_map(
            move |(interface, syncid, sync_maxlen, mcast_group, mcast_port, mcast_ttl)| {
                SyncDaemon {
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

fn sync_daemons() -> impl Strategy<Value = Vec<SyncDaemon>> {
    (
        prop::option::of(sync_daemon(DaemonRole::Master)),
        prop::option::of(sync_daemon(DaemonRole::Backup)),
    )
        .prop_map(|(master, backup)| master.into_iter().chain(backup).collect())
}

/// A valid spec of up to 5 services.
///
/// A spec with both a sync daemon and a real server of another address family
/// than its service's is valid in the model, but no kernel accepts it (the
/// sync protocol cannot carry mixed families): such specs get no daemon.
pub fn spec() -> BoxedStrategy<Spec> {
    let services = prop::collection::btree_set(service_key(), 0..=5)
        .prop_flat_map(|keys| keys.into_iter().map(virtual_service).collect::<Vec<_>>());
    (services, spec_timeouts(), sync_daemons())
        .prop_map(|(services, timeouts, daemons)| {
            let daemons = if services.iter().any(has_mixed_families) {
                Vec::new()
            } else {
                daemons
            };
            Spec::new(services, timeouts, daemons).expect("keys and roles are unique")
        })
        .boxed()
}

pub fn has_mixed_families(service: &VirtualService) -> bool {
    service
        .servers()
        .iter()
        .any(|rs| AddressFamily::of(rs.key.ip()) != service.key.family())
}

/// Anything the kernel reports as a scheduler name, known or not.
fn kernel_scheduler() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => scheduler().prop_map(|s| s.as_str().to_string()),
        1 => select(&["foo", "wrr2", ""][..]).prop_map(str::to_string),
    ]
}

/// A service as a kernel may hold it, set by any tool.
fn kernel_service(key: ServiceKey) -> impl Strategy<Value = Service> {
    let netmask = match key.family() {
        AddressFamily::Ipv4 => prop_oneof![Just(u32::MAX), any::<u32>()].boxed(),
        AddressFamily::Ipv6 => prop_oneof![Just(128u32), 1..=128u32].boxed(),
    };
    let timeout = prop_oneof![Just(0u32), Just(300), any::<u32>()];
    let pe = prop::option::of(Just("sip".to_string()));
    (kernel_scheduler(), any::<u32>(), timeout, netmask, pe).prop_map(
        move |(scheduler, flags, timeout, netmask, pe_name)| Service {
            key,
            scheduler,
            flags: flags & svc_flags::SETTABLE,
            timeout,
            netmask,
            pe_name,
        },
    )
}

/// A real server as a kernel may hold it: any weight the kernel accepts (up
/// to `i32::MAX`), any forwarding method, stray tunnel settings. Only a
/// tunnel crosses address families, and none does when `may_mix` is false.
fn kernel_dest(service: ServiceKey, may_mix: bool) -> BoxedStrategy<DestEntry> {
    let weight = prop_oneof![3 => 0u32..=3, 1 => 0..=i32::MAX as u32];
    let fwd_method = select(
        &[
            fwd::MASQ,
            fwd::DROUTE,
            fwd::TUNNEL,
            fwd::LOCALNODE,
            fwd::BYPASS,
        ][..],
    );
    let tunnel = (0u8..=2, any::<u16>(), 0u16..=3);
    let conns = prop_oneof![Just((0u32, 0u32)), (0u32..5, 0u32..5)];
    (
        ip(&REAL_IPS),
        select(&PORTS[..]),
        fwd_method,
        weight,
        thresholds(),
        tunnel,
        conns,
    )
        .prop_map(
            move |(
                ip,
                port,
                fwd_method,
                weight,
                (u_threshold, l_threshold),
                (tun_type, tun_port, tun_flags),
                conns,
            )| {
                let (ip, fwd_method) = match AddressFamily::of(ip) != service.family() {
                    false => (ip, fwd_method),
                    true if may_mix => (ip, fwd::TUNNEL),
                    true => (same_family_ip(service.family()), fwd_method),
                };
                let tun_port = if tun_type == tun::GUE && tun_port == 0 {
                    6080
                } else {
                    tun_port
                };
                let key = DestKey { addr: ip, port };
                let dest = Dest {
                    key,
                    fwd_method,
                    weight,
                    u_threshold,
                    l_threshold,
                    tun_type,
                    tun_port,
                    tun_flags,
                };
                let (active_conns, inact_conns) = conns;
                DestEntry {
                    dest,
                    active_conns,
                    inact_conns,
                    persist_conns: 0,
                    stats: Stats::default(),
                }
            },
        )
        .boxed()
}

fn same_family_ip(family: AddressFamily) -> IpAddr {
    match family {
        AddressFamily::Ipv4 => REAL_IPS[0].parse().unwrap(),
        AddressFamily::Ipv6 => REAL_IPS[4].parse().unwrap(),
    }
}

fn kernel_service_entry(key: ServiceKey, may_mix: bool) -> BoxedStrategy<ServiceEntry> {
    (
        kernel_service(key),
        prop::collection::vec(kernel_dest(key, may_mix), 0..5),
    )
        .prop_map(|(service, dests)| {
            let unique: BTreeMap<DestKey, DestEntry> =
                dests.into_iter().map(|d| (d.dest.key, d)).collect();
            ServiceEntry {
                service,
                stats: Stats::default(),
                dests: unique.into_values().collect(),
            }
        })
        .boxed()
}

/// A running daemon as the kernel reports it: every setting filled in.
fn kernel_daemon(role: DaemonRole) -> impl Strategy<Value = Daemon> {
    sync_daemon(role).prop_map(|d| {
        let mut daemon = Daemon::from(&d);
        daemon.sync_maxlen = Some(daemon.sync_maxlen.filter(|&n| n != 0).unwrap_or(1472));
        daemon.mcast_group = Some(daemon.mcast_group.unwrap_or(IpAddr::from([224, 0, 0, 81])));
        daemon.mcast_port = Some(daemon.mcast_port.unwrap_or(8848));
        daemon.mcast_ttl = Some(daemon.mcast_ttl.unwrap_or(1));
        daemon
    })
}

/// A table as a kernel may hold it, sorted as snapshots are. No kernel holds
/// real servers of mixed families while a sync daemon runs.
pub fn snapshot() -> BoxedStrategy<Snapshot> {
    let daemons = (
        prop::option::of(kernel_daemon(DaemonRole::Master)),
        prop::option::of(kernel_daemon(DaemonRole::Backup)),
    )
        .prop_map(|(master, backup)| master.into_iter().chain(backup).collect::<Vec<_>>());
    let timeouts = (
        1..=MAX_TIMEOUT_SECS,
        1..=MAX_TIMEOUT_SECS,
        1..=MAX_TIMEOUT_SECS,
    )
        .prop_map(|(tcp, tcp_fin, udp)| Timeouts { tcp, tcp_fin, udp });
    (
        daemons,
        timeouts,
        prop::collection::btree_set(service_key(), 0..=5),
    )
        .prop_flat_map(|(daemons, timeouts, keys)| {
            let may_mix = daemons.is_empty();
            let services: Vec<_> = keys
                .into_iter()
                .map(|key| kernel_service_entry(key, may_mix))
                .collect();
            (services, Just(timeouts), Just(daemons)).prop_map(|(services, timeouts, daemons)| {
                Snapshot {
                    services,
                    timeouts,
                    daemons,
                }
            })
        })
        .boxed()
}

/// A table close to `spec`: some of its services and real servers as the
/// spec has them, some with other settings, some missing, others besides.
pub fn snapshot_near(spec: &Spec) -> BoxedStrategy<Snapshot> {
    let near: Vec<_> = spec.services().iter().map(near_service).collect();
    (snapshot(), near)
        .prop_map(|(mut table, near)| {
            // No kernel holds real servers of mixed families while a sync daemon runs.
            let may_mix = table.daemons.is_empty();
            let mut services: BTreeMap<ServiceKey, ServiceEntry> = table
                .services
                .into_iter()
                .map(|e| (e.service.key, e))
                .collect();
            for mut entry in near.into_iter().flatten() {
                let family = entry.service.key.family();
                entry
                    .dests
                    .retain(|d| may_mix || AddressFamily::of(d.dest.key.addr) == family);
                services.insert(entry.service.key, entry);
            }
            table.services = services.into_values().collect();
            table
        })
        .boxed()
}

fn near_service(wanted: &VirtualService) -> BoxedStrategy<Option<ServiceEntry>> {
    let key = wanted.key;
    let service = prop_oneof![3 => Just(Service::from(wanted)), 1 => kernel_service(key)];
    let dests: Vec<_> = wanted
        .servers()
        .iter()
        .map(|rs| near_dest(key, Dest::from(rs)))
        .collect();
    let others = prop::collection::vec(kernel_dest(key, true), 0..2);
    prop::option::weighted(0.8, (service, dests, others))
        .prop_map(|entry| {
            entry.map(|(service, dests, others)| {
                let mut by_key: BTreeMap<DestKey, DestEntry> =
                    others.into_iter().map(|d| (d.dest.key, d)).collect();
                by_key.extend(dests.into_iter().flatten().map(|d| (d.dest.key, d)));
                ServiceEntry {
                    service,
                    stats: Stats::default(),
                    dests: by_key.into_values().collect(),
                }
            })
        })
        .boxed()
}

/// `wanted` as the spec has it, with other settings, or missing.
fn near_dest(service: ServiceKey, wanted: Dest) -> BoxedStrategy<Option<DestEntry>> {
    let conns = prop_oneof![Just((0u32, 0u32)), (0u32..5, 0u32..5)];
    let exact = conns.prop_map(move |(active_conns, inact_conns)| DestEntry {
        dest: wanted,
        active_conns,
        inact_conns,
        persist_conns: 0,
        stats: Stats::default(),
    });
    let other = kernel_dest(service, true).prop_map(move |mut entry| {
        entry.dest.key = wanted.key;
        if AddressFamily::of(wanted.key.addr) != service.family() {
            entry.dest.fwd_method = fwd::TUNNEL;
        }
        entry
    });
    prop_oneof![1 => Just(None), 2 => exact.prop_map(Some), 2 => other.prop_map(Some)].boxed()
}

/// A kernel table and a spec, either drawn apart or the table drawn near the spec.
pub fn table_and_spec() -> BoxedStrategy<(Snapshot, Spec)> {
    prop_oneof![
        (snapshot(), spec()),
        spec().prop_flat_map(|spec| (snapshot_near(&spec), Just(spec))),
    ]
    .boxed()
}
