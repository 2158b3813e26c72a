//! `lvsd status`: where a cluster stands, on one screen — its active
//! revision, whether the draft holds uncommitted changes, a commit waiting
//! for confirmation, and what each director runs.

use clap::Args;
use serde_json::json;

use super::api::{Revision, RevisionPage};
use super::{Client, Conn, Failure, exit_codes, print_json, render};

#[derive(Debug, Args)]
#[command(after_help = concat!(
"Examples:
  lvsd status
  lvsd status --cluster shop --output json

", exit_codes!()))]
pub struct StatusArgs {
    #[command(flatten)]
    pub conn: Conn,
}

pub fn status(client: &Client, _args: StatusArgs) -> Result<(), Failure> {
    let cluster = &client.cluster;
    let info = client.api.cluster(cluster)?;
    let active = match info.active_revision {
        Some(n) => Some(revision(client, n)?),
        None => None,
    };
    if client.json() {
        let directors: serde_json::Value = client.api.get_json(&client.path("/directors"))?;
        print_json(&json!({
            "cluster": cluster,
            "active_revision": info.active_revision,
            "latest_revision": info.latest_revision,
            "draft_dirty": info.draft_dirty,
            "pending_confirm": info.pending_confirm.as_ref().map(|p| json!({
                "revision": p.revision, "fallback": p.fallback, "deadline": p.deadline,
            })),
            "directors": directors,
        }));
        return Ok(());
    }
    let title = if info.description.is_empty() {
        String::new()
    } else {
        format!(": {}", info.description)
    };
    println!("Cluster {cluster}{title}");
    match &active {
        Some(r) => println!(
            "  active:  revision {} \"{}\" by {} at {} ({}, {})",
            r.number,
            r.message,
            r.author,
            r.created_at,
            render::count(r.services, "service"),
            render::count(r.servers, "real server")
        ),
        None => println!("  active:  none yet"),
    }
    if info.latest_revision.is_some() && info.latest_revision != info.active_revision {
        println!(
            "  latest:  revision {} (not active: `lvsd activate {}`)",
            info.latest_revision.unwrap_or_default(),
            info.latest_revision.unwrap_or_default()
        );
    }
    let base = info
        .latest_revision
        .map_or("nothing committed".to_string(), |n| format!("revision {n}"));
    if info.draft_dirty {
        println!(
            "  draft:   changed since {base} (`lvsd draft diff`, then `lvsd commit -m MESSAGE`)"
        );
    } else {
        println!("  draft:   as {base}");
    }
    if let Some(pending) = &info.pending_confirm {
        println!("  confirm: {}", pending.describe());
    }
    let directors = super::directors::list_footer(client);
    if directors.is_empty() {
        println!("Directors: none has reported yet");
    } else {
        println!("Directors:");
        for line in directors.lines() {
            println!("  {}", line.trim_start_matches("Director "));
        }
    }
    Ok(())
}

/// Revision `number` without its spec.
fn revision(client: &Client, number: i64) -> Result<Revision, Failure> {
    let page: RevisionPage = client
        .api
        .get_json(&client.path(&format!("/revisions?before={}&limit=1", number + 1)))?;
    page.revisions
        .into_iter()
        .find(|r| r.number == number)
        .ok_or_else(|| {
            Failure::Local(format!(
                "revision {number} of {} is not listed by the server",
                client.cluster
            ))
        })
}
