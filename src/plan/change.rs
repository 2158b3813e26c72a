//! One change of a plan: the kernel operations it takes, what it replaces,
//! and how to say it to an operator.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::ipvs::error::service_name;
use crate::ipvs::{Daemon, Dest, DestKey, Op, Service, Timeouts, fwd, svc_flags, tun};
use crate::model::{AddressFamily, ServiceKey};

/// One step from the actual table towards the spec. Every change keeps the
/// kernel's value it replaces, so a plan can say what it changes, not only what it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    AddService(Service),
    EditService {
        before: Service,
        after: Service,
    },
    /// Deletes the service and, with it, its real servers (listed as they were).
    DelService {
        service: Service,
        servers: Vec<Dest>,
    },
    AddDest {
        service: ServiceKey,
        dest: Dest,
    },
    EditDest {
        service: ServiceKey,
        before: Dest,
        after: Dest,
    },
    /// Sets a real server leaving the spec to weight 0, so that its
    /// connections finish while new ones go elsewhere; a later plan deletes it
    /// once it has none left. `conns` counts active and inactive connections.
    DrainDest {
        service: ServiceKey,
        dest: Dest,
        conns: u64,
    },
    DelDest {
        service: ServiceKey,
        dest: Dest,
    },
    /// `after` is the request: the spec's timeouts, 0 where it leaves one as it is.
    SetTimeouts {
        before: Timeouts,
        after: Timeouts,
    },
    StartDaemon(Daemon),
    StopDaemon(Daemon),
    /// The kernel cannot change a running sync daemon: stop it, start it anew.
    RestartDaemon {
        before: Daemon,
        after: Daemon,
    },
}

/// One setting a change moves from one value to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: String,
    pub after: String,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.field, self.before, self.after)
    }
}

impl Change {
    /// The kernel operations, in order, that make this change.
    pub fn ops(&self) -> Vec<Op> {
        match self {
            Change::AddService(s) => vec![Op::AddService(s.clone())],
            Change::EditService { after, .. } => vec![Op::EditService(after.clone())],
            Change::DelService { service, .. } => vec![Op::DelService(service.key)],
            Change::AddDest { service, dest } => vec![Op::AddDest(*service, *dest)],
            Change::EditDest { service, after, .. } => vec![Op::EditDest(*service, *after)],
            Change::DrainDest { service, dest, .. } => vec![Op::EditDest(*service, drained(dest))],
            Change::DelDest { service, dest } => vec![Op::DelDest(*service, dest.key)],
            Change::SetTimeouts { after, .. } => vec![Op::SetTimeouts(*after)],
            Change::StartDaemon(d) => vec![Op::StartDaemon(d.clone())],
            Change::StopDaemon(d) => vec![Op::StopDaemon(d.role)],
            Change::RestartDaemon { before, after } => {
                vec![Op::StopDaemon(before.role), Op::StartDaemon(after.clone())]
            }
        }
    }

    /// The settings this change moves, for edits; empty for additions and removals.
    pub fn field_changes(&self) -> Vec<FieldChange> {
        match self {
            Change::EditService { before, after } => service_changes(before, after),
            Change::EditDest { before, after, .. } => dest_changes(before, after),
            Change::DrainDest { dest, .. } => dest_changes(dest, &drained(dest)),
            Change::SetTimeouts { before, after } => timeout_changes(before, after),
            Change::RestartDaemon { before, after } => daemon_changes(before, after),
            _ => Vec::new(),
        }
    }

    /// What the change is about, as people name it: "service tcp 10.0.0.1:80",
    /// "real server 172.25.0.31:80 of tcp 10.0.0.1:80", "timeouts", "sync daemon master".
    pub fn object(&self) -> String {
        match self {
            Change::AddService(s)
            | Change::EditService { after: s, .. }
            | Change::DelService { service: s, .. } => {
                format!("service {}", service_name(&s.key))
            }
            Change::AddDest { service, dest }
            | Change::EditDest {
                service,
                after: dest,
                ..
            }
            | Change::DrainDest { service, dest, .. }
            | Change::DelDest { service, dest } => server_name(service, &dest.key),
            Change::SetTimeouts { .. } => "timeouts".to_string(),
            Change::StartDaemon(d)
            | Change::StopDaemon(d)
            | Change::RestartDaemon { after: d, .. } => {
                format!("sync daemon {}", d.role.as_str())
            }
        }
    }
}

/// A real server as people name it: "real server 172.25.0.31:80 of tcp 10.0.0.1:80".
pub fn server_name(service: &ServiceKey, dest: &DestKey) -> String {
    format!("real server {dest} of {}", service_name(service))
}

fn drained(dest: &Dest) -> Dest {
    Dest { weight: 0, ..*dest }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changes = || join(&self.field_changes(), ", ");
        match self {
            Change::AddService(s) => write!(
                f,
                "+ service {} {}",
                service_name(&s.key),
                service_settings(s)
            ),
            Change::EditService { after, .. } => {
                write!(f, "~ service {}: {}", service_name(&after.key), changes())
            }
            Change::DelService { service, servers } => {
                write!(f, "- service {}", service_name(&service.key))?;
                match servers.len() {
                    0 => Ok(()),
                    1 => write!(f, " and its real server"),
                    n => write!(f, " and its {n} real servers"),
                }
            }
            Change::AddDest { service, dest } => {
                write!(
                    f,
                    "+ real server {} to {}: {}",
                    dest.key,
                    service_name(service),
                    dest_settings(dest)
                )
            }
            Change::EditDest { .. } => write!(f, "~ {}: {}", self.object(), changes()),
            Change::DrainDest { conns, .. } => {
                write!(
                    f,
                    "~ {}: {}, draining (leaves the spec; {conns} connections)",
                    self.object(),
                    changes()
                )
            }
            Change::DelDest { service, dest } => write!(
                f,
                "- real server {} from {}",
                dest.key,
                service_name(service)
            ),
            Change::SetTimeouts { .. } => write!(f, "~ timeouts: {}", changes()),
            Change::StartDaemon(d) => write!(f, "+ sync daemon {}", daemon_settings(d)),
            Change::StopDaemon(d) => write!(f, "- sync daemon {}", daemon_settings(d)),
            Change::RestartDaemon { after, .. } => {
                write!(
                    f,
                    "~ sync daemon {} (restarted): {}",
                    after.role.as_str(),
                    changes()
                )
            }
        }
    }
}

pub(super) fn join<T: fmt::Display>(items: &[T], separator: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

/// A service's settings in words: "wrr persistent 300s netmask 255.255.255.0 pe sip".
fn service_settings(s: &Service) -> String {
    let mut words = vec![s.scheduler.clone()];
    if s.flags & svc_flags::PERSISTENT != 0 {
        words.push(format!("persistent {}s", s.timeout));
    }
    if s.netmask != full_netmask(s.key.family()) {
        words.push(format!("netmask {}", netmask(s.key.family(), s.netmask)));
    }
    let other_flags = s.flags & !svc_flags::PERSISTENT;
    if other_flags != 0 {
        words.push(flag_names(other_flags, &s.scheduler));
    }
    if let Some(pe) = &s.pe_name {
        words.push(format!("pe {pe}"));
    }
    words.join(" ")
}

fn service_changes(before: &Service, after: &Service) -> Vec<FieldChange> {
    let family = after.key.family();
    let mut changes = Vec::new();
    push_if_differs(
        &mut changes,
        "scheduler",
        &before.scheduler,
        &after.scheduler,
        Clone::clone,
    );
    push_if_differs(
        &mut changes,
        "flags",
        &before.flags,
        &after.flags,
        |flags| flag_names(*flags, &after.scheduler),
    );
    push_if_differs(
        &mut changes,
        "timeout",
        &before.timeout,
        &after.timeout,
        |secs| format!("{secs}s"),
    );
    push_if_differs(
        &mut changes,
        "netmask",
        &before.netmask,
        &after.netmask,
        |mask| netmask(family, *mask),
    );
    push_if_differs(&mut changes, "pe", &before.pe_name, &after.pe_name, |pe| {
        pe.clone().unwrap_or("none".into())
    });
    changes
}

fn push_if_differs<T: PartialEq>(
    changes: &mut Vec<FieldChange>,
    field: &'static str,
    before: &T,
    after: &T,
    show: impl Fn(&T) -> String,
) {
    if before != after {
        changes.push(FieldChange {
            field,
            before: show(before),
            after: show(after),
        });
    }
}

/// Service flags by name; the scheduler flags as `sh` and `mh` name them.
fn flag_names(flags: u32, scheduler: &str) -> String {
    let sched_flag = |n: u32, meaning: &str| match scheduler {
        "sh" | "mh" if !meaning.is_empty() => format!("{scheduler}-{meaning}"),
        _ => format!("flag-{n}"),
    };
    let mut names = Vec::new();
    for (bit, name) in [
        (svc_flags::PERSISTENT, "persistent".to_string()),
        (svc_flags::ONEPACKET, "one-packet".to_string()),
        (svc_flags::SCHED1, sched_flag(1, "fallback")),
        (svc_flags::SCHED2, sched_flag(2, "port")),
        (svc_flags::SCHED3, sched_flag(3, "")),
    ] {
        if flags & bit != 0 {
            names.push(name);
        }
    }
    let unknown = flags & !svc_flags::SETTABLE;
    if unknown != 0 {
        names.push(format!("{unknown:#x}"));
    }
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(",")
    }
}

fn full_netmask(family: AddressFamily) -> u32 {
    crate::ipvs::netmask_value(family, family.max_prefix())
}

fn netmask(family: AddressFamily, mask: u32) -> String {
    match family {
        AddressFamily::Ipv4 => Ipv4Addr::from(mask).to_string(),
        AddressFamily::Ipv6 => format!("/{mask}"),
    }
}

/// A real server's settings in words: "nat weight 2 upper threshold 100".
fn dest_settings(d: &Dest) -> String {
    let mut words = vec![forwarding(d), format!("weight {}", d.weight)];
    if d.u_threshold != 0 {
        words.push(format!("upper threshold {}", d.u_threshold));
    }
    if d.l_threshold != 0 {
        words.push(format!("lower threshold {}", d.l_threshold));
    }
    words.join(" ")
}

fn dest_changes(before: &Dest, after: &Dest) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    // `forwarding` shows the tunnel details, so any of the four differing shows.
    let method = |d: &Dest| (d.fwd_method, d.tun_type, d.tun_port, d.tun_flags);
    if method(before) != method(after) {
        changes.push(FieldChange {
            field: "forwarding",
            before: forwarding(before),
            after: forwarding(after),
        });
    }
    push_if_differs(
        &mut changes,
        "weight",
        &before.weight,
        &after.weight,
        u32::to_string,
    );
    push_if_differs(
        &mut changes,
        "upper threshold",
        &before.u_threshold,
        &after.u_threshold,
        u32::to_string,
    );
    push_if_differs(
        &mut changes,
        "lower threshold",
        &before.l_threshold,
        &after.l_threshold,
        u32::to_string,
    );
    changes
}

/// The forwarding method with its tunnel details: "nat", "dr", "tun gue port 6080 csum".
fn forwarding(d: &Dest) -> String {
    let method = match d.fwd_method {
        fwd::MASQ => "nat".to_string(),
        fwd::DROUTE => "dr".to_string(),
        fwd::TUNNEL => "tun".to_string(),
        fwd::LOCALNODE => "local".to_string(),
        fwd::BYPASS => "bypass".to_string(),
        other => format!("forwarding {other}"),
    };
    let tunnel = (d.tun_type, d.tun_port, d.tun_flags);
    if d.fwd_method != fwd::TUNNEL && tunnel == (0, 0, 0) {
        return method;
    }
    let mut words = vec![method];
    words.push(match d.tun_type {
        tun::IPIP => "ipip".to_string(),
        tun::GUE => "gue".to_string(),
        tun::GRE => "gre".to_string(),
        other => format!("tunnel type {other}"),
    });
    if d.tun_port != 0 {
        words.push(format!("port {}", d.tun_port));
    }
    if d.tun_flags & tun::FLAG_CSUM != 0 {
        words.push("csum".to_string());
    }
    if d.tun_flags & tun::FLAG_REMCSUM != 0 {
        words.push("remcsum".to_string());
    }
    let unknown = d.tun_flags & !(tun::FLAG_CSUM | tun::FLAG_REMCSUM);
    if unknown != 0 {
        words.push(format!("flags {unknown:#x}"));
    }
    words.join(" ")
}

fn timeout_changes(before: &Timeouts, after: &Timeouts) -> Vec<FieldChange> {
    [
        ("tcp", before.tcp, after.tcp),
        ("tcpfin", before.tcp_fin, after.tcp_fin),
        ("udp", before.udp, after.udp),
    ]
    .into_iter()
    .filter(|&(_, was, wanted)| wanted != 0 && wanted != was)
    .map(|(field, was, wanted)| FieldChange {
        field,
        before: format!("{was}s"),
        after: format!("{wanted}s"),
    })
    .collect()
}

/// A sync daemon in words: "master on eth0 syncid 7 port 8848".
fn daemon_settings(d: &Daemon) -> String {
    let mut words = vec![format!(
        "{} on {} syncid {}",
        d.role.as_str(),
        d.mcast_ifn,
        d.syncid
    )];
    if let Some(len) = d.sync_maxlen {
        words.push(format!("maxlen {len}"));
    }
    if let Some(group) = d.mcast_group {
        words.push(format!("group {group}"));
    }
    if let Some(port) = d.mcast_port {
        words.push(format!("port {port}"));
    }
    if let Some(ttl) = d.mcast_ttl {
        words.push(format!("ttl {ttl}"));
    }
    words.join(" ")
}

/// The daemon settings a restart changes: those `after` (the spec) sets.
fn daemon_changes(before: &Daemon, after: &Daemon) -> Vec<FieldChange> {
    fn show<T: fmt::Display>(value: &Option<T>) -> String {
        value
            .as_ref()
            .map_or("default".to_string(), ToString::to_string)
    }
    let mut changes = Vec::new();
    push_if_differs(
        &mut changes,
        "interface",
        &before.mcast_ifn,
        &after.mcast_ifn,
        Clone::clone,
    );
    push_if_differs(
        &mut changes,
        "syncid",
        &before.syncid,
        &after.syncid,
        u32::to_string,
    );
    if after.sync_maxlen.is_some_and(|v| v != 0) {
        push_if_differs(
            &mut changes,
            "maxlen",
            &before.sync_maxlen,
            &after.sync_maxlen,
            show,
        );
    }
    if after.mcast_group.is_some() {
        push_if_differs(
            &mut changes,
            "group",
            &before.mcast_group,
            &after.mcast_group,
            show,
        );
    }
    if after.mcast_port.is_some_and(|v| v != 0) {
        push_if_differs(
            &mut changes,
            "port",
            &before.mcast_port,
            &after.mcast_port,
            show,
        );
    }
    if after.mcast_ttl.is_some_and(|v| v != 0) {
        push_if_differs(
            &mut changes,
            "ttl",
            &before.mcast_ttl,
            &after.mcast_ttl,
            show,
        );
    }
    changes
}
