//! `lvsd token create | list | revoke`: access tokens, on the database file
//! itself. Run them on the server's host, as its owner: whoever can write the
//! database can do anything anyway.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::auth::Role;
use crate::core::{Caller, Core, NewToken, TokenView};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it, once: only its hash is stored.
    ///
    /// The token goes to stdout alone, so `TOKEN=$(lvsd token create ...)` works.
    /// The first token closes the API: from then on every request needs one.
    Create(CreateArgs),
    /// List every token made, live and revoked (never their secrets).
    List(ListArgs),
    /// Revoke a live token by name or id; the server refuses it from its next request.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct DbArg {
    /// SQLite database of the server: a file path or sqlite:// URL.
    #[arg(long, default_value = "lvsd.db", env = "LVSD_DB")]
    pub db: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Who holds it (1-64 of A-Z a-z 0-9 . _ - @ :); the actor in the audit log.
    #[arg(long)]
    pub name: String,
    /// viewer (read), operator (edit, commit, rollback), admin (everything), agent (one cluster's agent).
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// The cluster of an agent token (agents only).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Let the token expire after this long, e.g. `90d`, `12h`.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub expires_in: Option<Duration>,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's name or id.
    pub token: String,
    #[command(flatten)]
    pub db: DbArg,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
}

/// The actor of a command run on the server's host: `local:` and the user
/// (the one behind sudo, if any), or the numeric uid.
pub(crate) fn local_actor() -> String {
    let user = ["SUDO_USER", "USER", "LOGNAME"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .or_else(|| {
            let status = std::fs::read_to_string("/proc/self/status").ok()?;
            let uid = status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))?
                .split_whitespace()
                .next()?
                .to_string();
            Some(format!("uid{uid}"))
        })
        .unwrap_or_else(|| "unknown".to_string());
    format!("local:{user}")
}

pub fn run(cmd: TokenCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("lvsd token: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cmd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lvsd token: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cmd: TokenCommand) -> Result<(), String> {
    let caller = Caller::new(local_actor(), uuid::Uuid::new_v4().to_string());
    match cmd {
        TokenCommand::Create(args) => {
            let core = open(&args.db.db, true).await?;
            let new = NewToken {
                name: args.name,
                role: args.role,
                cluster: args.cluster,
                expires_in: args.expires_in,
            };
            let (view, token) = core
                .create_token(&caller, new)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", token.reveal());
            let scope = view
                .cluster
                .as_ref()
                .map(|c| format!(" of cluster {c}"))
                .unwrap_or_default();
            let expiry = view
                .expires_at
                .as_ref()
                .map(|at| format!(", expires {at}"))
                .unwrap_or_default();
            eprintln!(
                "lvsd token: made {} token {} (id {}){scope}{expiry}.",
                view.role, view.name, view.id
            );
            eprintln!(
                "lvsd token: the token is printed above, this once: lvsd keeps only its hash."
            );
        }
        TokenCommand::List(args) => {
            let core = open(&args.db.db, false).await?;
            let tokens = core.list_tokens().await.map_err(|e| e.to_string())?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&tokens).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", table(&tokens));
            }
        }
        TokenCommand::Revoke(args) => {
            let core = open(&args.db.db, false).await?;
            let view = core
                .revoke_token(&caller, &args.token)
                .await
                .map_err(|e| e.to_string())?;
            println!("lvsd token: revoked {} (id {})", view.name, view.id);
        }
    }
    Ok(())
}

/// The server's database; only `create` makes one (tokens can be made
/// before the first `lvsd serve`, so that it never runs open).
async fn open(db: &str, create: bool) -> Result<Core, String> {
    let shown = crate::store::redacted(db);
    let a_file = crate::store::Backend::of(db) == crate::store::Backend::Sqlite
        && !db.starts_with("sqlite:");
    if !create && a_file && !std::path::Path::new(db).exists() {
        return Err(format!(
            "{shown}: no such database (lvsd serve and lvsd migrate make one; check --db or LVSD_DB)"
        ));
    }
    let store = Store::open(db)
        .await
        .map_err(|err| format!("opening database {shown}: {err}"))?;
    Ok(Core::new(store))
}

fn table(tokens: &[TokenView]) -> String {
    let mut rows = vec![
        [
            "NAME", "ID", "ROLE", "CLUSTER", "CREATED", "EXPIRES", "STATE",
        ]
        .map(str::to_string),
    ];
    let now = crate::core::now();
    for t in tokens {
        let state = match (&t.revoked_at, &t.expires_at) {
            (Some(at), _) => format!("revoked {at} by {}", t.revoked_by.as_deref().unwrap_or("?")),
            (None, Some(at)) if *at <= now => "expired".to_string(),
            _ => "live".to_string(),
        };
        rows.push([
            t.name.clone(),
            t.id.clone(),
            t.role.clone(),
            t.cluster.clone().unwrap_or_else(|| "-".into()),
            t.created_at.clone(),
            t.expires_at.clone().unwrap_or_else(|| "-".into()),
            state,
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if tokens.is_empty() {
        out.push_str("(no tokens: the API is open)\n");
    }
    out
}
