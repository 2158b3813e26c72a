//! `ipvsadm -Ln` and its variants (`--stats`, `--rate`, `--thresholds`,
//! `--persistent-conn`, `--tun-info`, `--exact`, `--timeout`, `--daemon`),
//! column for column as ipvsadm 1.31 prints them, trailing spaces included.

use std::cmp::Ordering;
use std::fmt::Write;
use std::net::IpAddr;

use super::render::{
    addr_port, has_sched_flags, is_ipv6, is_tunnel, netmask, protocol_title, sched_flags,
    tunnel_checksum,
};
use crate::ipvs::{
    Daemon, DestEntry, Info, ServiceEntry, Snapshot, Stats, Timeouts, fwd, svc_flags, tun,
};
use crate::model::{DaemonRole, Protocol, ServiceKey};

/// What `ipvsadm -L` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListView {
    /// Plain `-Ln`: forwarding, weight and connection counts.
    #[default]
    Services,
    /// `--stats`: connection, packet and byte counters.
    Stats,
    /// `--rate`: the kernel's estimated rates.
    Rate,
    /// `--thresholds`: the real servers' connection thresholds.
    Thresholds,
    /// `--persistent-conn`: persistent connection templates per real server.
    PersistentConn,
    /// `--tun-info`: tunnel type, port and checksum of tunnel real servers.
    TunInfo,
    /// `--timeout`: the connection timeouts only.
    Timeout,
    /// `--daemon`: the sync daemons only.
    Daemon,
}

/// How to render a table; `ListOptions::new(info)` is plain `ipvsadm -Ln`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOptions {
    /// Version and connection table size for the header line.
    pub info: Info,
    pub view: ListView,
    /// `--exact`: counters in full instead of K/M/G/T.
    pub exact: bool,
    /// ipvsadm sorts services and real servers unless `--nosort`.
    pub sort: bool,
}

impl ListOptions {
    pub fn new(info: Info) -> Self {
        Self {
            info,
            view: ListView::Services,
            exact: false,
            sort: true,
        }
    }

    pub fn view(self, view: ListView) -> Self {
        Self { view, ..self }
    }

    pub fn exact(self, exact: bool) -> Self {
        Self { exact, ..self }
    }

    pub fn sort(self, sort: bool) -> Self {
        Self { sort, ..self }
    }
}

/// The table as `ipvsadm -Ln` (with the options' flags) prints it. Names are
/// always numeric: lvsd does not resolve addresses or ports.
pub fn list(snapshot: &Snapshot, opts: ListOptions) -> String {
    let mut out = String::new();
    match opts.view {
        ListView::Timeout => write_timeouts(&mut out, &snapshot.timeouts),
        ListView::Daemon => write_daemons(&mut out, &snapshot.daemons),
        _ => {
            let _ = writeln!(
                out,
                "IP Virtual Server version {} (size={})",
                opts.info.version_string(),
                opts.info.conn_tab_size
            );
            write_title(&mut out, opts.view);
            let mut services: Vec<&ServiceEntry> = snapshot.services.iter().collect();
            if opts.sort {
                services.sort_by(|a, b| sort_like_ipvsadm(&a.service.key, &b.service.key));
            }
            for entry in services {
                write_service(&mut out, entry, opts);
            }
        }
    }
    out
}

/// The order `ipvsadm -L` and `-S` list services in (libipvs's
/// `ipvs_cmp_services`): address services before fwmark ones, fwmarks by
/// number, then IPv4 before IPv6, tcp, udp, sctp, address, port.
///
/// libipvs compares addresses by subtracting them into an `int`, which wraps
/// for addresses more than 2^31 apart (10.0.0.1 then sorts after
/// 192.168.0.1); that order is not even consistent, so lvsd sorts
/// numerically.
pub fn sort_like_ipvsadm(a: &ServiceKey, b: &ServiceKey) -> Ordering {
    fn rank(key: &ServiceKey) -> (u32, bool, u8, u128, u16) {
        match key {
            ServiceKey::Addr { protocol, addr } => {
                let number = match protocol {
                    Protocol::Tcp => 6,
                    Protocol::Udp => 17,
                    Protocol::Sctp => 132,
                };
                let bits = match addr.ip() {
                    IpAddr::V4(v4) => u128::from(u32::from(v4)),
                    IpAddr::V6(v6) => u128::from(v6),
                };
                (0, is_ipv6(key), number, bits, addr.port())
            }
            ServiceKey::Fwmark { mark, .. } => (*mark, is_ipv6(key), 0, 0, 0),
        }
    }
    rank(a).cmp(&rank(b))
}

fn write_title(out: &mut String, view: ListView) {
    const SERVICE: &str = "Prot LocalAddress:Port";
    const SERVER: &str = "  -> RemoteAddress:Port";
    let _ = match view {
        ListView::Stats => writeln!(
            out,
            "{SERVICE:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{SERVER}",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        ),
        ListView::Rate => writeln!(
            out,
            "{SERVICE:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{SERVER}",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        ),
        ListView::Thresholds => writeln!(
            out,
            "{SERVICE:<33} {:<10} {:<10} {:<10} {:<10}\n{SERVER}",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        ),
        ListView::PersistentConn => writeln!(
            out,
            "{SERVICE:<33} {:<9} {:<11} {:<10} {:<10}\n{SERVER}",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        ),
        ListView::TunInfo => writeln!(
            out,
            "{SERVICE} Scheduler Flags\n{SERVER}           Forward TunnelInfo    Weight ActiveConn InActConn"
        ),
        _ => writeln!(
            out,
            "{SERVICE} Scheduler Flags\n{SERVER}           Forward Weight ActiveConn InActConn"
        ),
    };
}

/// How `-L` names a service: `TCP  192.168.31.100:80`, `FWM  12 IPv6`.
fn service_title(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Fwmark { mark, .. } if is_ipv6(key) => format!("FWM  {mark} IPv6"),
        ServiceKey::Fwmark { mark, .. } => format!("FWM  {mark}"),
        ServiceKey::Addr { protocol, addr } => {
            let mut title = format!(
                "{:<4} {}",
                protocol_title(*protocol),
                addr_port(addr.ip(), addr.port())
            );
            // ipvsadm's buffer cut for names; numeric IPv4 never reaches it.
            if !is_ipv6(key) {
                title.truncate(33);
            }
            title
        }
    }
}

/// ipvsadm's `print_largenum`: nine columns, shortened past 100 million
/// unless `--exact`.
fn largenum(out: &mut String, n: u64, exact: bool) {
    let _ = if exact {
        let width = n.to_string().len().max(8) + 1;
        write!(out, "{n:>width$}")
    } else if n < 100_000_000 {
        write!(out, "{n:>9}")
    } else if n < 1_000_000_000 {
        write!(out, "{:>8}K", n / 1_000)
    } else if n < 100_000_000_000 {
        write!(out, "{:>8}M", n / 1_000_000)
    } else if n < 100_000_000_000_000 {
        write!(out, "{:>8}G", n / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", n / 1_000_000_000_000)
    };
}

fn counters(out: &mut String, stats: &Stats, exact: bool) {
    for n in [
        stats.conns,
        stats.inpkts,
        stats.outpkts,
        stats.inbytes,
        stats.outbytes,
    ] {
        largenum(out, n, exact);
    }
}

fn rates(out: &mut String, stats: &Stats, exact: bool) {
    for n in [
        stats.cps,
        stats.inpps,
        stats.outpps,
        stats.inbps,
        stats.outbps,
    ] {
        largenum(out, n, exact);
    }
}

fn write_service(out: &mut String, entry: &ServiceEntry, opts: ListOptions) {
    let service = &entry.service;
    let title = service_title(&service.key);
    match opts.view {
        ListView::Stats => {
            let _ = write!(out, "{title:<33}");
            counters(out, &entry.stats, opts.exact);
        }
        ListView::Rate => {
            let _ = write!(out, "{title:<33}");
            rates(out, &entry.stats, opts.exact);
        }
        _ => {
            let _ = write!(out, "{title} {}", service.scheduler);
            if has_sched_flags(service) {
                let _ = write!(out, " ({})", sched_flags(service));
            }
            if service.flags & svc_flags::PERSISTENT != 0 {
                let _ = write!(out, " persistent {}", service.timeout);
                if let Some(mask) = netmask(service) {
                    let _ = write!(out, " mask {mask}");
                }
                if let Some(pe) = service.pe_name.as_deref().filter(|pe| !pe.is_empty()) {
                    let _ = write!(out, " pe {pe}");
                }
            }
            if service.flags & svc_flags::ONEPACKET != 0 {
                out.push_str(" ops");
            }
        }
    }
    out.push('\n');

    let mut dests: Vec<&DestEntry> = entry.dests.iter().collect();
    if opts.sort {
        dests.sort_by_key(|d| d.dest.key);
    }
    for dest in dests {
        write_dest(out, dest, opts);
    }
}

/// ipvsadm's `fwd_name`; C's printf writes its NULL (bypass) as `(null)`.
fn forwarding_name(fwd_method: u32) -> &'static str {
    match fwd_method & fwd::MASK {
        fwd::MASQ => "Masq",
        fwd::LOCALNODE => "Local",
        fwd::TUNNEL => "Tunnel",
        fwd::DROUTE => "Route",
        _ => "(null)",
    }
}

/// ipvsadm's `fwd_tun_info`: `ipip`, `gue:PORT:-c`, `gre:+c`, or `n/a`.
fn tunnel_info(entry: &DestEntry) -> String {
    const CHECKSUMS: [&str; 3] = ["-c", "+c", "r+c"];
    let dest = &entry.dest;
    if !is_tunnel(dest.fwd_method) {
        return "n/a".to_string();
    }
    let checksum = CHECKSUMS[tunnel_checksum(dest.tun_flags)];
    match dest.tun_type {
        tun::IPIP => "ipip".to_string(),
        tun::GUE => format!("gue:{}:{checksum}", dest.tun_port),
        tun::GRE => format!("gre:{checksum}"),
        _ => "n/a".to_string(),
    }
}

fn write_dest(out: &mut String, entry: &DestEntry, opts: ListOptions) {
    let dest = &entry.dest;
    let mut name = addr_port(dest.key.addr, dest.key.port);
    if dest.key.addr.is_ipv4() {
        name.truncate(28);
    }
    let (active, inactive) = (entry.active_conns, entry.inact_conns);
    let _ = match opts.view {
        ListView::Stats => {
            let _ = write!(out, "  -> {name:<28}");
            counters(out, &entry.stats, opts.exact);
            writeln!(out)
        }
        ListView::Rate => {
            // Packet rates are never shortened, byte rates are.
            let s = &entry.stats;
            let _ = write!(
                out,
                "  -> {name:<28} {:>8} {:>8} {:>8}",
                s.cps, s.inpps, s.outpps
            );
            largenum(out, s.inbps, opts.exact);
            largenum(out, s.outbps, opts.exact);
            writeln!(out)
        }
        ListView::Thresholds => writeln!(
            out,
            "  -> {name:<28} {:<10} {:<10} {active:<10} {inactive:<10}",
            dest.u_threshold, dest.l_threshold
        ),
        ListView::PersistentConn => writeln!(
            out,
            "  -> {name:<28} {:<9} {:<11} {active:<10} {inactive:<10}",
            dest.weight, entry.persist_conns
        ),
        ListView::TunInfo => writeln!(
            out,
            "  -> {name:<28} {:<7} {:<13} {:<6} {active:<10} {inactive:<10}",
            forwarding_name(dest.fwd_method),
            tunnel_info(entry),
            dest.weight
        ),
        _ => writeln!(
            out,
            "  -> {name:<28} {:<7} {:<6} {active:<10} {inactive:<10}",
            forwarding_name(dest.fwd_method),
            dest.weight
        ),
    };
}

/// `ipvsadm -L --timeout`.
fn write_timeouts(out: &mut String, timeouts: &Timeouts) {
    let _ = writeln!(
        out,
        "Timeout (tcp tcpfin udp): {} {} {}",
        timeouts.tcp, timeouts.tcp_fin, timeouts.udp
    );
}

/// `ipvsadm -L --daemon`: master first, then backup, as the kernel reports
/// them; optional settings only when known and non-zero.
fn write_daemons(out: &mut String, daemons: &[Daemon]) {
    for role in [DaemonRole::Master, DaemonRole::Backup] {
        for d in daemons.iter().filter(|d| d.role == role) {
            let _ = write!(
                out,
                "{} sync daemon (mcast={}, syncid={}",
                role.as_str(),
                d.mcast_ifn,
                d.syncid
            );
            if let Some(maxlen) = d.sync_maxlen.filter(|n| *n != 0) {
                let _ = write!(out, ", maxlen={maxlen}");
            }
            if let Some(group) = d.mcast_group {
                let _ = write!(out, ", group={}", super::render::ntop(group));
            }
            if let Some(port) = d.mcast_port.filter(|n| *n != 0) {
                let _ = write!(out, ", port={port}");
            }
            if let Some(ttl) = d.mcast_ttl.filter(|n| *n != 0) {
                let _ = write!(out, ", ttl={ttl}");
            }
            out.push_str(")\n");
        }
    }
}
