//! `lvsd agent`: the command line of a remote director's agent. The agent
//! itself is `crate::agent`; this only reads the arguments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::serve::{
    LogFormat, TableKind, host_name, open_table, parse_interval, parse_share, shutdown_signal,
};
use crate::agent::cache::Cache;
use crate::agent::client::ServerClient;
use crate::agent::host::HostSetup;
use crate::agent::realserver;
use crate::agent::run::{Agent, Options, run};
use crate::agent::servers::Servers;
use crate::apply::DriftMode;
use crate::host::Role;

#[derive(Debug, Args)]
#[command(after_help = "Example:
  lvsd token create --name d1 --role agent --cluster web --db lvsd.db   # on the server's host
  lvsd agent --server http://10.0.0.1:7080 --cluster web --name d1 --token TOKEN
  lvsd agent --server http://10.0.0.1:7080,http://10.0.0.2:7080 --cluster web --token TOKEN

With several servers (sharing one database), the agent talks to one at a
time and moves on to the next when it cannot reach it or it fails (5xx);
it backs off only once all of them failed in a row.

The agent follows the revision the server says this director should run,
applies it to this host's IPVS table, and reports back (see `lvsd directors`).
It keeps the last revision applied in --state-dir, and restores it when it
starts without the server (after a reboot).")]
pub struct AgentArgs {
    /// URL of the lvsd server; several servers sharing one database may be
    /// given, repeated or comma-separated (URL,URL), tried in turn when one
    /// fails [env: LVSD_SERVER; config: server, a string or a list]
    #[arg(long, value_name = "URL[,URL...]")]
    pub server: Vec<String>,
    /// The cluster this director runs [env: LVSD_CLUSTER; config: cluster]
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// This director's name in the API; the host name by default
    #[arg(long, value_name = "DIRECTOR")]
    pub name: Option<String>,
    /// Bearer token, of role agent for the cluster [env: LVSD_TOKEN; config: token]
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Client config file [env: LVSD_CONFIG; default: ~/.config/lvsd/config.toml]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// CA certificates (PEM) to trust for an https:// server, besides the system's
    #[arg(long, value_name = "FILE", env = "LVSD_CA")]
    pub ca: Option<PathBuf>,
    /// Where the last applied revision is cached, one file per cluster
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/lvsd/agent",
        env = "LVSD_STATE_DIR"
    )]
    pub state_dir: PathBuf,
    /// What this host is: a director (the IPVS table and its host settings),
    /// or a real server (its host settings only: the VIPs of the DR and TUN
    /// services it serves, on lo or tunl0, with ARP kept quiet)
    #[arg(long, value_enum, default_value_t = AgentRoleArg::Director)]
    pub role: AgentRoleArg,
    /// The table to apply to: the kernel's, or an in-memory one (tests, benchmarks)
    #[arg(long, value_enum, default_value_t = TableKind::Kernel)]
    pub table: TableKind,
    /// Leave this host's settings alone: no VIPs bound, no sysctls, no
    /// FULLNAT rules (always so with `--table memory`). By default they
    /// follow every apply, recorded in DIR/host of --state-dir
    #[arg(long)]
    pub no_host: bool,
    /// Report to the server at least this often (a heartbeat with the counters)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_interval)]
    pub report_interval: Duration,
    /// How often the whole table is read and compared with the revision
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_interval)]
    pub reconcile_interval: Duration,
    /// What a drift found by that comparison gets: `restore` applies the
    /// revision again, `report` only reports it
    #[arg(long, value_enum, default_value_t = DriftMode::Restore)]
    pub drift: DriftMode,
    /// How long the server may hold a request for what to run (long-poll)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_interval)]
    pub wait: Duration,
    /// Refuse an apply that takes more than this share (0 to 1) of the
    /// services, or of the real servers, out of service, where the cluster's
    /// settings set no limit. 1 for no limit
    #[arg(long, value_name = "SHARE", default_value_t = 0.5, value_parser = parse_share)]
    pub removal_limit: f64,
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "LVSD_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AgentRoleArg {
    Director,
    Realserver,
}

/// Logs to stderr; colours only on a terminal (an agent mostly logs to a journal or a file).
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Servers, cluster and token from the flags, the environment, then the config file.
fn connection(args: &AgentArgs) -> Result<(Servers, String, Option<String>), String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let config = super::client::config::Config::load(
        args.config
            .clone()
            .or_else(|| env("LVSD_CONFIG").map(PathBuf::from)),
    )
    .map_err(|err| {
        err.to_string()
            .trim_start_matches("lvsd: error: ")
            .to_string()
    })?;
    // The first source that names any server gives the whole list: flags, then env, then file.
    let servers = if !args.server.is_empty() {
        args.server.clone()
    } else if let Some(listed) = env("LVSD_SERVER") {
        vec![listed]
    } else {
        config.servers
    };
    if servers.is_empty() {
        return Err("no server: pass --server URL[,URL...] (or set LVSD_SERVER, or `server` in the config file), e.g. --server http://10.0.0.1:7080".into());
    }
    let servers = Servers::parse(&servers)?;
    let cluster = args
        .cluster
        .clone()
        .or_else(|| env("LVSD_CLUSTER"))
        .or(config.cluster)
        .ok_or("no cluster: pass --cluster NAME (or set LVSD_CLUSTER, or `cluster` in the config file)")?;
    // The cluster names the cache file: the server's rule for names keeps it a plain file name.
    let plain =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
    if cluster.is_empty()
        || cluster.len() > 63
        || !cluster.chars().all(plain)
        || cluster.starts_with(['-', '_', '.'])
    {
        return Err(format!(
            "--cluster {cluster}: not a cluster name: 1 to 63 characters of a-z, 0-9, '-', '_' or '.', starting with a letter or digit"
        ));
    }
    let token = args
        .token
        .clone()
        .or_else(|| env("LVSD_TOKEN"))
        .or(config.token);
    Ok((servers, cluster, token))
}

pub fn agent(args: AgentArgs) -> ExitCode {
    init_logging(args.log_format);
    let (servers, cluster, token) = match connection(&args) {
        Ok(found) => found,
        Err(err) => {
            eprintln!("lvsd agent: {err}");
            return ExitCode::from(super::client::exit::USAGE);
        }
    };
    let ca = match &args.ca {
        Some(path) => match std::fs::read(path) {
            Ok(pem) => Some(pem),
            Err(err) => {
                eprintln!("lvsd agent: --ca {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let name = args.name.clone().unwrap_or_else(host_name);
    let server = servers.urls().join(",");
    let client = match ServerClient::new(servers, &cluster, &name, token, ca.as_deref()) {
        Ok(client) => client,
        Err(err) => {
            eprintln!("lvsd agent: {err}");
            return ExitCode::from(super::client::exit::USAGE);
        }
    };
    if args.role == AgentRoleArg::Realserver {
        return realserver(&args, &server, cluster, name, client);
    }
    let mut table = match open_table(args.table) {
        Ok(table) => table,
        Err(err) => {
            eprintln!("lvsd agent: cannot open this host's IPVS table: {err}");
            return ExitCode::FAILURE;
        }
    };
    let info = match table.info() {
        Ok(info) => info,
        Err(err) => {
            eprintln!("lvsd agent: cannot read this host's IPVS table: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        server,
        cluster,
        director = name,
        ipvs = info.version_string(),
        state_dir = %args.state_dir.display(),
        "lvsd agent {}: director {name} of cluster {cluster}",
        env!("CARGO_PKG_VERSION")
    );
    let options = Options {
        cluster,
        name,
        report_interval: args.report_interval,
        reconcile_interval: args.reconcile_interval,
        drift: args.drift,
        wait: args.wait,
        removal_limit: (args.removal_limit < 1.0).then_some(args.removal_limit),
        // A memory table is not this host's: its settings would serve nothing.
        host_state_dir: (!args.no_host && args.table == TableKind::Kernel)
            .then(|| args.state_dir.join("host")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("lvsd agent: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let agent = Agent::new(options, table, Cache::new(&args.state_dir));
    runtime.block_on(run(agent, client, shutdown_signal()));
    tracing::info!("lvsd agent stopped; the table stays as it is");
    ExitCode::SUCCESS
}

/// `--role realserver`: host settings only, no table.
fn realserver(
    args: &AgentArgs,
    server: &str,
    cluster: String,
    name: String,
    client: ServerClient,
) -> ExitCode {
    if args.no_host {
        eprintln!(
            "lvsd agent: --no-host with --role realserver leaves a real-server agent nothing to do"
        );
        return ExitCode::from(super::client::exit::USAGE);
    }
    tracing::info!(
        server,
        cluster,
        name,
        "lvsd agent {}: real server {name} of cluster {cluster}",
        env!("CARGO_PKG_VERSION")
    );
    let host = HostSetup::new(args.state_dir.join("host"), Role::Realserver, &name);
    let options = realserver::Options {
        cluster,
        name,
        report_interval: args.report_interval,
        retry_interval: args.reconcile_interval,
        wait: args.wait,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("lvsd agent: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(realserver::run(options, host, client, shutdown_signal()));
    tracing::info!("lvsd agent stopped; the host settings stay as they are");
    ExitCode::SUCCESS
}
