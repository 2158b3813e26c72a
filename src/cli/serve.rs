//! `lvsd serve` and `lvsd migrate`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{grpc, rest};
use crate::apply::DriftMode;
use crate::core::Core;
use crate::ipvs::IpvsTable;
use crate::store::{self, Store};

/// The database `lvsd serve` uses without `--db`.
const DEFAULT_DB: &str = "lvsd.db";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Database: a SQLite file path or sqlite:// URL (one server), or a
    /// postgres:// URL shared by several servers; migrated if needed. A
    /// missing (or empty) SQLite file is created only with --init, or when
    /// it is the default lvsd.db.
    #[arg(long, default_value = DEFAULT_DB, env = "LVSD_DB")]
    pub db: String,
    /// Create the SQLite database if its file does not exist or is empty.
    /// Without it such a file is refused: a server whose database was
    /// deleted must not start anew, empty and open, on its own.
    #[arg(long, env = "LVSD_INIT")]
    pub init: bool,
    /// How the SQLite database is checked at start: `quick` (PRAGMA
    /// quick_check), `full` (integrity_check, slower) or `off`. A database
    /// failing it is refused.
    #[arg(long, value_enum, default_value_t = IntegrityArg::Quick, value_name = "CHECK")]
    pub integrity_check: IntegrityArg,
    /// Address of the REST API (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:7080", env = "LVSD_HTTP")]
    pub http: SocketAddr,
    /// Address of the gRPC API (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:7081", env = "LVSD_GRPC")]
    pub grpc: SocketAddr,
    /// Allow browsers on this origin to call the REST API (repeatable).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "LVSD_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub hardening: super::hardening::HardeningArgs,
    /// Apply every activation of this server's clusters to this host's own
    /// kernel (one director: server and kernel on the same host). On a host
    /// without IPVS the server says so and serves the API only.
    #[arg(long, env = "LVSD_APPLY_LOCAL")]
    pub apply_local: bool,
    /// This director's name in the API; the host name by default.
    #[arg(long, value_name = "NAME", requires = "apply_local")]
    pub director: Option<String>,
    /// How often the whole table is read and compared with the active revision.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_interval)]
    pub reconcile_interval: Duration,
    /// With --apply-local: how often the table's counters are read for the
    /// API (`GET /v1/clusters/{cluster}/counters`).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_interval)]
    pub counters_interval: Duration,
    /// What a drift found by that comparison gets: `restore` applies the
    /// active revision again, `report` only records it. Both audit it.
    #[arg(long, value_enum, default_value_t = DriftMode::Restore)]
    pub drift: DriftMode,
    /// Refuse an apply that takes more than this share (0 to 1) of the
    /// services, or of the real servers, out of service, unless forced;
    /// a cluster's settings may set their own. 1 for no limit.
    #[arg(long, value_name = "SHARE", default_value_t = 0.5, value_parser = parse_share)]
    pub removal_limit: f64,
    /// With --apply-local: where the records of the IPVS settings
    /// (`net.ipv4.vs.*`) the director sets are kept, beside `lvsd host`'s,
    /// so that `lvsd host clean` restores them.
    #[arg(long, value_name = "DIR", default_value = crate::host::DEFAULT_STATE_DIR)]
    pub host_state_dir: std::path::PathBuf,
    /// The table to apply to: the kernel's, or an in-memory one (tests).
    #[arg(long, value_enum, default_value_t = TableKind::Kernel, hide = true)]
    pub table: TableKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IntegrityArg {
    Quick,
    Full,
    Off,
}

impl ServeArgs {
    fn start_checks(&self) -> store::StartChecks {
        store::StartChecks {
            create: self.init || self.db == DEFAULT_DB,
            integrity: match self.integrity_check {
                IntegrityArg::Quick => store::IntegrityCheck::Quick,
                IntegrityArg::Full => store::IntegrityCheck::Full,
                IntegrityArg::Off => store::IntegrityCheck::Off,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableKind {
    Kernel,
    Memory,
}

pub(super) fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration such as 10s or 1m: {e}"))?;
    if interval < Duration::from_millis(100) {
        return Err(format!("`{text}` is too short: 100ms at least"));
    }
    Ok(interval)
}

pub(super) fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("`{text}` is not a share from 0 to 1 (0.5 is half)")),
    }
}

/// This host's name, for the director's.
pub(super) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "local".to_string())
}

/// This host's IPVS table.
pub(super) fn open_table(kind: TableKind) -> Result<Box<dyn IpvsTable + Send>, crate::ipvs::Error> {
    match kind {
        TableKind::Memory => Ok(Box::new(crate::ipvs::MemoryTable::new())),
        TableKind::Kernel => kernel_table(),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Database: a SQLite file path or sqlite:// URL, or a postgres:// URL.
    #[arg(long, default_value = "lvsd.db", env = "LVSD_DB")]
    pub db: String,
    /// Then copy its whole history (revisions, audit log, tokens, director
    /// status) into this empty PostgreSQL database (postgres://...).
    #[arg(long, value_name = "POSTGRES_URL")]
    pub to: Option<String>,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn serve(args: ServeArgs) -> ExitCode {
    init_logging(args.log_format);
    match runtime().and_then(|rt| rt.block_on(run(args))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lvsd serve: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let cors_origins = args
        .cors_origins
        .iter()
        .map(|origin| {
            origin
                .parse()
                .with_context(|| format!("--cors-origin {origin}: not a valid origin"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let shown = store::redacted(&args.db);
    let store = Store::open_checked(&args.db, args.start_checks())
        .await
        .with_context(|| format!("opening database {shown}"))?;
    let limits = args.hardening.spec_limits();
    crate::model::set_parse_limits(limits.max_services, limits.max_servers);
    let core = Core::with_limits(store.clone(), limits);
    let open = core.auth().is_open().await?;
    let warnings = args
        .hardening
        .check_exposure(open, &[args.http, args.grpc])?;
    let http = TcpListener::bind(args.http)
        .await
        .with_context(|| format!("binding the REST API to {}", args.http))?;
    let grpc = TcpListener::bind(args.grpc)
        .await
        .with_context(|| format!("binding the gRPC API to {}", args.grpc))?;
    let (http, grpc) = args.hardening.listeners(http, grpc)?;

    // Printed on stdout, one line each, for people and for scripts that start lvsd.
    println!("lvsd: database {shown}");
    let scheme = if http.is_tls() { "https" } else { "http" };
    println!("lvsd: REST API on {scheme}://{}", http.local_addr()?);
    println!("lvsd: gRPC API on {}", grpc.local_addr()?);
    if http.is_tls() {
        let mtls = if args.hardening.tls_client_ca.is_some() {
            ", client certificates required"
        } else {
            ""
        };
        println!("lvsd: TLS on both APIs{mtls}");
    }
    println!(
        "lvsd: access: {}",
        if open {
            "OPEN (no tokens)"
        } else {
            "bearer tokens required"
        }
    );
    for warning in &warnings {
        println!("lvsd: {warning}");
        tracing::warn!("{warning}");
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let mut director = None;
    if !args.apply_local {
        println!(
            "lvsd: applying to the kernel is off: this server stores and serves revisions only"
        );
    } else {
        match open_table(args.table) {
            Ok(mut table) => {
                // A table that cannot even be listed is no table to apply to.
                match table.info() {
                    Ok(info) => {
                        let options = crate::director::local::Options {
                            name: args.director.clone().unwrap_or_else(host_name),
                            interval: args.reconcile_interval,
                            drift: args.drift,
                            removal_limit: (args.removal_limit < 1.0).then_some(args.removal_limit),
                            counters_interval: args.counters_interval,
                            host_state_dir: (args.table == TableKind::Kernel)
                                .then(|| args.host_state_dir.clone()),
                        };
                        println!(
                            "lvsd: applying to the kernel of this host (IPVS {}) as director {}: drift check every {}, drift {}, removal limit {:.0}%",
                            info.version_string(),
                            options.name,
                            humantime::format_duration(options.interval),
                            options.drift.as_str(),
                            100.0 * args.removal_limit,
                        );
                        // A second socket on the kernel's table, for the counters.
                        let counters_table = match args.table {
                            TableKind::Kernel => kernel_table()
                                .inspect_err(|err| tracing::warn!(error = %err, "a second IPVS socket for the counters: reading them between steps"))
                                .ok(),
                            TableKind::Memory => None,
                        };
                        let (handle, thread) = crate::director::local::start(
                            core.clone(),
                            table,
                            counters_table,
                            options,
                            stopped(stop_rx.clone()),
                        )
                        .context("starting the local director")?;
                        core.set_local_director(handle);
                        director = Some(thread);
                    }
                    Err(err) => {
                        println!("lvsd: applying to the kernel is off: {err}; serving the API only")
                    }
                }
            }
            Err(err) => {
                println!("lvsd: applying to the kernel is off: {err}; serving the API only")
            }
        }
    }
    let confirms = tokio::spawn(core.clone().watch_confirms(stopped(stop_rx.clone())));
    let rollouts = tokio::spawn(core.clone().watch_rollouts(stopped(stop_rx.clone())));
    let others = tokio::spawn(core.clone().follow_other_servers(stopped(stop_rx.clone())));
    let rest_options = args.hardening.rest_options(cors_origins);
    let rest = tokio::spawn(rest::serve(
        core.clone(),
        http,
        rest_options,
        stopped(stop_rx.clone()),
    ));
    let grpc = tokio::spawn(grpc::serve(
        core.clone(),
        grpc,
        args.hardening.grpc_options(),
        stopped(stop_rx.clone()),
    ));

    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    let _ = stop_tx.send(true);
    // Requests in flight get a grace period; idle client connections kept
    // open (HTTP keep-alive, gRPC channels) must not hold the exit forever.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        rest.await.context("REST task")?.context("REST API")?;
        grpc.await.context("gRPC task")?.context("gRPC API")?;
        confirms.await.context("confirmation task")?;
        rollouts.await.context("rollout task")?;
        others
            .await
            .context("the task following the other servers")?;
        if let Some(director) = director {
            let joined = tokio::task::spawn_blocking(move || director.join())
                .await
                .context("local director")?;
            joined.map_err(|_| anyhow::anyhow!("the local director panicked"))?;
        }
        anyhow::Ok(())
    })
    .await;
    match drained {
        Ok(result) => result?,
        Err(_) => tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; closing them"),
    }
    // Every write was committed in its own transaction: nothing is lost here.
    store.close().await;
    Ok(())
}

const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The kernel's table, through the netlink driver.
fn kernel_table() -> Result<Box<dyn IpvsTable + Send>, crate::ipvs::Error> {
    Ok(Box::new(crate::ipvs::NetlinkTable::open()?))
}

pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

pub fn migrate(args: MigrateArgs) -> ExitCode {
    let done = runtime().and_then(|rt| {
        rt.block_on(async {
            let shown = store::redacted(&args.db);
            let applied = Store::migrate(&args.db)
                .await
                .with_context(|| shown.clone())?;
            match applied {
                0 => println!("lvsd migrate: {shown} is up to date"),
                n => println!("lvsd migrate: applied {n} migration(s) to {shown}"),
            }
            if let Some(to) = &args.to {
                let to_shown = store::redacted(to);
                copy_into(&args.db, to)
                    .await
                    .with_context(|| format!("copying {shown} into {to_shown}"))?;
            }
            anyhow::Ok(())
        })
    });
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lvsd migrate: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `lvsd migrate --to`: the whole database copied, then checked: the same
/// rows in each table and the audit chain intact up to the same head.
async fn copy_into(from_db: &str, to_db: &str) -> anyhow::Result<()> {
    if store::Backend::of(to_db) != store::Backend::Postgres {
        anyhow::bail!(
            "--to takes a postgres:// URL, not `{}`",
            store::redacted(to_db)
        );
    }
    let from = Store::open_existing(from_db).await?;
    let to = Store::open(to_db).await?;
    let report = store::copy_database(&from, &to).await?;
    for (table, rows) in &report.tables {
        println!("lvsd migrate: copied {rows} row(s) of {table}");
    }
    let (source, copied) = (
        store::verify_audit(&from, None).await?,
        store::verify_audit(&to, None).await?,
    );
    if let Some(bad) = &copied.first_bad {
        anyhow::bail!(
            "the copied audit log does not verify at entry {}: {}",
            bad.id,
            bad.reason
        );
    }
    if copied.head != source.head {
        anyhow::bail!(
            "the copied audit log ends at {:?}, the source's at {:?}",
            copied.head,
            source.head
        );
    }
    println!(
        "lvsd migrate: {} audit entries verified, chain head {}",
        copied.entries,
        copied
            .head
            .map(|(_, hash)| hash)
            .unwrap_or_else(|| store::GENESIS.to_string())
    );
    from.close().await;
    to.close().await;
    Ok(())
}
