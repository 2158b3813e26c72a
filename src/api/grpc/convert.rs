//! Conversions between the protobuf messages and the model's documents and
//! the core's views.
//!
//! Input goes proto → `*Doc` here, and only the model validates a `*Doc`, so
//! gRPC and REST refuse the same values with the same field names. What this
//! module refuses itself is only what a `*Doc` cannot hold: an unparsable
//! address, an out-of-range number for a narrower type, an UNSPECIFIED or
//! unknown enum value. Field paths are relative to the document, as the
//! model's are (`servers[1].weight`), never prefixed with the request field.

use std::net::IpAddr;

use serde_json::{Value as Json, json};

use super::pb;
use crate::core::{AuditEntry, ClusterView, CommitOutcome, DraftView, RevisionKind, RevisionView};
use crate::model::diff::{FieldChange, ServerChange, ServiceChange, SpecDiff};
use crate::model::{
    AddressFamily, DEFAULT_PERSISTENCE_SECS, DaemonRole, DirectorHostDoc, ForwardingMethod,
    GarpDoc, HaDoc, HaSyncDoc, HostDoc, InternalVipDoc, IpvsSysctls, PersistenceDoc,
    PersistenceEngine, Protocol, RealServer, RealServerDoc, Scheduler, Spec, SpecDoc,
    SyncDaemonDoc, SyncMode, Timeouts, Tunnel, TunnelChecksum, TunnelType, ValidationError,
    VirtualService, VirtualServiceDoc, VrrpInstanceDoc,
};

type Result<T> = std::result::Result<T, ValidationError>;

// ---------------------------------------------------------------------------
// Scalars

fn opt_string(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

fn ip(value: &str, field: &str) -> Result<Option<IpAddr>> {
    if value.is_empty() {
        return Ok(None);
    }
    value.trim().parse().map(Some).map_err(|_| {
        ValidationError::new(field, format!("`{value}` is not an IPv4 or IPv6 address"))
    })
}

fn narrow<T: TryFrom<u32>>(value: u32, field: &str, max: u32, what: &str) -> Result<T> {
    T::try_from(value).map_err(|_| {
        ValidationError::new(
            field,
            format!("{value} is out of range: {what} go from 0 to {max}"),
        )
    })
}

fn port(value: Option<u32>, field: &str) -> Result<Option<u16>> {
    value
        .map(|p| narrow(p, field, u16::MAX.into(), "ports"))
        .transpose()
}

/// A protobuf enum value: refused when UNSPECIFIED (`map` gives `None`) or
/// unknown to this server.
pub(super) fn pb_enum<P: TryFrom<i32>, T>(
    raw: i32,
    field: &str,
    what: &str,
    choices: &str,
    name: impl FnOnce(&P) -> &'static str,
    map: impl FnOnce(P) -> Option<T>,
) -> Result<T> {
    let refuse = |shown: String| {
        ValidationError::new(
            field,
            format!("{shown} is not a {what}: expected one of {choices}"),
        )
    };
    match P::try_from(raw) {
        Ok(value) => {
            let shown = name(&value);
            map(value).ok_or_else(|| refuse(shown.to_string()))
        }
        Err(_) => Err(refuse(raw.to_string())),
    }
}

fn protocol(raw: i32) -> Result<Protocol> {
    pb_enum(
        raw,
        "protocol",
        "protocol",
        "tcp, udp or sctp",
        pb::Protocol::as_str_name,
        |p| match p {
            pb::Protocol::Unspecified => None,
            pb::Protocol::Tcp => Some(Protocol::Tcp),
            pb::Protocol::Udp => Some(Protocol::Udp),
            pb::Protocol::Sctp => Some(Protocol::Sctp),
        },
    )
}

fn protocol_out(protocol: Protocol) -> pb::Protocol {
    match protocol {
        Protocol::Tcp => pb::Protocol::Tcp,
        Protocol::Udp => pb::Protocol::Udp,
        Protocol::Sctp => pb::Protocol::Sctp,
    }
}

fn family(raw: i32) -> Result<AddressFamily> {
    pb_enum(
        raw,
        "family",
        "address family",
        "ipv4 or ipv6",
        pb::AddressFamily::as_str_name,
        |f| match f {
            pb::AddressFamily::Unspecified => None,
            pb::AddressFamily::Ipv4 => Some(AddressFamily::Ipv4),
            pb::AddressFamily::Ipv6 => Some(AddressFamily::Ipv6),
        },
    )
}

fn family_out(family: AddressFamily) -> pb::AddressFamily {
    match family {
        AddressFamily::Ipv4 => pb::AddressFamily::Ipv4,
        AddressFamily::Ipv6 => pb::AddressFamily::Ipv6,
    }
}

fn scheduler(raw: i32) -> Result<Scheduler> {
    let choices = Scheduler::ALL.map(Scheduler::as_str).join(", ") + " (wlc when left out)";
    pb_enum(
        raw,
        "scheduler",
        "scheduler",
        &choices,
        pb::Scheduler::as_str_name,
        |s| match s {
            pb::Scheduler::Unspecified => None,
            pb::Scheduler::Rr => Some(Scheduler::Rr),
            pb::Scheduler::Wrr => Some(Scheduler::Wrr),
            pb::Scheduler::Lc => Some(Scheduler::Lc),
            pb::Scheduler::Wlc => Some(Scheduler::Wlc),
            pb::Scheduler::Lblc => Some(Scheduler::Lblc),
            pb::Scheduler::Lblcr => Some(Scheduler::Lblcr),
            pb::Scheduler::Dh => Some(Scheduler::Dh),
            pb::Scheduler::Sh => Some(Scheduler::Sh),
            pb::Scheduler::Sed => Some(Scheduler::Sed),
            pb::Scheduler::Nq => Some(Scheduler::Nq),
            pb::Scheduler::Fo => Some(Scheduler::Fo),
            pb::Scheduler::Ovf => Some(Scheduler::Ovf),
            pb::Scheduler::Mh => Some(Scheduler::Mh),
            pb::Scheduler::Twos => Some(Scheduler::Twos),
        },
    )
}

fn scheduler_out(scheduler: Scheduler) -> pb::Scheduler {
    match scheduler {
        Scheduler::Rr => pb::Scheduler::Rr,
        Scheduler::Wrr => pb::Scheduler::Wrr,
        Scheduler::Lc => pb::Scheduler::Lc,
        Scheduler::Wlc => pb::Scheduler::Wlc,
        Scheduler::Lblc => pb::Scheduler::Lblc,
        Scheduler::Lblcr => pb::Scheduler::Lblcr,
        Scheduler::Dh => pb::Scheduler::Dh,
        Scheduler::Sh => pb::Scheduler::Sh,
        Scheduler::Sed => pb::Scheduler::Sed,
        Scheduler::Nq => pb::Scheduler::Nq,
        Scheduler::Fo => pb::Scheduler::Fo,
        Scheduler::Ovf => pb::Scheduler::Ovf,
        Scheduler::Mh => pb::Scheduler::Mh,
        Scheduler::Twos => pb::Scheduler::Twos,
    }
}

/// Scheduler flags by the names the model parses (`sh-fallback`, ...).
fn sched_flag(raw: i32) -> Result<&'static str> {
    let choices =
        "SCHED_FLAG_SH_FALLBACK, SCHED_FLAG_SH_PORT, SCHED_FLAG_MH_FALLBACK or SCHED_FLAG_MH_PORT";
    pb_enum(
        raw,
        "sched_flags",
        "scheduler flag",
        choices,
        pb::SchedFlag::as_str_name,
        |f| match f {
            pb::SchedFlag::Unspecified => None,
            pb::SchedFlag::ShFallback => Some("sh-fallback"),
            pb::SchedFlag::ShPort => Some("sh-port"),
            pb::SchedFlag::MhFallback => Some("mh-fallback"),
            pb::SchedFlag::MhPort => Some("mh-port"),
        },
    )
}

fn sched_flag_out(name: &str) -> pb::SchedFlag {
    match name {
        "sh-fallback" => pb::SchedFlag::ShFallback,
        "sh-port" => pb::SchedFlag::ShPort,
        "mh-fallback" => pb::SchedFlag::MhFallback,
        "mh-port" => pb::SchedFlag::MhPort,
        _ => pb::SchedFlag::Unspecified,
    }
}

fn persistence_engine(raw: i32) -> Result<Option<PersistenceEngine>> {
    let engine = pb::PersistenceEngine::try_from(raw).map_err(|_| {
        ValidationError::new(
            "persistence_engine",
            format!("{raw} is not a persistence engine: expected sip, or none"),
        )
    })?;
    Ok(match engine {
        pb::PersistenceEngine::Unspecified => None,
        pb::PersistenceEngine::Sip => Some(PersistenceEngine::Sip),
    })
}

fn persistence_engine_out(engine: PersistenceEngine) -> pb::PersistenceEngine {
    match engine {
        PersistenceEngine::Sip => pb::PersistenceEngine::Sip,
    }
}

fn forwarding(raw: i32) -> Result<ForwardingMethod> {
    pb_enum(
        raw,
        "forwarding",
        "forwarding method",
        "nat, dr, tun or fullnat (dr when left out)",
        pb::Forwarding::as_str_name,
        |f| match f {
            pb::Forwarding::Unspecified => None,
            pb::Forwarding::Nat => Some(ForwardingMethod::Nat),
            pb::Forwarding::Dr => Some(ForwardingMethod::Dr),
            pb::Forwarding::Tun => Some(ForwardingMethod::Tun),
            pb::Forwarding::Fullnat => Some(ForwardingMethod::Fullnat),
        },
    )
}

fn forwarding_out(method: ForwardingMethod) -> pb::Forwarding {
    match method {
        ForwardingMethod::Nat => pb::Forwarding::Nat,
        ForwardingMethod::Dr => pb::Forwarding::Dr,
        ForwardingMethod::Tun => pb::Forwarding::Tun,
        ForwardingMethod::Fullnat => pb::Forwarding::Fullnat,
    }
}

fn tunnel_type(raw: i32) -> Result<TunnelType> {
    pb_enum(
        raw,
        "type",
        "tunnel type",
        "ipip, gue or gre (ipip when left out)",
        pb::TunnelType::as_str_name,
        |t| match t {
            pb::TunnelType::Unspecified => None,
            pb::TunnelType::Ipip => Some(TunnelType::Ipip),
            pb::TunnelType::Gue => Some(TunnelType::Gue),
            pb::TunnelType::Gre => Some(TunnelType::Gre),
        },
    )
}

fn tunnel_type_out(kind: TunnelType) -> pb::TunnelType {
    match kind {
        TunnelType::Ipip => pb::TunnelType::Ipip,
        TunnelType::Gue => pb::TunnelType::Gue,
        TunnelType::Gre => pb::TunnelType::Gre,
    }
}

fn tunnel_checksum(raw: i32) -> Result<TunnelChecksum> {
    let choices = "none, csum or remcsum (none when left out)";
    pb_enum(
        raw,
        "checksum",
        "tunnel checksum",
        choices,
        pb::TunnelChecksum::as_str_name,
        |c| match c {
            pb::TunnelChecksum::Unspecified => None,
            pb::TunnelChecksum::None => Some(TunnelChecksum::None),
            pb::TunnelChecksum::Csum => Some(TunnelChecksum::Csum),
            pb::TunnelChecksum::Remcsum => Some(TunnelChecksum::Remcsum),
        },
    )
}

fn tunnel_checksum_out(checksum: TunnelChecksum) -> pb::TunnelChecksum {
    match checksum {
        TunnelChecksum::None => pb::TunnelChecksum::None,
        TunnelChecksum::Csum => pb::TunnelChecksum::Csum,
        TunnelChecksum::Remcsum => pb::TunnelChecksum::Remcsum,
    }
}

fn daemon_role(raw: i32) -> Result<DaemonRole> {
    pb_enum(
        raw,
        "role",
        "sync daemon role",
        "master or backup",
        pb::DaemonRole::as_str_name,
        |r| match r {
            pb::DaemonRole::Unspecified => None,
            pb::DaemonRole::Master => Some(DaemonRole::Master),
            pb::DaemonRole::Backup => Some(DaemonRole::Backup),
        },
    )
}

fn daemon_role_out(role: DaemonRole) -> pb::DaemonRole {
    match role {
        DaemonRole::Master => pb::DaemonRole::Master,
        DaemonRole::Backup => pb::DaemonRole::Backup,
    }
}

// ---------------------------------------------------------------------------
// The spec, proto → model documents

/// The persistence document. Its netmask type is the model's own (a prefix
/// length or a dotted mask), reached through its JSON form.
fn persistence_doc(p: &pb::Persistence) -> Result<PersistenceDoc> {
    let netmask = match &p.netmask {
        None => Json::Null,
        Some(pb::persistence::Netmask::PrefixLength(prefix)) => {
            json!(narrow::<u8>(*prefix, "netmask", 255, "prefix lengths")?)
        }
        Some(pb::persistence::Netmask::Mask(mask)) => json!(mask),
    };
    let doc =
        json!({ "timeout": p.timeout.unwrap_or(DEFAULT_PERSISTENCE_SECS), "netmask": netmask });
    ValidationError::from_json(doc.to_string().as_bytes())
}

fn persistence_out(doc: &PersistenceDoc) -> pb::Persistence {
    let netmask = match serde_json::to_value(&doc.netmask).unwrap_or_default() {
        Json::Number(n) => n
            .as_u64()
            .map(|p| pb::persistence::Netmask::PrefixLength(p as u32)),
        Json::String(mask) => Some(pb::persistence::Netmask::Mask(mask)),
        _ => None,
    };
    pb::Persistence {
        timeout: Some(doc.timeout),
        netmask,
    }
}

/// A service's health settings, carried over gRPC as the REST API's JSON.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    health_check: Option<crate::model::HealthCheckDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sorry_server: Option<crate::model::SorryServerDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quorum: Option<crate::model::QuorumDoc>,
}

/// A JSON string field: empty is `T::default()`, otherwise parsed with the failing path under `field`.
fn from_json_field<T: serde::de::DeserializeOwned + Default>(json: &str, field: &str) -> Result<T> {
    if json.is_empty() {
        return Ok(T::default());
    }
    ValidationError::from_json(json.as_bytes()).map_err(|e: ValidationError| e.within(field))
}

fn to_json_field<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value).expect("docs serialize") {
        Json::Null => String::new(),
        Json::Object(map) if map.is_empty() => String::new(),
        other => other.to_string(),
    }
}

pub fn service_doc(s: &pb::VirtualService) -> Result<VirtualServiceDoc> {
    let health: HealthJson = from_json_field(&s.health_json, "health_json")?;
    let sched_flags = s
        .sched_flags
        .iter()
        .map(|raw| sched_flag(*raw).map(str::to_string))
        .collect::<Result<Vec<_>>>()?;
    let servers = s
        .servers
        .iter()
        .enumerate()
        .map(|(i, server)| server_doc(server).map_err(|e| e.within(format!("servers[{i}]"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(VirtualServiceDoc {
        id: opt_string(&s.id),
        protocol: s.protocol.map(protocol).transpose()?,
        address: ip(&s.address, "address")?,
        port: port(s.port, "port")?,
        fwmark: s.fwmark,
        family: s.family.map(family).transpose()?,
        scheduler: s.scheduler.map(scheduler).transpose()?,
        sched_flags,
        persistence: s
            .persistence
            .as_ref()
            .map(persistence_doc)
            .transpose()
            .map_err(|e| e.within("persistence"))?,
        one_packet: s.one_packet,
        persistence_engine: s
            .persistence_engine
            .map(persistence_engine)
            .transpose()?
            .flatten(),
        servers,
        health_check: health.health_check,
        sorry_server: health.sorry_server,
        quorum: health.quorum,
    })
}

fn tunnel(t: &pb::Tunnel) -> Result<Tunnel> {
    Ok(Tunnel {
        kind: t.r#type.map(tunnel_type).transpose()?.unwrap_or_default(),
        port: port(t.port, "port")?,
        checksum: t
            .checksum
            .map(tunnel_checksum)
            .transpose()?
            .unwrap_or_default(),
    })
}

pub fn server_doc(s: &pb::RealServer) -> Result<RealServerDoc> {
    Ok(RealServerDoc {
        id: opt_string(&s.id),
        address: ip(&s.address, "address")?,
        port: port(s.port, "port")?,
        forwarding: s
            .forwarding
            .map(forwarding)
            .transpose()?
            .unwrap_or_default(),
        tunnel: s
            .tunnel
            .as_ref()
            .map(tunnel)
            .transpose()
            .map_err(|e| e.within("tunnel"))?,
        weight: s.weight.unwrap_or(1),
        upper_threshold: s.upper_threshold,
        lower_threshold: s.lower_threshold,
        health_check: from_json_field(&s.health_check_json, "health_check_json")?,
    })
}

fn sync_daemon_doc(d: &pb::SyncDaemon) -> Result<SyncDaemonDoc> {
    if d.role == pb::DaemonRole::Unspecified as i32 {
        return Err(ValidationError::new(
            "role",
            "missing: a sync daemon is a master or a backup",
        ));
    }
    Ok(SyncDaemonDoc {
        role: daemon_role(d.role)?,
        interface: d.interface.clone(),
        syncid: d.syncid,
        sync_maxlen: d
            .sync_maxlen
            .map(|v| narrow(v, "sync_maxlen", u16::MAX.into(), "message lengths"))
            .transpose()?,
        mcast_group: ip(&d.mcast_group, "mcast_group")?,
        mcast_port: port(d.mcast_port, "mcast_port")?,
        mcast_ttl: d
            .mcast_ttl
            .map(|v| narrow(v, "mcast_ttl", u8::MAX.into(), "ttls"))
            .transpose()?,
    })
}

fn timeouts_doc(t: &pb::Timeouts) -> Timeouts {
    Timeouts {
        tcp: t.tcp,
        tcpfin: t.tcpfin,
        udp: t.udp,
    }
}

fn host_doc(h: &pb::HostSettings) -> Result<HostDoc> {
    let mut directors = std::collections::BTreeMap::new();
    for (name, d) in &h.directors {
        let sync_daemons = d
            .sync_daemons
            .as_ref()
            .map(|list| {
                list.daemons
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        sync_daemon_doc(d).map_err(|e| e.within(format!("sync_daemons[{i}]")))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose();
        let doc = sync_daemons.and_then(|sync_daemons| {
            Ok(DirectorHostDoc {
                vip_interface: d.vip_interface.clone(),
                ip_forward: d.ip_forward,
                snat_address: ip(
                    d.snat_address.as_deref().unwrap_or_default(),
                    "snat_address",
                )?,
                sync_daemons,
                timeouts: d.timeouts.as_ref().map(timeouts_doc),
                ipvs_sysctls: d
                    .ipvs_sysctls
                    .as_ref()
                    .map(ipvs_sysctls_doc)
                    .transpose()
                    .map_err(|e| e.within("ipvs_sysctls"))?,
            })
        });
        directors.insert(
            name.clone(),
            doc.map_err(|e| e.within(format!("directors.{name}")))?,
        );
    }
    Ok(HostDoc {
        vip_interface: h.vip_interface.clone(),
        ip_forward: h.ip_forward,
        snat_address: ip(
            h.snat_address.as_deref().unwrap_or_default(),
            "snat_address",
        )?,
        ipvs_sysctls: h
            .ipvs_sysctls
            .as_ref()
            .map(ipvs_sysctls_doc)
            .transpose()
            .map_err(|e| e.within("ipvs_sysctls"))?
            .unwrap_or_default(),
        directors,
    })
}

fn ipvs_sysctls_doc(s: &pb::IpvsSysctls) -> Result<IpvsSysctls> {
    let small = |value: Option<u32>, field: &str| {
        value
            .map(|v| {
                u8::try_from(v).map_err(|_| {
                    ValidationError::new(field, format!("{v} is out of range (at most 255)"))
                })
            })
            .transpose()
    };
    Ok(IpvsSysctls {
        recommended: s.recommended,
        expire_nodest_conn: s.expire_nodest_conn,
        expire_quiescent_template: s.expire_quiescent_template,
        conn_reuse_mode: small(s.conn_reuse_mode, "conn_reuse_mode")?,
        sloppy_tcp: s.sloppy_tcp,
        sloppy_sctp: s.sloppy_sctp,
        schedule_icmp: s.schedule_icmp,
        ignore_tunneled: s.ignore_tunneled,
        conntrack: s.conntrack,
        nat_icmp_send: s.nat_icmp_send,
        snat_reroute: s.snat_reroute,
        backup_only: s.backup_only,
        sync_threshold: s.sync_threshold,
        sync_period: s.sync_period,
        sync_version: small(s.sync_version, "sync_version")?,
        sync_ports: s.sync_ports,
        sync_sock_size: s.sync_sock_size,
    })
}

fn ipvs_sysctls_out(s: &IpvsSysctls) -> pb::IpvsSysctls {
    pb::IpvsSysctls {
        recommended: s.recommended,
        expire_nodest_conn: s.expire_nodest_conn,
        expire_quiescent_template: s.expire_quiescent_template,
        conn_reuse_mode: s.conn_reuse_mode.map(u32::from),
        sloppy_tcp: s.sloppy_tcp,
        sloppy_sctp: s.sloppy_sctp,
        schedule_icmp: s.schedule_icmp,
        ignore_tunneled: s.ignore_tunneled,
        conntrack: s.conntrack,
        nat_icmp_send: s.nat_icmp_send,
        snat_reroute: s.snat_reroute,
        backup_only: s.backup_only,
        sync_threshold: s.sync_threshold,
        sync_period: s.sync_period,
        sync_version: s.sync_version.map(u32::from),
        sync_ports: s.sync_ports,
        sync_sock_size: s.sync_sock_size,
    }
}

fn required_ip(value: &str, field: &str) -> Result<IpAddr> {
    ip(value, field)?.ok_or_else(|| ValidationError::new(field, "an address is required"))
}

fn ip_list(list: &pb::VipList, field: &str) -> Result<Vec<IpAddr>> {
    list.addresses
        .iter()
        .enumerate()
        .map(|(i, a)| required_ip(a, &format!("{field}[{i}]")))
        .collect()
}

fn ha_doc(h: &pb::HaSettings) -> Result<HaDoc> {
    let directors = h
        .directors
        .iter()
        .map(|(name, a)| Ok((name.clone(), required_ip(a, &format!("directors.{name}"))?)))
        .collect::<Result<_>>()?;
    let vrrp = h
        .vrrp
        .iter()
        .enumerate()
        .map(|(i, v)| vrrp_doc(v).map_err(|e| e.within(format!("vrrp[{i}]"))))
        .collect::<Result<_>>()?;
    let sync = h
        .sync
        .as_ref()
        .map(|s| {
            let mode = match s.mode.as_str() {
                "" | "both" => SyncMode::Both,
                "follow_vrrp" => SyncMode::FollowVrrp,
                other => {
                    return Err(ValidationError::new(
                        "mode",
                        format!("`{other}` is not a sync mode: both or follow_vrrp"),
                    ));
                }
            };
            Ok(HaSyncDoc {
                mode,
                interface: s.interface.clone(),
                syncid: s.syncid,
                mcast_group: ip(&s.mcast_group, "mcast_group")?,
            })
        })
        .transpose()
        .map_err(|e| e.within("sync"))?;
    Ok(HaDoc {
        directors,
        vrrp,
        sync,
    })
}

fn vrrp_doc(v: &pb::VrrpInstance) -> Result<VrrpInstanceDoc> {
    let internal_vip = v
        .internal_vip
        .as_ref()
        .map(|i| -> Result<InternalVipDoc> {
            Ok(InternalVipDoc {
                address: required_ip(&i.address, "address")?,
                prefix_len: i
                    .prefix_len
                    .map(|p| narrow(p, "prefix_len", 128, "prefix lengths"))
                    .transpose()?,
                interface: i.interface.clone(),
                virtual_router_id: i.virtual_router_id,
            })
        })
        .transpose()
        .map_err(|e| e.within("internal_vip"))?;
    Ok(VrrpInstanceDoc {
        name: v.name.clone(),
        virtual_router_id: v.virtual_router_id,
        interface: v.interface.clone(),
        advert_interval_ms: v.advert_interval_ms,
        vips: v.vips.as_ref().map(|l| ip_list(l, "vips")).transpose()?,
        priority: v.priority.clone().into_iter().collect(),
        unicast_peers: v
            .unicast_peers
            .as_ref()
            .map(|l| ip_list(l, "unicast_peers"))
            .transpose()?,
        multicast: v.multicast,
        preempt: v.preempt,
        preempt_delay_secs: v.preempt_delay_secs,
        track_interfaces: v.track_interfaces.clone(),
        internal_vip,
        garp: v.garp.map(|g| GarpDoc {
            master_delay_secs: g.master_delay_secs,
            master_repeat: g.master_repeat,
            master_refresh_secs: g.master_refresh_secs,
        }),
    })
}

fn ha_out(h: &HaDoc) -> pb::HaSettings {
    let list = |l: &Vec<IpAddr>| pb::VipList {
        addresses: l.iter().map(IpAddr::to_string).collect(),
    };
    pb::HaSettings {
        directors: h
            .directors
            .iter()
            .map(|(n, a)| (n.clone(), a.to_string()))
            .collect(),
        vrrp: h
            .vrrp
            .iter()
            .map(|v| pb::VrrpInstance {
                name: v.name.clone(),
                virtual_router_id: v.virtual_router_id,
                interface: v.interface.clone(),
                advert_interval_ms: v.advert_interval_ms,
                vips: v.vips.as_ref().map(list),
                priority: v.priority.clone().into_iter().collect(),
                unicast_peers: v.unicast_peers.as_ref().map(list),
                multicast: v.multicast,
                preempt: v.preempt,
                preempt_delay_secs: v.preempt_delay_secs,
                track_interfaces: v.track_interfaces.clone(),
                internal_vip: v.internal_vip.as_ref().map(|i| pb::InternalVip {
                    address: i.address.to_string(),
                    prefix_len: i.prefix_len.map(u32::from),
                    interface: i.interface.clone(),
                    virtual_router_id: i.virtual_router_id,
                }),
                garp: v.garp.map(|g| pb::Garp {
                    master_delay_secs: g.master_delay_secs,
                    master_repeat: g.master_repeat,
                    master_refresh_secs: g.master_refresh_secs,
                }),
            })
            .collect(),
        sync: h.sync.as_ref().map(|s| pb::HaSync {
            mode: match s.mode {
                SyncMode::Both => "both",
                SyncMode::FollowVrrp => "follow_vrrp",
            }
            .to_string(),
            interface: s.interface.clone(),
            syncid: s.syncid,
            mcast_group: s.mcast_group.map(|a| a.to_string()).unwrap_or_default(),
        }),
    }
}

pub fn spec_doc(s: &pb::Spec) -> Result<SpecDoc> {
    let services = s
        .services
        .iter()
        .enumerate()
        .map(|(i, svc)| service_doc(svc).map_err(|e| e.within(format!("services[{i}]"))))
        .collect::<Result<Vec<_>>>()?;
    let sync_daemons = s
        .sync_daemons
        .iter()
        .enumerate()
        .map(|(i, d)| sync_daemon_doc(d).map_err(|e| e.within(format!("sync_daemons[{i}]"))))
        .collect::<Result<Vec<_>>>()?;
    let timeouts = s
        .timeouts
        .map(|t| Timeouts {
            tcp: t.tcp,
            tcpfin: t.tcpfin,
            udp: t.udp,
        })
        .unwrap_or_default();
    let host = s
        .host
        .as_ref()
        .map(host_doc)
        .transpose()
        .map_err(|e| e.within("host"))?
        .unwrap_or_default();
    let ha =
        s.ha.as_ref()
            .map(ha_doc)
            .transpose()
            .map_err(|e| e.within("ha"))?;
    Ok(SpecDoc {
        services,
        timeouts,
        sync_daemons,
        host,
        ha,
    })
}

/// A whole spec, validated by the model.
pub fn spec(s: &pb::Spec) -> Result<Spec> {
    spec_doc(s)?.validate()
}

// ---------------------------------------------------------------------------
// The spec, model → proto

pub fn service_out(doc: &VirtualServiceDoc) -> pb::VirtualService {
    pb::VirtualService {
        id: doc.id.clone().unwrap_or_default(),
        protocol: doc.protocol.map(|p| protocol_out(p).into()),
        address: doc.address.map(|a| a.to_string()).unwrap_or_default(),
        port: doc.port.map(u32::from),
        fwmark: doc.fwmark,
        family: doc.family.map(|f| family_out(f).into()),
        scheduler: doc.scheduler.map(|s| scheduler_out(s).into()),
        sched_flags: doc
            .sched_flags
            .iter()
            .map(|f| sched_flag_out(f).into())
            .collect(),
        persistence: doc.persistence.as_ref().map(persistence_out),
        one_packet: doc.one_packet,
        persistence_engine: doc
            .persistence_engine
            .map(|e| persistence_engine_out(e).into()),
        servers: doc.servers.iter().map(server_out).collect(),
        health_json: to_json_field(&HealthJson {
            health_check: doc.health_check.clone(),
            sorry_server: doc.sorry_server.clone(),
            quorum: doc.quorum.clone(),
        }),
    }
}

pub fn service(service: &VirtualService) -> pb::VirtualService {
    service_out(&service.to_doc())
}

pub fn server_out(doc: &RealServerDoc) -> pb::RealServer {
    pb::RealServer {
        id: doc.id.clone().unwrap_or_default(),
        address: doc.address.map(|a| a.to_string()).unwrap_or_default(),
        port: doc.port.map(u32::from),
        forwarding: Some(forwarding_out(doc.forwarding).into()),
        tunnel: doc.tunnel.map(|t| pb::Tunnel {
            r#type: Some(tunnel_type_out(t.kind).into()),
            port: t.port.map(u32::from),
            checksum: Some(tunnel_checksum_out(t.checksum).into()),
        }),
        weight: Some(doc.weight),
        upper_threshold: doc.upper_threshold,
        lower_threshold: doc.lower_threshold,
        health_check_json: to_json_field(&doc.health_check),
    }
}

pub fn server(server: &RealServer) -> pb::RealServer {
    server_out(&RealServerDoc::from(server))
}

fn sync_daemon_out(d: &SyncDaemonDoc) -> pb::SyncDaemon {
    pb::SyncDaemon {
        role: daemon_role_out(d.role).into(),
        interface: d.interface.clone(),
        syncid: d.syncid,
        sync_maxlen: d.sync_maxlen.map(u32::from),
        mcast_group: d.mcast_group.map(|g| g.to_string()).unwrap_or_default(),
        mcast_port: d.mcast_port.map(u32::from),
        mcast_ttl: d.mcast_ttl.map(u32::from),
    }
}

pub fn spec_out(spec: &Spec) -> pb::Spec {
    spec_doc_out(&spec.to_doc())
}

pub fn spec_doc_out(doc: &SpecDoc) -> pb::Spec {
    pb::Spec {
        services: doc.services.iter().map(service_out).collect(),
        timeouts: (!doc.timeouts.is_empty()).then_some(pb::Timeouts {
            tcp: doc.timeouts.tcp,
            tcpfin: doc.timeouts.tcpfin,
            udp: doc.timeouts.udp,
        }),
        sync_daemons: doc.sync_daemons.iter().map(sync_daemon_out).collect(),
        host: (!doc.host.is_empty()).then(|| host_out(&doc.host)),
        ha: doc.ha.as_ref().map(ha_out),
    }
}

fn timeouts_out(t: &Timeouts) -> pb::Timeouts {
    pb::Timeouts {
        tcp: t.tcp,
        tcpfin: t.tcpfin,
        udp: t.udp,
    }
}

fn host_out(h: &HostDoc) -> pb::HostSettings {
    pb::HostSettings {
        vip_interface: h.vip_interface.clone(),
        ip_forward: h.ip_forward,
        snat_address: h.snat_address.map(|a| a.to_string()),
        ipvs_sysctls: (!h.ipvs_sysctls.is_empty()).then(|| ipvs_sysctls_out(&h.ipvs_sysctls)),
        directors: h
            .directors
            .iter()
            .map(|(name, d)| {
                let director = pb::DirectorHost {
                    vip_interface: d.vip_interface.clone(),
                    ip_forward: d.ip_forward,
                    snat_address: d.snat_address.map(|a| a.to_string()),
                    sync_daemons: d.sync_daemons.as_ref().map(|list| pb::SyncDaemons {
                        daemons: list.iter().map(sync_daemon_out).collect(),
                    }),
                    timeouts: d.timeouts.as_ref().map(timeouts_out),
                    ipvs_sysctls: d.ipvs_sysctls.as_ref().map(ipvs_sysctls_out),
                };
                (name.clone(), director)
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// JSON ↔ google.protobuf.Value

pub fn json_to_value(json: &Json) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match json {
        Json::Null => Kind::NullValue(prost_types::NullValue::NullValue.into()),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        Json::Object(map) => Kind::StructValue(prost_types::Struct {
            fields: map
                .iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// google.protobuf.Value has only doubles: whole numbers come back as JSON
/// integers, so `{"weight": 5}` patches a `u32` field.
pub fn value_to_json(value: &prost_types::Value) -> Json {
    use prost_types::value::Kind;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::NumberValue(n)) => number_to_json(*n),
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::ListValue(list)) => Json::Array(list.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

pub fn struct_to_json(s: &prost_types::Struct) -> Json {
    Json::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

fn number_to_json(n: f64) -> Json {
    // 2^53: beyond it doubles no longer hold every integer.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= EXACT {
        json!(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)
    }
}

// ---------------------------------------------------------------------------
// Core views → proto

pub fn cluster(view: ClusterView) -> pb::Cluster {
    pb::Cluster {
        name: view.name,
        description: view.description,
        created_at: view.created_at,
        created_by: view.created_by,
        active_revision: view.active_revision,
        latest_revision: view.latest_revision,
        draft_etag: view.draft_etag,
        draft_dirty: view.draft_dirty,
        pending_confirm: view.pending_confirm.map(super::apply::pending_confirm),
    }
}

pub fn draft(view: DraftView) -> pb::Draft {
    pb::Draft {
        spec: Some(spec_out(&view.spec)),
        cluster: view.cluster,
        etag: view.etag,
        version: view.version,
        updated_at: view.updated_at,
        updated_by: view.updated_by,
        base_revision: view.base_revision,
        dirty: view.dirty,
    }
}

pub fn keepalived_imported(
    imported: crate::core::KeepalivedImported,
) -> pb::ImportKeepalivedResponse {
    pb::ImportKeepalivedResponse {
        draft: Some(draft(imported.draft)),
        left_out: imported
            .left_out
            .into_iter()
            .map(|item| pb::LeftOut {
                file: item.file,
                line: u32::try_from(item.line).unwrap_or(u32::MAX),
                field: item.field,
                within: item.within,
                why: item.why,
            })
            .collect(),
    }
}

fn revision_kind_out(kind: RevisionKind) -> pb::RevisionKind {
    match kind {
        RevisionKind::Commit => pb::RevisionKind::Commit,
        RevisionKind::Rollback => pb::RevisionKind::Rollback,
    }
}

pub(super) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub fn revision(view: RevisionView) -> pb::Revision {
    pb::Revision {
        spec: view.spec.as_deref().map(spec_out),
        cluster: view.cluster,
        number: view.number,
        parent: view.parent,
        author: view.author,
        message: view.message,
        created_at: view.created_at,
        content_hash: view.content_hash,
        kind: revision_kind_out(view.kind).into(),
        rollback_of: view.rollback_of,
        active: view.active,
        services: count(view.services),
        servers: count(view.servers),
    }
}

pub fn commit_outcome(outcome: CommitOutcome) -> pb::CommitResponse {
    pb::CommitResponse {
        created: outcome.created,
        revision: Some(revision(outcome.revision)),
        confirm: outcome.confirm.map(super::apply::pending_confirm),
    }
}

fn field_change(change: &FieldChange) -> pb::FieldChange {
    pb::FieldChange {
        field: change.field.clone(),
        from: change.from.as_ref().map(json_to_value),
        to: change.to.as_ref().map(json_to_value),
    }
}

fn server_change(change: &ServerChange) -> pb::ServerChange {
    pb::ServerChange {
        id: change.id.clone(),
        changes: change.changes.iter().map(field_change).collect(),
    }
}

fn service_change(change: &ServiceChange) -> pb::ServiceChange {
    pb::ServiceChange {
        id: change.id.clone(),
        changes: change.changes.iter().map(field_change).collect(),
        servers_added: change.servers_added.iter().map(server_out).collect(),
        servers_removed: change.servers_removed.iter().map(server_out).collect(),
        servers_changed: change.servers_changed.iter().map(server_change).collect(),
    }
}

pub fn spec_diff(diff: &SpecDiff) -> pb::SpecDiff {
    pb::SpecDiff {
        services_added: diff.services_added.iter().map(service_out).collect(),
        services_removed: diff.services_removed.iter().map(service_out).collect(),
        services_changed: diff.services_changed.iter().map(service_change).collect(),
        timeouts: diff.timeouts.iter().map(field_change).collect(),
        sync_daemons: diff.sync_daemons.iter().map(field_change).collect(),
        host: diff.host.iter().map(field_change).collect(),
        ha: diff.ha.iter().map(field_change).collect(),
    }
}

pub fn audit_entry(entry: AuditEntry) -> pb::AuditEntry {
    pb::AuditEntry {
        detail: Some(json_to_value(&entry.detail)),
        id: entry.id,
        at: entry.at,
        actor: entry.actor,
        request_id: entry.request_id,
        cluster: entry.cluster,
        action: entry.action,
        target: entry.target,
        outcome: entry.outcome,
    }
}

/// A director's health report, as `GetHealth` answers it.
pub fn director_health(report: &crate::core::DirectorServersHealth) -> pb::DirectorServersHealth {
    pb::DirectorServersHealth {
        director: report.director.clone(),
        at: report.at.clone(),
        services: report
            .services
            .iter()
            .map(|service| pb::ServiceHealth {
                service: service.service.clone(),
                degraded: service.degraded,
                healthy_servers: service.healthy_servers as u32,
                servers_total: service.servers_total as u32,
                sorry_server_active: service.sorry_server_active.clone().unwrap_or_default(),
                servers: service
                    .servers
                    .iter()
                    .map(|server| pb::ServerHealth {
                        server: server.server.clone(),
                        check: server
                            .check
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_default(),
                        healthy: server.healthy,
                        effective_weight: server.effective_weight.map(u32::from),
                        consecutive_successes: server.consecutive_successes,
                        consecutive_failures: server.consecutive_failures,
                        failing_since: server.failing_since.clone().unwrap_or_default(),
                        last_error: server.last_error.clone().unwrap_or_default(),
                        checks: server.checks,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nat_service() -> pb::VirtualService {
        pb::VirtualService {
            protocol: Some(pb::Protocol::Tcp.into()),
            address: "192.168.31.100".into(),
            port: Some(80),
            scheduler: Some(pb::Scheduler::Wrr.into()),
            servers: (1..=3)
                .map(|i| pb::RealServer {
                    address: format!("172.25.0.3{i}"),
                    forwarding: Some(pb::Forwarding::Nat.into()),
                    weight: Some(i),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_service_round_trips_through_the_model() {
        let validated = service_doc(&nat_service()).unwrap().validate().unwrap();
        assert_eq!(validated.key.to_string(), "tcp:192.168.31.100:80");
        assert_eq!(validated.scheduler, Scheduler::Wrr);
        let out = service(&validated);
        assert_eq!(out.id, "tcp:192.168.31.100:80");
        assert_eq!(out.servers[1].id, "172.25.0.32:80");
        assert_eq!(out.servers[1].weight, Some(2));
        assert_eq!(service_doc(&out).unwrap().validate().unwrap(), validated);
    }

    #[test]
    fn every_field_survives_a_round_trip() {
        let spec_json = r#"{
            "services": [
                {"fwmark": 7, "family": "ipv6", "scheduler": "sh", "sched_flags": ["sh-fallback", "sh-port"],
                 "persistence": {"timeout": 900, "netmask": 64}, "persistence_engine": "sip",
                 "servers": [{"address": "2001:db8::7", "forwarding": "tun", "tunnel": {"type": "gue", "port": 6080, "checksum": "remcsum"},
                              "weight": 0, "upper_threshold": 10, "lower_threshold": 5}]},
                {"id": "udp:10.0.0.1:53", "one_packet": true, "persistence": {"netmask": "255.255.255.0"},
                 "servers": [{"address": "10.1.0.1", "port": 5353, "forwarding": "fullnat"}]},
                {"id": "tcp:10.0.0.1:80", "health_check": {"type": "http", "path": "/ok", "fall": 5},
                 "sorry_server": {"address": "10.9.0.9", "forwarding": "nat"}, "quorum": "50%",
                 "servers": [{"address": "10.1.0.1", "forwarding": "nat", "health_check": {"type": "tcp", "port": 22}}]}
            ],
            "timeouts": {"tcp": 900, "udp": 30},
            "sync_daemons": [{"role": "backup", "interface": "eth1", "syncid": 9, "sync_maxlen": 1400,
                              "mcast_group": "224.0.0.82", "mcast_port": 8849, "mcast_ttl": 2}],
            "host": {"vip_interface": "none", "ip_forward": false, "snat_address": "10.0.0.9",
                     "ipvs_sysctls": {"recommended": false, "expire_nodest_conn": true, "expire_quiescent_template": false,
                                      "conn_reuse_mode": 3, "sloppy_tcp": true, "sloppy_sctp": false, "schedule_icmp": true,
                                      "ignore_tunneled": true, "conntrack": true, "nat_icmp_send": true, "snat_reroute": false,
                                      "backup_only": true, "sync_threshold": 2, "sync_period": 40, "sync_version": 0,
                                      "sync_ports": 8, "sync_sock_size": 65536},
                     "directors": {"d1": {"sync_daemons": [], "ipvs_sysctls": {"sloppy_tcp": false}},
                                   "d2": {"vip_interface": "eth1", "ip_forward": true, "snat_address": "2001:db8::9",
                                          "sync_daemons": [{"role": "master", "interface": "eth2"}], "timeouts": {"tcpfin": 5}}}}
        }"#;
        let spec = Spec::from_json(spec_json.as_bytes()).unwrap();
        let again = super::spec(&spec_out(&spec)).unwrap();
        assert_eq!(again, spec);
        let checked = again.service(&"tcp:10.0.0.1:80".parse().unwrap()).unwrap();
        assert_eq!(
            checked.health().checks.values().next().unwrap().port,
            22,
            "the server's override came through"
        );
    }

    #[test]
    fn the_ha_section_survives_a_round_trip() {
        let spec_json = r#"{
            "services": [{"id": "tcp:172.25.0.100:80"}],
            "ha": {"directors": {"d1": "172.25.0.1", "d2": "172.25.0.2"},
                   "vrrp": [{"name": "VI_1", "virtual_router_id": 51, "interface": "br0",
                             "advert_interval_ms": 200, "priority": {"d1": 150}, "preempt": true,
                             "preempt_delay_secs": 5, "track_interfaces": ["eth1"],
                             "internal_vip": {"address": "10.0.0.254", "prefix_len": 24, "interface": "eth1", "virtual_router_id": 52},
                             "garp": {"master_delay_secs": 1, "master_repeat": 3, "master_refresh_secs": 30}},
                            {"name": "VI_2", "virtual_router_id": 53, "interface": "br0", "vips": ["172.25.0.101"],
                             "unicast_peers": ["172.25.0.9"]},
                            {"name": "VI_3", "virtual_router_id": 54, "interface": "br0", "vips": [], "multicast": true}],
                   "sync": {"mode": "follow_vrrp", "interface": "br0", "syncid": 3, "mcast_group": "224.0.0.82"}}
        }"#;
        let spec = Spec::from_json(spec_json.as_bytes()).unwrap();
        let again = super::spec(&spec_out(&spec)).unwrap();
        assert_eq!(again, spec);
        assert_eq!(again.ha().unwrap().instances()[2].vips, Some(Vec::new()));
        let mut bad = spec_out(&spec);
        bad.ha.as_mut().unwrap().vrrp[1].virtual_router_id = 300;
        assert_eq!(
            super::spec(&bad).unwrap_err().field,
            "ha.vrrp[1].virtual_router_id"
        );
        bad.ha.as_mut().unwrap().sync.as_mut().unwrap().mode = "sometimes".into();
        assert_eq!(super::spec(&bad).unwrap_err().field, "ha.sync.mode");
    }

    #[test]
    fn bad_health_json_names_its_field() {
        let mut service = nat_service();
        service.health_json = r#"{"health_check": {"type": "bogus"}}"#.into();
        assert_eq!(
            service_doc(&service).unwrap_err().field,
            "health_json.health_check.type"
        );
        let mut service = nat_service();
        service.servers[0].health_check_json = r#"{"fall": "x"}"#.into();
        assert_eq!(
            service_doc(&service).unwrap_err().field,
            "servers[0].health_check_json.fall"
        );
    }

    type Edit = Box<dyn Fn(&mut pb::VirtualService)>;

    #[test]
    fn refusals_name_the_model_field() {
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|s| s.scheduler = Some(0)), "scheduler"),
            (Box::new(|s| s.scheduler = Some(99)), "scheduler"),
            (Box::new(|s| s.protocol = Some(0)), "protocol"),
            (Box::new(|s| s.address = "192.168.31".into()), "address"),
            (Box::new(|s| s.port = Some(65536)), "port"),
            (Box::new(|s| s.sched_flags = vec![0]), "sched_flags"),
            (
                Box::new(|s| s.servers[2].address = "nope".into()),
                "servers[2].address",
            ),
            (
                Box::new(|s| s.servers[1].forwarding = Some(0)),
                "servers[1].forwarding",
            ),
            (
                Box::new(|s| s.servers[0].weight = Some(70_000)),
                "servers[0].weight",
            ),
            (
                Box::new(|s| s.servers[0].port = Some(1 << 20)),
                "servers[0].port",
            ),
            (
                Box::new(|s| {
                    s.servers[0].tunnel = Some(pb::Tunnel {
                        r#type: Some(7),
                        ..Default::default()
                    })
                }),
                "servers[0].tunnel.type",
            ),
            (
                Box::new(|s| {
                    s.persistence = Some(pb::Persistence {
                        netmask: Some(pb::persistence::Netmask::PrefixLength(300)),
                        ..Default::default()
                    })
                }),
                "persistence.netmask",
            ),
            (
                Box::new(|s| {
                    s.persistence = Some(pb::Persistence {
                        timeout: Some(0),
                        netmask: None,
                    })
                }),
                "persistence.timeout",
            ),
            (
                Box::new(|s| {
                    s.fwmark = Some(12);
                    s.protocol = None;
                    s.address.clear();
                }),
                "port",
            ),
            (
                Box::new(|s| s.servers.push(s.servers[0].clone())),
                "servers",
            ),
        ];
        for (i, (edit, field)) in cases.into_iter().enumerate() {
            let mut svc = nat_service();
            edit(&mut svc);
            let err = service_doc(&svc)
                .and_then(|doc| doc.validate())
                .unwrap_err();
            assert_eq!(err.field, field, "case {i}: {err}");
        }
    }

    #[test]
    fn numbers_in_values_come_back_whole() {
        let json = json!({"weight": 5, "persistence": null, "ratio": 0.5, "flags": ["sh-port"]});
        let value = json_to_value(&json);
        assert_eq!(value_to_json(&value), json);
    }
}
