//! `ipvsadm -Sn` output for kernel objects, and `ipvsadm -R` input for a spec.

use std::fmt::Write;

use super::render::{
    addr_port, has_sched_flags, is_ipv6, is_tunnel, netmask, protocol_option, sched_flags,
    tunnel_checksum,
};
use crate::ipvs::{self, Dest, Service, ServiceEntry, fwd, svc_flags, tun};
use crate::model::{ServiceKey, Spec};

/// ipvsadm's `tun_flags_opts`, indexed by checksum mode.
const TUNNEL_CHECKSUM_OPTIONS: [&str; 3] = ["--tun-nocsum", "--tun-csum", "--tun-remcsum"];

/// The rules `ipvsadm -Sn` prints for these services and their real servers,
/// in the order given (ipvsadm sorts first; see [`super::sort_like_ipvsadm`]).
///
/// One deliberate difference: ipvsadm 1.31 never saves connection thresholds,
/// so a restore silently drops them. Here a real server with a threshold gets
/// `-x N` / `-y N` at the end of its line, which `ipvsadm -R` accepts; lines
/// without thresholds are byte for byte ipvsadm's.
pub fn save<'a, S, D>(services: S) -> String
where
    S: IntoIterator<Item = (&'a Service, D)>,
    D: IntoIterator<Item = &'a Dest>,
{
    let mut out = String::new();
    for (service, dests) in services {
        let name = service_rule_name(&service.key);
        write_service_rule(&mut out, &name, service);
        for dest in dests {
            write_dest_rule(&mut out, &name, dest);
        }
    }
    out
}

/// [`save`] for a table dump.
pub fn save_entries(entries: &[ServiceEntry]) -> String {
    save(
        entries
            .iter()
            .map(|entry| (&entry.service, entry.dests.iter().map(|d| &d.dest))),
    )
}

/// The `ipvsadm -R` input that builds `spec` on an empty table: its services
/// and real servers as `ipvsadm -Sn` would save them once applied, then the
/// connection timeouts (`--set`, 0 for "leave as is") and sync daemons
/// (`--start-daemon`), which `-S` leaves out but `-R` reads like any other
/// line.
///
/// `fullnat` real servers are `-m` here: the kernel only knows masquerading,
/// and the source NAT that completes fullnat lives outside IPVS. Reading the
/// text back gives `nat` for them. Nothing else is lost: `parse` of the
/// result equals `spec` when no real server is fullnat.
pub fn to_restore(spec: &Spec) -> String {
    let services: Vec<(Service, Vec<Dest>)> = spec
        .services()
        .iter()
        .map(|svc| {
            (
                Service::from(svc),
                svc.servers().iter().map(Dest::from).collect(),
            )
        })
        .collect();
    let mut out = save(services.iter().map(|(svc, dests)| (svc, dests.iter())));
    if !spec.timeouts.is_empty() {
        let t = ipvs::Timeouts::from(&spec.timeouts);
        let _ = writeln!(out, "--set {} {} {}", t.tcp, t.tcp_fin, t.udp);
    }
    for daemon in spec.sync_daemons() {
        let _ = write!(
            out,
            "--start-daemon {} --mcast-interface {} --syncid {}",
            daemon.role.as_str(),
            daemon.interface,
            daemon.syncid
        );
        if let Some(maxlen) = daemon.sync_maxlen {
            let _ = write!(out, " --sync-maxlen {maxlen}");
        }
        if let Some(group) = daemon.mcast_group {
            let _ = write!(out, " --mcast-group {group}");
        }
        if let Some(port) = daemon.mcast_port {
            let _ = write!(out, " --mcast-port {port}");
        }
        if let Some(ttl) = daemon.mcast_ttl {
            let _ = write!(out, " --mcast-ttl {ttl}");
        }
        out.push('\n');
    }
    out
}

/// How a rule names its service: `-t 192.168.31.100:80`, `-f 12 -6`.
fn service_rule_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { protocol, addr } => {
            format!(
                "{} {}",
                protocol_option(*protocol),
                addr_port(addr.ip(), addr.port())
            )
        }
        ServiceKey::Fwmark { mark, .. } if is_ipv6(key) => format!("-f {mark} -6"),
        ServiceKey::Fwmark { mark, .. } => format!("-f {mark}"),
    }
}

/// ipvsadm's `print_service_entry` with `FMT_RULE`.
fn write_service_rule(out: &mut String, name: &str, service: &Service) {
    let _ = write!(out, "-A {name} -s {}", service.scheduler);
    if service.flags & svc_flags::PERSISTENT != 0 {
        let _ = write!(out, " -p {}", service.timeout);
        if let Some(mask) = netmask(service) {
            let _ = write!(out, " -M {mask}");
        }
    }
    // Unlike `-L`, `-S` writes the engine even without persistence.
    if let Some(pe) = service.pe_name.as_deref().filter(|pe| !pe.is_empty()) {
        let _ = write!(out, " --pe {pe}");
    }
    if service.flags & svc_flags::ONEPACKET != 0 {
        out.push_str(" -o");
    }
    if has_sched_flags(service) {
        let _ = write!(out, " -b {}", sched_flags(service));
    }
    out.push('\n');
}

/// ipvsadm's `fwd_switch`; it has no switch for bypass, and C's printf
/// writes its NULL as `(null)`.
fn forwarding_option(fwd_method: u32) -> &'static str {
    match fwd_method & fwd::MASK {
        fwd::MASQ => "-m",
        fwd::TUNNEL => "-i",
        fwd::LOCALNODE | fwd::DROUTE => "-g",
        _ => "(null)",
    }
}

/// ipvsadm's real server rule (`print_tunnel_rule` for tunnels).
fn write_dest_rule(out: &mut String, name: &str, dest: &Dest) {
    let _ = write!(
        out,
        "-a {name} -r {} {} -w {}",
        addr_port(dest.key.addr, dest.key.port),
        forwarding_option(dest.fwd_method),
        dest.weight
    );
    if is_tunnel(dest.fwd_method) {
        let checksum = TUNNEL_CHECKSUM_OPTIONS[tunnel_checksum(dest.tun_flags)];
        match dest.tun_type {
            tun::IPIP => out.push_str(" --tun-type ipip"),
            tun::GUE => {
                let _ = write!(
                    out,
                    " --tun-type gue --tun-port {} {checksum}",
                    dest.tun_port
                );
            }
            tun::GRE => {
                let _ = write!(out, " --tun-type gre {checksum}");
            }
            _ => {}
        }
    }
    if dest.u_threshold != 0 {
        let _ = write!(out, " -x {}", dest.u_threshold);
    }
    if dest.l_threshold != 0 {
        let _ = write!(out, " -y {}", dest.l_threshold);
    }
    out.push('\n');
}
