//! `lvsd audit`: the audit log, read through the REST API with the client
//! commands' connection options; `lvsd audit verify` checks its hash chain in
//! the database file, read-only, and names the first entry that does not hold.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::Value;

use super::client::{Client, Conn, Failure};
use crate::store::{self, Store};

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  lvsd audit --cluster web --since 2025-06-01T00:00:00Z
  lvsd audit --action access.denied --limit 20
  lvsd audit --actor alice --output json
  lvsd audit verify --db /var/lib/lvsd/lvsd.db"
)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[command(flatten)]
    pub list: ListArgs,
}

/// Filters of `lvsd audit` (the cluster: --cluster, only when given on the command line).
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Entries of this actor: a token's name, `anonymous`, `unauthenticated`, `local:USER`.
    #[arg(long)]
    pub actor: Option<String>,
    /// Entries of this action, e.g. revision.commit, draft.service.add, access.denied, token.create.
    #[arg(long)]
    pub action: Option<String>,
    /// Entries at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Entries before this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Entries with an id below this one (the next page).
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
    /// How many entries, newest first (1 to 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that no audit entry was edited, deleted, inserted or reordered.
    ///
    /// Recomputes the hash chain of the whole log, read-only. Exits 0 when it
    /// holds (and prints the head to keep elsewhere), 1 naming the first bad
    /// entry when it does not, 2 when the database cannot be read. Entries cut
    /// off the end leave a shorter, valid chain: pass a head printed earlier
    /// with --expect to catch that.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// SQLite database of the server: a file path or sqlite:// URL.
    #[arg(long, default_value = "lvsd.db", env = "LVSD_DB")]
    pub db: String,
    /// A head hash printed by an earlier verify: fail unless the chain still contains it.
    #[arg(long, value_name = "HASH")]
    pub expect: Option<String>,
}

pub fn run(args: AuditArgs) -> ExitCode {
    match args.command {
        Some(AuditCommand::Verify(args)) => run_verify(args),
        None => match list(args.list) {
            Ok(()) => ExitCode::SUCCESS,
            Err(failure) => {
                eprintln!("{failure}");
                ExitCode::from(failure.exit_code())
            }
        },
    }
}

#[derive(Debug, Deserialize)]
struct Entry {
    id: i64,
    at: String,
    actor: String,
    cluster: Option<String>,
    action: String,
    target: String,
    outcome: String,
    detail: Value,
}

fn list(args: ListArgs) -> Result<(), Failure> {
    let client = Client::connect(&args.conn)?;
    let encode = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let mut query = vec![format!("limit={}", args.limit)];
    let filters = [
        ("cluster", args.conn.cluster_flag().map(str::to_string)),
        ("actor", args.actor),
        ("action", args.action),
        ("since", args.since),
        ("until", args.until),
        ("before", args.before.map(|id| id.to_string())),
    ];
    for (name, value) in filters {
        if let Some(value) = value {
            query.push(format!("{name}={}", encode(&value)));
        }
    }
    let reply = client.api.get(&format!("/v1/audit?{}", query.join("&")))?;
    if client.json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&reply.value()).unwrap_or_default()
        );
        return Ok(());
    }
    let entries: Vec<Entry> = reply.json()?;
    let mut rows = vec![
        [
            "ID", "AT", "ACTOR", "CLUSTER", "ACTION", "TARGET", "OUTCOME", "DETAIL",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    for e in &entries {
        rows.push(vec![
            e.id.to_string(),
            e.at.clone(),
            e.actor.clone(),
            e.cluster.clone().unwrap_or_else(|| "-".into()),
            e.action.clone(),
            e.target.clone(),
            e.outcome.clone(),
            detail(&e.detail),
        ]);
    }
    print!("{}", super::client::render::columns(&rows));
    if let Some(last) = entries
        .last()
        .filter(|_| entries.len() == args.limit as usize)
    {
        eprintln!("(more with --before {})", last.id);
    }
    Ok(())
}

/// One line of an entry's detail: the reason of a refusal, else the JSON.
fn detail(value: &Value) -> String {
    let text = match value.get("reason").and_then(Value::as_str) {
        Some(reason) => reason.to_string(),
        None => value.to_string(),
    };
    let line: String = text.replace(['\n', '\t'], " ");
    if line.chars().count() > 100 {
        format!("{}…", line.chars().take(99).collect::<String>())
    } else {
        line
    }
}

fn run_verify(args: VerifyArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("lvsd audit verify: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(verify(args))
}

async fn verify(args: VerifyArgs) -> ExitCode {
    let db = store::redacted(&args.db);
    let report = match Store::open_existing(&args.db).await {
        Ok(store) => {
            let report = store::verify_audit(&store, args.expect.as_deref()).await;
            let damaged = store::damaged_specs(store.reader()).await;
            store.close().await;
            report.and_then(|report| Ok((report, damaged?)))
        }
        Err(err) => Err(err),
    };
    let (report, damaged) = match report {
        Ok(found) => found,
        Err(err) => {
            eprintln!("lvsd audit verify: {db}: {err}");
            return ExitCode::from(2);
        }
    };
    for damage in &damaged {
        println!("lvsd audit verify: {db}: {damage}");
    }
    if let Some(bad) = &report.first_bad {
        let held = report.entries - 1;
        println!(
            "lvsd audit verify: {db}: the chain breaks at entry {}: {}",
            bad.id, bad.reason
        );
        println!("lvsd audit verify: the {held} entries before it hold");
        return ExitCode::FAILURE;
    }
    match &report.head {
        Some((id, hash)) => println!(
            "lvsd audit verify: {db}: {} entries, chain intact; head: entry {id} {hash}",
            report.entries
        ),
        None => println!("lvsd audit verify: {db}: the audit log is empty"),
    }
    if !damaged.is_empty() {
        return ExitCode::FAILURE;
    }
    if let Some(expect) = &args.expect {
        if !report.expected_found {
            println!(
                "lvsd audit verify: no entry has the hash {expect}: entries were cut off the end, or the log was rewritten"
            );
            return ExitCode::FAILURE;
        }
        println!("lvsd audit verify: the chain still contains {expect}");
    }
    ExitCode::SUCCESS
}
