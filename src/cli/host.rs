//! `lvsd host apply|show|clean`: the host settings of a spec on this host,
//! for directors and real servers without an agent (init scripts; the
//! realserver role replaces the classic lvs-rs script).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use super::client::{Client, Conn, revision_or_active_spec};
use crate::host::{self, HostPlan, HostState, Role, Selector};
use crate::model::{ServiceKey, Spec};

#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Make this host what the spec asks of a director or a real server:
    /// VIPs, ARP and forwarding settings, tunnels, fullnat's source NAT.
    Apply(Box<ApplyArgs>),
    /// What lvsd added to this host and the settings it changed.
    Show(StateArgs),
    /// Remove everything lvsd added and restore the settings it changed.
    Clean(CleanArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Director,
    Realserver,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Director => Role::Director,
            RoleArg::Realserver => Role::Realserver,
        }
    }
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// Where lvsd remembers what it added (one file per role).
    #[arg(long, value_name = "DIR", default_value = host::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Clean one role only (default: both).
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Which services a real server serves: those with a real server at one of this
host's own addresses, or with --vip, those with the virtual addresses given.

Examples:
  lvsd host apply --role director --name d1 --spec web.json
  lvsd host apply --role realserver --server http://10.0.0.5:7080 --cluster web
  lvsd host apply --role realserver --spec web.json --vip 172.25.0.100"
)]
pub struct ApplyArgs {
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// The director's name in the spec's host.directors (default: this host's name).
    #[arg(long, value_name = "DIRECTOR")]
    pub name: Option<String>,
    /// The spec, a JSON file (`-`: standard input). Without it, the spec
    /// comes from the lvsd server (--server, --cluster).
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// The revision to read from the server (default: the cluster's active revision).
    #[arg(long, value_name = "N", conflicts_with = "spec")]
    pub revision: Option<i64>,
    /// Real server: serve the services of these VIPs (repeat or comma-separate)
    /// instead of those whose real servers are this host's addresses.
    #[arg(long, value_name = "IP", value_delimiter = ',')]
    pub vip: Vec<IpAddr>,
    /// Print the plan without changing anything.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn run(cmd: HostCommand) -> ExitCode {
    let result = match cmd {
        HostCommand::Apply(args) => apply(*args),
        HostCommand::Show(args) => show(&args.state_dir),
        HostCommand::Clean(args) => clean(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("lvsd: {message}");
            ExitCode::FAILURE
        }
    }
}

/// This host's name, the default director name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

fn apply(args: ApplyArgs) -> Result<(), String> {
    let role = Role::from(args.role);
    if role == Role::Director && !args.vip.is_empty() {
        return Err(
            "--vip is for the realserver role: a director binds the VIPs of every service"
                .to_string(),
        );
    }
    let spec = match &args.spec {
        Some(path) => read_spec(path)?,
        None => {
            let client = Client::connect(&args.conn).map_err(strip_prefix)?;
            revision_or_active_spec(&client, args.revision)
                .map_err(strip_prefix)?
                .1
        }
    };
    let mut state = HostState::load(&args.state.state_dir, role)?;
    let plan = match role {
        Role::Director => {
            HostPlan::for_director(&spec, &args.name.clone().unwrap_or_else(hostname))
        }
        Role::Realserver => {
            let selector = if args.vip.is_empty() {
                Selector::LocalAddresses(host::local_addresses(&state).map_err(|e| e.to_string())?)
            } else {
                let vips: BTreeSet<IpAddr> = args.vip.iter().copied().collect();
                let known: BTreeSet<IpAddr> = spec
                    .services()
                    .iter()
                    .filter_map(|s| match s.key {
                        ServiceKey::Addr { addr, .. } => Some(addr.ip()),
                        ServiceKey::Fwmark { .. } => None,
                    })
                    .collect();
                if let Some(unknown) = vips.iter().find(|v| !known.contains(v)) {
                    return Err(format!(
                        "--vip {unknown}: no service of the spec has this virtual address"
                    ));
                }
                Selector::Vips(vips)
            };
            let mut plan = HostPlan::for_realserver(&spec, &selector);
            if let Selector::LocalAddresses(local) = &selector {
                let serves = spec
                    .services()
                    .iter()
                    .flat_map(|s| s.servers())
                    .any(|rs| local.contains(&rs.key.ip()));
                if !serves {
                    plan.notes.push(
                        "no real server of the spec is at one of this host's addresses: nothing to serve (choose services with --vip)".to_string(),
                    );
                }
            }
            plan
        }
    };
    if args.dry_run {
        print!("{plan}");
        return Ok(());
    }
    let report = host::apply(&plan, &mut state).map_err(|e| e.to_string())?;
    print!("{report}");
    Ok(())
}

fn strip_prefix(failure: super::client::Failure) -> String {
    let text = failure.to_string();
    text.strip_prefix("lvsd: ").unwrap_or(&text).to_string()
}

fn read_spec(path: &Path) -> Result<Spec, String> {
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| format!("reading standard input: {e}"))?;
        buf
    } else {
        std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?
    };
    Spec::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn show(dir: &Path) -> Result<(), String> {
    for role in [Role::Director, Role::Realserver] {
        let state = HostState::load(dir, role)?;
        let records = &state.records;
        if records.is_empty() {
            println!("{}: nothing added", role.as_str());
            continue;
        }
        println!("{}:", role.as_str());
        for name in &records.created_links {
            println!("  interface {name} (created)");
        }
        for name in &records.raised_links {
            println!("  interface {name} (set up)");
        }
        for address in &records.addresses {
            println!("  address {address}");
        }
        for changed in &records.sysctls {
            let why = match changed.reason.as_str() {
                "" => String::new(),
                reason => format!(": {reason}"),
            };
            println!(
                "  {} = {} (was {}){why}",
                host::sysctl_name(&changed.path),
                changed.value,
                changed.previous
            );
        }
        for table in &records.nft_tables {
            println!("  nftables {}", table.family);
        }
    }
    Ok(())
}

fn clean(args: &CleanArgs) -> Result<(), String> {
    let roles = match args.role {
        Some(role) => vec![Role::from(role)],
        None => vec![Role::Director, Role::Realserver],
    };
    for role in roles {
        let mut state = HostState::load(&args.state.state_dir, role)?;
        if state.records.is_empty() {
            continue;
        }
        let report = host::clean(&mut state).map_err(|e| e.to_string())?;
        print!("{}: {report}", role.as_str());
    }
    Ok(())
}
