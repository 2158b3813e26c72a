//! `lvsd audit verify`: checks the audit log's hash chain in the database
//! file, read-only, and names the first entry that does not hold.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::store::{self, Store};

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

pub fn run(cmd: AuditCommand) -> ExitCode {
    let AuditCommand::Verify(args) = cmd;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("lvsd audit verify: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(verify(args))
}

async fn verify(args: VerifyArgs) -> ExitCode {
    let db = &args.db;
    let report = match Store::open_existing(db).await {
        Ok(pool) => {
            let report = store::verify_audit(&pool, args.expect.as_deref()).await;
            pool.close().await;
            report
        }
        Err(err) => Err(err),
    };
    let report = match report {
        Ok(report) => report,
        Err(err) => {
            eprintln!("lvsd audit verify: {db}: {err}");
            return ExitCode::from(2);
        }
    };
    if let Some(bad) = &report.first_bad {
        let held = report.entries - 1;
        println!("lvsd audit verify: {db}: the chain breaks at entry {}: {}", bad.id, bad.reason);
        println!("lvsd audit verify: the {held} entries before it hold");
        return ExitCode::FAILURE;
    }
    match &report.head {
        Some((id, hash)) => println!("lvsd audit verify: {db}: {} entries, chain intact; head: entry {id} {hash}", report.entries),
        None => println!("lvsd audit verify: {db}: the audit log is empty"),
    }
    if let Some(expect) = &args.expect {
        if !report.expected_found {
            println!("lvsd audit verify: no entry has the hash {expect}: entries were cut off the end, or the log was rewritten");
            return ExitCode::FAILURE;
        }
        println!("lvsd audit verify: the chain still contains {expect}");
    }
    ExitCode::SUCCESS
}
