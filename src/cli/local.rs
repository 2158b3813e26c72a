//! Commands on this host's kernel table: show, apply, zero, flush, info.
//!
//! They open the kernel's table once, do one thing and exit: 0 on success,
//! 1 when the kernel refused or IPVS is missing (with a plain message), 2 for
//! bad command lines (clap's own).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};
use serde::Serialize;
use serde_json::{Value, json};

use super::client::Conn;
use super::client::args::ServiceArg;
use crate::ipvs::{
    BatchError, Daemon, DestEntry, Error, IpvsTable, NetlinkTable, Outcome, ServiceEntry, Snapshot,
    Stats, fwd, svc_flags, tun,
};
use crate::ipvsadm::{self, ListOptions, ListView, sort_like_ipvsadm};
use crate::model::{AddressFamily, Spec, SpecDoc};
use crate::plan::{self, PlanOptions};

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// List this host's IPVS table (`ipvsadm -Ln`).
    Show(ShowArgs),
    /// Make this host's IPVS table equal to FILE: a spec (JSON) or ipvsadm rules
    /// (`ipvsadm -S` output or a script of ipvsadm commands).
    Apply(ApplyArgs),
    /// Zero the packet, byte and rate counters of one service or of all (`ipvsadm -Z`).
    Zero(Box<ZeroArgs>),
    /// Clear the whole IPVS table of this host (`ipvsadm -C`).
    Flush,
    /// Show the IPVS version, connection table size and schedulers of this kernel.
    Info,
}

#[derive(Debug, Args)]
#[command(group = ArgGroup::new("view").multiple(false))]
pub struct ShowArgs {
    /// Packet and byte counters (`--stats`).
    #[arg(long, group = "view")]
    pub stats: bool,
    /// Connection, packet and byte rates (`--rate`).
    #[arg(long, group = "view")]
    pub rate: bool,
    /// Upper and lower connection thresholds of the real servers.
    #[arg(long, group = "view")]
    pub thresholds: bool,
    /// Persistent connection templates per real server.
    #[arg(long = "persistent-conn", group = "view")]
    pub persistent_conn: bool,
    /// Tunnel type, port and checksum of tunnel real servers.
    #[arg(long = "tun-info", group = "view")]
    pub tun_info: bool,
    /// The connection timeouts only.
    #[arg(long, group = "view")]
    pub timeout: bool,
    /// The sync daemons only.
    #[arg(long, group = "view")]
    pub daemon: bool,
    /// Exact numbers rather than K/M/G.
    #[arg(long, short = 'x')]
    pub exact: bool,
    /// The table as `ipvsadm -Sn` writes it (input for `lvsd apply` or `ipvsadm -R`).
    #[arg(long, group = "view")]
    pub save: bool,
    /// The table as JSON, counters included.
    #[arg(long, group = "view")]
    pub json: bool,
    /// The connection entries (`ipvsadm -Lcn`); with --json as JSON.
    #[arg(short = 'c', long = "connection", conflicts_with_all = ["stats", "rate", "thresholds", "persistent_conn", "tun_info", "timeout", "daemon", "save"])]
    pub connection: bool,
}

impl ShowArgs {
    fn view(&self) -> ListView {
        match self {
            ShowArgs { stats: true, .. } => ListView::Stats,
            ShowArgs { rate: true, .. } => ListView::Rate,
            ShowArgs {
                thresholds: true, ..
            } => ListView::Thresholds,
            ShowArgs {
                persistent_conn: true,
                ..
            } => ListView::PersistentConn,
            ShowArgs { tun_info: true, .. } => ListView::TunInfo,
            ShowArgs { timeout: true, .. } => ListView::Timeout,
            ShowArgs { daemon: true, .. } => ListView::Daemon,
            _ => ListView::Services,
        }
    }
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The desired table: a spec in JSON, or ipvsadm rules; `-` reads standard input.
    pub file: PathBuf,
    /// Print the changes without making them.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Print every change made, not only the summary.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Also apply the spec's host settings for this director: bind the VIPs,
    /// forwarding, fullnat's conntrack and source NAT (`lvsd host apply --role director`).
    #[arg(long)]
    pub host: bool,
    /// This director's name in the spec's host.directors (default: this host's name).
    #[arg(long, value_name = "DIRECTOR")]
    pub name: Option<String>,
    /// Where `--host` remembers what it added.
    #[arg(long, value_name = "DIR", default_value = crate::host::DEFAULT_STATE_DIR, requires = "host")]
    pub state_dir: PathBuf,
}

/// `lvsd zero [SERVICE]`: on this host's kernel, or with `--cluster` /
/// `--server` on every director of a cluster, through the server.
#[derive(Debug, Args)]
#[command(mut_group("service", |group| group.required(false)))]
#[command(after_help = "Where it zeroes:
  lvsd zero [-t|-u|--sctp-service VIP:PORT | -f MARK]
      this host's own IPVS table, now (as ipvsadm -Z)
  lvsd zero --cluster NAME [--server URL] [-t|-u|--sctp-service VIP:PORT | -f MARK]
      every director of the cluster, through the server: its own director at once,
      agents when they next hear from it (audited as cluster.zero)
A cluster's request covers only its services; without a service, all of them.")]
pub struct ZeroArgs {
    /// The one service to zero; every service when left out.
    #[command(flatten)]
    pub service: Option<ServiceArg>,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn run(cmd: LocalCommand) -> ExitCode {
    init_tracing();
    let result = match cmd {
        LocalCommand::Show(args) => show(&args),
        LocalCommand::Apply(args) => apply(&args),
        LocalCommand::Zero(args) if args.conn.names_a_server() => {
            return super::client::zero(&args.conn, args.service.map(|s| s.key()));
        }
        LocalCommand::Zero(args) => {
            let key = args.service.map(|s| s.key());
            open().and_then(|mut t| t.zero(key).map_err(CliError::Batch))
        }
        LocalCommand::Flush => open().and_then(|mut t| t.flush().map_err(CliError::Batch)),
        LocalCommand::Info => info(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lvsd: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `RUST_LOG=lvsd::netlink=trace` shows every netlink datagram in hex.
fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
    }
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Ipvs(#[from] Error),
    #[error("{}", describe_batch(.0))]
    Batch(BatchError),
    #[error("{0}")]
    Other(String),
}

/// A failed batch as a person reads it: the failure, what took effect, what was not sent.
fn describe_batch(err: &BatchError) -> String {
    if let ([_], Some((_, only))) = (err.outcomes.as_slice(), err.first_failure()) {
        return only.to_string();
    }
    let applied = err.applied().count();
    let not_sent = err
        .outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::NotSent))
        .count();
    let mut text = err.to_string();
    if err.outcomes.len() > 1 {
        text.push_str(&format!(" ({applied} applied, {not_sent} not sent)"));
    }
    text
}

fn open() -> Result<NetlinkTable, CliError> {
    NetlinkTable::open().map_err(|err| match err {
        Error::Unavailable(reason) => {
            CliError::Other(format!("IPVS is not available on this host: {reason}"))
        }
        other => CliError::Ipvs(other),
    })
}

fn show(args: &ShowArgs) -> Result<(), CliError> {
    if args.connection {
        return show_connections(args.json);
    }
    let started = std::time::Instant::now();
    let mut table = open()?;
    let mut snapshot = table.snapshot()?;
    tracing::debug!(elapsed = ?started.elapsed(), services = snapshot.services.len(), "table read");
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&snapshot_json(&snapshot))
            .map_err(|e| CliError::Other(e.to_string()))?;
        text.push('\n');
        text
    } else if args.save {
        // ipvsadm's order; the snapshot's real servers are already in it.
        snapshot
            .services
            .sort_by(|a, b| sort_like_ipvsadm(&a.service.key, &b.service.key));
        ipvsadm::save_entries(&snapshot.services)
    } else {
        let options = ListOptions::new(table.info()?)
            .view(args.view())
            .exact(args.exact);
        ipvsadm::list(&snapshot, options)
    };
    write_stdout(&text)
}

/// `lvsd show -c`: this host's connection entries.
fn show_connections(json: bool) -> Result<(), CliError> {
    // The file exists only with IPVS loaded: say so as `lvsd show` does.
    open()?;
    let connections = crate::ipvs::conns::read()
        .map_err(|e| CliError::Other(format!("reading the connection table: {e}")))?;
    if json {
        let text = serde_json::to_string_pretty(&connections)
            .map_err(|e| CliError::Other(e.to_string()))?;
        return write_stdout(&(text + "\n"));
    }
    write_stdout(&crate::ipvs::conns::render(&connections))
}

/// Writes all of `text` at once; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::Other(format!("writing the output: {e}")))
        }
        _ => Ok(()),
    }
}

/// Reads a spec: JSON when the text starts with `{`, ipvsadm rules otherwise.
fn read_spec(path: &Path) -> Result<Spec, CliError> {
    let name = path.display();
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| CliError::Other(format!("reading standard input: {e}")))?;
        buf
    } else {
        std::fs::read(path).map_err(|e| CliError::Other(format!("reading {name}: {e}")))?
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        // Plain serde first: twice as fast on big specs as the path-tracking
        // parser, which is only needed to name the field of a refusal.
        let fast = serde_json::from_slice::<SpecDoc>(&bytes)
            .ok()
            .and_then(|doc| doc.validate().ok());
        return match fast {
            Some(spec) => Ok(spec),
            None => Spec::from_json(&bytes).map_err(|e| CliError::Other(format!("{name}: {e}"))),
        };
    }
    let text =
        String::from_utf8(bytes).map_err(|_| CliError::Other(format!("{name}: not UTF-8 text")))?;
    ipvsadm::parse(&text).map_err(|e| CliError::Other(format!("{name}: {e}")))
}

/// Plans from the live table to the spec and applies the plan: afterwards the
/// kernel's table is the spec (the whole table: services the spec does not
/// list are deleted, as with `ipvsadm -C` then `-R`, but without the gap).
fn apply(args: &ApplyArgs) -> Result<(), CliError> {
    let started = std::time::Instant::now();
    let spec = read_spec(&args.file)?;
    let name = args.name.clone().unwrap_or_else(super::host::hostname);
    // This director's own sync daemons and timeouts, when the spec names it.
    let spec = match spec.host().directors().contains_key(&name) {
        true => spec.for_director(&name),
        false => spec,
    };
    tracing::debug!(elapsed = ?started.elapsed(), services = spec.services().len(), "spec read");
    let mut table = open()?;
    let actual = table.snapshot()?;
    tracing::debug!(elapsed = ?started.elapsed(), services = actual.services.len(), "table read");
    let plan = plan::plan(&actual, &spec, &PlanOptions::default());
    tracing::debug!(elapsed = ?started.elapsed(), ops = plan.ops().len(), "planned");
    if args.dry_run || args.verbose {
        print!("{plan}");
    }
    let summary = plan.summary();
    let host_plan = args
        .host
        .then(|| crate::host::HostPlan::for_director(&spec, &name));
    if args.dry_run {
        println!(
            "would apply: {summary} ({} kernel operations)",
            plan.ops().len()
        );
        if let Some(host_plan) = host_plan {
            print!("host settings of director {name}:\n{host_plan}");
        }
        return Ok(());
    }
    table.apply(plan.ops()).map_err(CliError::Batch)?;
    tracing::debug!(elapsed = ?started.elapsed(), "applied");
    println!(
        "applied: {summary} ({} kernel operations)",
        plan.ops().len()
    );
    for deferred in plan.deferred() {
        println!("{deferred}");
    }
    if let Some(host_plan) = host_plan {
        let mut state = crate::host::HostState::load(&args.state_dir, crate::host::Role::Director)
            .map_err(CliError::Other)?;
        let report = crate::host::apply(&host_plan, &mut state)
            .map_err(|e| CliError::Other(format!("host settings: {e}")))?;
        print!("{report}");
    }
    Ok(())
}

fn info() -> Result<(), CliError> {
    let info = open()?.info()?;
    println!(
        "IP Virtual Server version {} (size={})",
        info.version_string(),
        info.conn_tab_size
    );
    let (loaded, available) = schedulers();
    println!(
        "schedulers loaded: {}",
        if loaded.is_empty() {
            "none".to_string()
        } else {
            loaded.join(" ")
        }
    );
    match available {
        Some(names) => println!("schedulers available as modules: {}", names.join(" ")),
        None => println!(
            "schedulers available as modules: unknown (no module directory for this kernel)"
        ),
    }
    Ok(())
}

/// Schedulers in use (`/sys/module/ip_vs_*`) and those the kernel can load on
/// demand (module files and built-ins of the running kernel). The kernel
/// loads a scheduler module by itself when a service first names it.
fn schedulers() -> (Vec<String>, Option<Vec<String>>) {
    let is_sched = |name: &str| !matches!(name, "ftp" | "pe_sip" | "") && !name.starts_with("pe_");
    let mut loaded: Vec<String> = std::fs::read_dir("/sys/module")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("ip_vs_")
                .map(str::to_string)
        })
        .filter(|n| is_sched(n))
        .collect();
    loaded.sort();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = format!("/lib/modules/{}", release.trim());
    let files = std::fs::read_dir(format!("{dir}/kernel/net/netfilter/ipvs"))
        .ok()
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_string();
                    Some(
                        name.strip_prefix("ip_vs_")?
                            .split(".ko")
                            .next()?
                            .to_string(),
                    )
                })
                .collect::<Vec<_>>()
        });
    let builtin = std::fs::read_to_string(format!("{dir}/modules.builtin")).unwrap_or_default();
    let builtin = builtin.lines().filter_map(|l| {
        l.rsplit('/')
            .next()?
            .strip_prefix("ip_vs_")?
            .strip_suffix(".ko")
            .map(str::to_string)
    });
    let available = files.map(|mut names| {
        names.extend(builtin);
        names.retain(|n| is_sched(n));
        names.sort();
        names.dedup();
        names
    });
    (loaded, available)
}

/// `lvsd show --json`: the kernel's table in lvsd's words, fields in a fixed
/// order (the service's own counters before its real servers).
#[derive(Serialize)]
struct TableJson {
    services: Vec<ServiceJson>,
    timeouts: TimeoutsJson,
    sync_daemons: Vec<DaemonJson>,
}

#[derive(Serialize)]
struct ServiceJson {
    id: String,
    scheduler: String,
    sched_flags: Vec<String>,
    persistence: Option<PersistenceJson>,
    one_packet: bool,
    persistence_engine: Option<String>,
    stats: Stats,
    servers: Vec<ServerJson>,
}

#[derive(Serialize)]
struct PersistenceJson {
    timeout: u32,
    /// A dotted mask for IPv4, a prefix length for IPv6 (as ipvsadm shows them).
    netmask: Value,
}

#[derive(Serialize)]
struct ServerJson {
    id: String,
    forwarding: &'static str,
    tunnel: Option<TunnelJson>,
    weight: u32,
    upper_threshold: u32,
    lower_threshold: u32,
    active_conns: u32,
    inactive_conns: u32,
    persistent_conns: u32,
    stats: Stats,
}

#[derive(Serialize)]
struct TunnelJson {
    #[serde(rename = "type")]
    kind: String,
    port: u16,
    checksum: &'static str,
}

#[derive(Serialize)]
struct TimeoutsJson {
    tcp: u32,
    tcpfin: u32,
    udp: u32,
}

#[derive(Serialize)]
struct DaemonJson {
    role: &'static str,
    interface: String,
    syncid: u32,
    sync_maxlen: Option<u16>,
    mcast_group: Option<String>,
    mcast_port: Option<u16>,
    mcast_ttl: Option<u8>,
}

fn snapshot_json(snapshot: &Snapshot) -> TableJson {
    let t = &snapshot.timeouts;
    TableJson {
        services: snapshot.services.iter().map(service_json).collect(),
        timeouts: TimeoutsJson {
            tcp: t.tcp,
            tcpfin: t.tcp_fin,
            udp: t.udp,
        },
        sync_daemons: snapshot.daemons.iter().map(daemon_json).collect(),
    }
}

fn service_json(entry: &ServiceEntry) -> ServiceJson {
    let svc = &entry.service;
    let persistence = (svc.flags & svc_flags::PERSISTENT != 0).then(|| PersistenceJson {
        timeout: svc.timeout,
        netmask: match svc.key.family() {
            AddressFamily::Ipv4 => json!(std::net::Ipv4Addr::from(svc.netmask).to_string()),
            AddressFamily::Ipv6 => json!(svc.netmask),
        },
    });
    // ipvsadm's names: sh-fallback, mh-port; other schedulers do not read the bits.
    let prefix = match svc.scheduler.as_str() {
        s @ ("sh" | "mh") => s,
        _ => "sched",
    };
    let sched_flags = [
        (svc_flags::SCHED1, "fallback"),
        (svc_flags::SCHED2, "port"),
        (svc_flags::SCHED3, "flag-3"),
    ]
    .into_iter()
    .filter(|(bit, _)| svc.flags & bit != 0)
    .map(|(_, name)| format!("{prefix}-{name}"))
    .collect();
    ServiceJson {
        id: svc.key.to_string(),
        scheduler: svc.scheduler.clone(),
        sched_flags,
        persistence,
        one_packet: svc.flags & svc_flags::ONEPACKET != 0,
        persistence_engine: svc.pe_name.clone(),
        stats: entry.stats,
        servers: entry.dests.iter().map(dest_json).collect(),
    }
}

fn dest_json(entry: &DestEntry) -> ServerJson {
    let d = &entry.dest;
    let forwarding = match d.fwd_method & fwd::MASK {
        fwd::MASQ => "nat",
        fwd::LOCALNODE => "local",
        fwd::TUNNEL => "tun",
        fwd::DROUTE => "dr",
        fwd::BYPASS => "bypass",
        _ => "unknown",
    };
    let tunnel = (d.fwd_method & fwd::MASK == fwd::TUNNEL).then(|| TunnelJson {
        kind: match d.tun_type {
            tun::IPIP => "ipip".to_string(),
            tun::GUE => "gue".to_string(),
            tun::GRE => "gre".to_string(),
            other => other.to_string(),
        },
        port: d.tun_port,
        checksum: match d.tun_flags {
            0 => "none",
            f if f & tun::FLAG_REMCSUM != 0 => "remcsum",
            _ => "csum",
        },
    });
    ServerJson {
        id: d.key.to_string(),
        forwarding,
        tunnel,
        weight: d.weight,
        upper_threshold: d.u_threshold,
        lower_threshold: d.l_threshold,
        active_conns: entry.active_conns,
        inactive_conns: entry.inact_conns,
        persistent_conns: entry.persist_conns,
        stats: entry.stats,
    }
}

fn daemon_json(d: &Daemon) -> DaemonJson {
    DaemonJson {
        role: d.role.as_str(),
        interface: d.mcast_ifn.clone(),
        syncid: d.syncid,
        sync_maxlen: d.sync_maxlen,
        mcast_group: d.mcast_group.map(|g| g.to_string()),
        mcast_port: d.mcast_port,
        mcast_ttl: d.mcast_ttl,
    }
}
