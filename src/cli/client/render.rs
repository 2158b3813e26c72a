//! Text for people: specs laid out like `ipvsadm -Ln`, differences as
//! ipvsadm rules, and plain tables.

use std::fmt::Write;

use crate::ipvs::{Daemon, DestEntry, Info, ServiceEntry, Snapshot, Stats};
use crate::ipvsadm::{ListOptions, ListView, list, sort_like_ipvsadm, to_restore};
use crate::model::diff::SpecDiff;
use crate::model::{
    DaemonRole, Forwarding, RealServer, ServiceKey, Spec, Timeouts, VirtualService,
};

/// A spec as a kernel table with no traffic.
fn snapshot(spec: &Spec) -> Snapshot {
    let dest = |rs: &RealServer| DestEntry {
        dest: rs.into(),
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
        stats: Stats::default(),
    };
    Snapshot {
        services: spec
            .services()
            .iter()
            .map(|svc| ServiceEntry {
                service: svc.into(),
                stats: Stats::default(),
                dests: svc.servers().iter().map(dest).collect(),
            })
            .collect(),
        timeouts: (&spec.timeouts).into(),
        daemons: spec.sync_daemons().iter().map(Daemon::from).collect(),
    }
}

/// Services in the order `ipvsadm -L` lists them, each with its real servers in order.
fn listed_order(spec: &Spec) -> Vec<(&VirtualService, Vec<&RealServer>)> {
    let mut services: Vec<&VirtualService> = spec.services().iter().collect();
    services.sort_by(|a, b| sort_like_ipvsadm(&a.key, &b.key));
    services
        .into_iter()
        .map(|svc| {
            let mut servers: Vec<&RealServer> = svc.servers().iter().collect();
            servers.sort_by_key(|rs| (rs.key.ip(), rs.key.port()));
            (svc, servers)
        })
        .collect()
}

/// Width of the connection counters ipvsadm ends each real server line with.
const COUNTERS: usize = 1 + 10 + 1 + 10;

/// `spec` laid out as `ipvsadm -Ln` (or `--thresholds`, `--tun-info`,
/// `--timeout`, `--daemon`) lays out a table, under `header` instead of the
/// kernel's version line, without the connection counters (a spec has none).
pub fn table(spec: &Spec, view: ListView, header: &str) -> String {
    match view {
        ListView::Timeout => return format!("{}\n", timeouts_line(&spec.timeouts)),
        ListView::Daemon => return list(&snapshot(spec), ListOptions::new(no_info()).view(view)),
        _ => {}
    }
    let text = list(&snapshot(spec), ListOptions::new(no_info()).view(view));
    let mut servers = listed_order(spec)
        .into_iter()
        .flat_map(|(_, servers)| servers);
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = match i {
            0 => header.to_string(),
            1 | 2 => line.split(" ActiveConn").next().unwrap_or(line).to_string(),
            _ if line.starts_with("  -> ") => {
                let line = &line[..line.len().saturating_sub(COUNTERS)];
                match servers.next().map(|rs| rs.forwarding) {
                    // The kernel knows fullnat as masquerading; say what the spec says.
                    Some(Forwarding::Fullnat) => line.replacen(" Masq    ", " FullNat ", 1),
                    _ => line.to_string(),
                }
            }
            _ => line.to_string(),
        };
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn no_info() -> Info {
    Info {
        version: 0,
        conn_tab_size: 0,
    }
}

/// `Timeout (tcp tcpfin udp): 900 120 300`; `-` for one the kernel keeps as it has it.
pub fn timeouts_line(timeouts: &Timeouts) -> String {
    let show = |t: Option<u32>| t.map_or("-".to_string(), |t| t.to_string());
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}",
        show(timeouts.tcp),
        show(timeouts.tcpfin),
        show(timeouts.udp)
    )
}

/// A service's `ipvsadm -Ln` line: `TCP  192.168.31.100:80 wrr persistent 360`.
pub fn service_line(svc: &VirtualService) -> String {
    let spec = Spec::new(vec![svc.without_servers()], Timeouts::default(), Vec::new())
        .expect("one valid service is a valid spec");
    table(&spec, ListView::Services, "")
        .lines()
        .nth(3)
        .unwrap_or_default()
        .to_string()
}

/// ipvsadm's name for a forwarding method, as `-Ln` shows it.
pub fn forwarding_name(forwarding: Forwarding) -> &'static str {
    match forwarding {
        Forwarding::Nat => "Masq",
        Forwarding::Dr => "Route",
        Forwarding::Tun(_) => "Tunnel",
        Forwarding::Fullnat => "FullNat",
    }
}

/// `172.25.0.31:80 (Masq, weight 1)`.
pub fn server_summary(rs: &RealServer) -> String {
    let mut text = format!(
        "{} ({}, weight {}",
        rs.key,
        forwarding_name(rs.forwarding),
        rs.weight
    );
    if rs.upper_threshold != 0 {
        let _ = write!(text, ", upper threshold {}", rs.upper_threshold);
    }
    if rs.lower_threshold != 0 {
        let _ = write!(text, ", lower threshold {}", rs.lower_threshold);
    }
    text.push(')');
    text
}

fn restore_lines(spec: &Spec) -> Vec<String> {
    to_restore(spec).lines().map(str::to_string).collect()
}

/// The `-A` rule of a service.
fn service_rule(svc: &VirtualService) -> String {
    let spec = Spec::new(vec![svc.without_servers()], Timeouts::default(), Vec::new())
        .expect("one valid service is a valid spec");
    restore_lines(&spec).swap_remove(0)
}

/// The `-a` rule of one real server of `svc`.
fn server_rule(svc: &VirtualService, rs: &RealServer) -> String {
    let alone = svc
        .with_servers(vec![rs.clone()])
        .expect("one real server is unique");
    let spec = Spec::new(vec![alone], Timeouts::default(), Vec::new())
        .expect("one valid service is a valid spec");
    let mut rule = restore_lines(&spec).swap_remove(1);
    if rs.forwarding == Forwarding::Fullnat {
        rule.push_str("  # fullnat");
    }
    rule
}

fn timeouts_rule(timeouts: Timeouts) -> Option<String> {
    let spec =
        Spec::new(Vec::new(), timeouts, Vec::new()).expect("timeouts alone are a valid spec");
    restore_lines(&spec).into_iter().next()
}

fn daemon_rule(spec: &Spec, role: DaemonRole) -> Option<String> {
    let daemon = spec.sync_daemons().iter().find(|d| d.role == role)?;
    let alone = Spec::new(Vec::new(), Timeouts::default(), vec![daemon.clone()])
        .expect("one daemon is a valid spec");
    restore_lines(&alone).into_iter().next()
}

/// What changes from `from` to `to`, as the ipvsadm rules (`ipvsadm -Sn`
/// lines) that go (`-`) and come (`+`), each changed service under its own
/// `-A` rule.
pub fn diff_text(from: &Spec, to: &Spec) -> String {
    let mut out = String::new();
    let mut line = |mark: char, rule: &str| {
        let _ = writeln!(out, "{mark} {rule}");
    };
    let mut keys: Vec<ServiceKey> = from
        .services()
        .iter()
        .chain(to.services())
        .map(|s| s.key)
        .collect();
    keys.sort_by(sort_like_ipvsadm);
    keys.dedup();
    for key in keys {
        match (from.service(&key), to.service(&key)) {
            (Some(gone), None) => {
                line('-', &service_rule(gone));
                gone.servers()
                    .iter()
                    .for_each(|rs| line('-', &server_rule(gone, rs)));
            }
            (None, Some(new)) => {
                line('+', &service_rule(new));
                new.servers()
                    .iter()
                    .for_each(|rs| line('+', &server_rule(new, rs)));
            }
            (Some(a), Some(b)) if a != b => {
                if a.without_servers() == b.without_servers() {
                    line(' ', &service_rule(b));
                } else {
                    line('-', &service_rule(a));
                    line('+', &service_rule(b));
                }
                let mut servers: Vec<_> = a
                    .servers()
                    .iter()
                    .chain(b.servers())
                    .map(|rs| rs.key)
                    .collect();
                servers.sort();
                servers.dedup();
                for server in servers {
                    match (a.server(&server), b.server(&server)) {
                        (Some(x), Some(y)) if x == y => {}
                        (x, y) => {
                            if let Some(x) = x {
                                line('-', &server_rule(a, x));
                            }
                            if let Some(y) = y {
                                line('+', &server_rule(b, y));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if from.timeouts != to.timeouts {
        if let Some(rule) = timeouts_rule(from.timeouts) {
            line('-', &rule);
        }
        if let Some(rule) = timeouts_rule(to.timeouts) {
            line('+', &rule);
        }
    }
    for role in [DaemonRole::Master, DaemonRole::Backup] {
        let (a, b) = (daemon_rule(from, role), daemon_rule(to, role));
        if a != b {
            if let Some(rule) = a {
                line('-', &rule);
            }
            if let Some(rule) = b {
                line('+', &rule);
            }
        }
    }
    out
}

/// `1 service added, 2 real servers changed, timeouts changed`, or `no change`.
pub fn summary(diff: &SpecDiff) -> String {
    let count = |n: usize, what: &str, how: &str| match n {
        0 => None,
        1 => Some(format!("1 {what} {how}")),
        n => Some(format!("{n} {what}s {how}")),
    };
    let changed = diff
        .services_changed
        .iter()
        .filter(|c| !c.changes.is_empty())
        .count();
    let sum = |f: fn(&crate::model::diff::ServiceChange) -> usize| {
        diff.services_changed.iter().map(f).sum::<usize>()
    };
    let servers_added = sum(|c| c.servers_added.len())
        + diff
            .services_added
            .iter()
            .map(|s| s.servers.len())
            .sum::<usize>();
    let servers_removed = sum(|c| c.servers_removed.len())
        + diff
            .services_removed
            .iter()
            .map(|s| s.servers.len())
            .sum::<usize>();
    let parts: Vec<String> = [
        count(diff.services_added.len(), "service", "added"),
        count(changed, "service", "changed"),
        count(diff.services_removed.len(), "service", "removed"),
        count(servers_added, "real server", "added"),
        count(sum(|c| c.servers_changed.len()), "real server", "changed"),
        count(servers_removed, "real server", "removed"),
        (!diff.timeouts.is_empty()).then(|| "timeouts changed".to_string()),
        (!diff.sync_daemons.is_empty()).then(|| "sync daemons changed".to_string()),
        (!diff.host.is_empty()).then(|| "host settings changed".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "no change".to_string()
    } else {
        parts.join(", ")
    }
}

/// `1 service`, `3 services`.
pub fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Rows as left-aligned columns two spaces apart.
pub fn columns(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..width)
        .map(|col| {
            rows.iter()
                .filter_map(|row| row.get(col))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `spec` laid out as `ipvsadm -Ln` (`--stats`, `--rate`) lays out the table
/// of the director that counted `counters`: its connection counts, counters
/// and rates where it reported them, zero where it did not (a service or
/// real server it has not applied yet).
pub fn live_table(
    spec: &Spec,
    counters: &crate::apply::Counters,
    view: ListView,
    exact: bool,
    header: &str,
) -> String {
    use std::collections::HashMap;
    let services: HashMap<&str, &crate::apply::ServiceCounters> = counters
        .services
        .iter()
        .map(|s| (s.service.as_str(), s))
        .collect();
    let mut table = snapshot(spec);
    for entry in &mut table.services {
        let Some(counted) = services.get(entry.service.key.to_string().as_str()) else {
            continue;
        };
        entry.stats = counted.traffic.into();
        for dest in &mut entry.dests {
            let server = dest.dest.key.socket_addr().to_string();
            if let Some(found) = counted.servers.iter().find(|s| s.server == server) {
                dest.dest.weight = found.weight;
                dest.active_conns = found.active_conns;
                dest.inact_conns = found.inactive_conns;
                dest.persist_conns = found.persistent_conns;
                dest.stats = found.traffic.into();
            }
        }
    }
    let text = list(&table, ListOptions::new(no_info()).view(view).exact(exact));
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        out.push_str(if i == 0 { header } else { line.trim_end() });
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        Spec::from_json(json.as_bytes()).unwrap()
    }

    const NAT: &str = r#"{"services":[{"id":"tcp:192.168.31.100:80","scheduler":"wrr","servers":[
        {"address":"172.25.0.33","forwarding":"nat","weight":3},
        {"address":"172.25.0.31","forwarding":"nat","weight":1},
        {"address":"172.25.0.32","forwarding":"fullnat","weight":2}]}]}"#;

    #[test]
    fn lists_like_ipvsadm_without_counters() {
        let text = table(
            &spec(NAT),
            ListView::Services,
            "Cluster web, revision 1 (active)",
        );
        assert_eq!(
            text,
            "Cluster web, revision 1 (active)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight
TCP  192.168.31.100:80 wrr
  -> 172.25.0.31:80               Masq    1
  -> 172.25.0.32:80               FullNat 2
  -> 172.25.0.33:80               Masq    3
"
        );
        let thresholds = table(&spec(NAT), ListView::Thresholds, "");
        assert_eq!(
            thresholds.lines().nth(1),
            Some("Prot LocalAddress:Port            Uthreshold Lthreshold")
        );
        assert_eq!(
            thresholds.lines().nth(4),
            Some("  -> 172.25.0.31:80               0          0")
        );
    }

    #[test]
    fn diffs_are_ipvsadm_rules() {
        let a = spec(NAT);
        let b = spec(
            r#"{"services":[{"id":"tcp:192.168.31.100:80","scheduler":"wrr","servers":[
            {"address":"172.25.0.31","forwarding":"nat","weight":5},
            {"address":"172.25.0.32","forwarding":"fullnat","weight":2},
            {"address":"172.25.0.34","forwarding":"nat","weight":1}]},
            {"id":"udp:192.168.31.100:53","scheduler":"rr","one_packet":true}],
            "timeouts":{"tcp":900}}"#,
        );
        assert_eq!(
            diff_text(&a, &b),
            "  -A -t 192.168.31.100:80 -s wrr
- -a -t 192.168.31.100:80 -r 172.25.0.31:80 -m -w 1
+ -a -t 192.168.31.100:80 -r 172.25.0.31:80 -m -w 5
- -a -t 192.168.31.100:80 -r 172.25.0.33:80 -m -w 3
+ -a -t 192.168.31.100:80 -r 172.25.0.34:80 -m -w 1
+ -A -u 192.168.31.100:53 -s rr -o
+ --set 900 0 0
"
        );
        assert_eq!(diff_text(&b, &b), "");
        let diff = SpecDiff::between(&a, &b);
        assert_eq!(
            summary(&diff),
            "1 service added, 1 real server added, 1 real server changed, 1 real server removed, timeouts changed"
        );
    }

    #[test]
    fn columns_align() {
        let rows = vec![
            vec!["REV".to_string(), "MESSAGE".to_string()],
            vec!["12".to_string(), "x".to_string()],
        ];
        assert_eq!(columns(&rows), "REV  MESSAGE\n12   x\n");
    }
}
