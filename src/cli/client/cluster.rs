//! `lvsd cluster create|list|show|delete`.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::json;

use super::api::{Body, ClusterInfo, seg};
use super::{Client, Failure, print_json, render};

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create a cluster: an empty draft, no revisions yet.
    Create(CreateArgs),
    /// List the clusters.
    List,
    /// Show a cluster: its active and latest revisions and its draft.
    Show(NameArg),
    /// Delete a cluster and its revisions (refused while a revision is active, unless --force).
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// 1-63 characters of a-z, 0-9, '-', '_', '.'
    name: String,
    /// What the cluster serves
    #[arg(short = 'd', long, default_value = "")]
    description: String,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// The cluster [default: --cluster's]
    name: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    name: String,
    /// Delete even though a revision is active (directors may be running it)
    #[arg(long)]
    force: bool,
}

pub fn run(client: &Client, command: ClusterCommand) -> Result<(), Failure> {
    match command {
        ClusterCommand::Create(args) => {
            let body = json!({"name": args.name, "description": args.description});
            let reply = client
                .api
                .send(Method::POST, "/v1/clusters", Body::Json(body), None)
                .map_err(|f| f.options(&[("name", "NAME"), ("description", "-d")]))?;
            if client.json() {
                print_json(&reply.value());
            } else {
                println!("created cluster {}", args.name);
                if client.cluster != args.name {
                    println!(
                        "  work on it with --cluster {0} (or LVSD_CLUSTER={0})",
                        args.name
                    );
                }
            }
            Ok(())
        }
        ClusterCommand::List => {
            let reply = client.api.get("/v1/clusters")?;
            if client.json() {
                print_json(&reply.value());
                return Ok(());
            }
            let clusters: Vec<ClusterInfo> = reply.json()?;
            if clusters.is_empty() {
                println!("no clusters yet: `lvsd cluster create NAME` makes one");
                return Ok(());
            }
            let mut rows = vec![
                ["NAME", "ACTIVE", "LATEST", "DRAFT", "DESCRIPTION"]
                    .map(String::from)
                    .to_vec(),
            ];
            for c in clusters {
                let number = |n: Option<i64>| n.map_or("-".to_string(), |n| n.to_string());
                rows.push(vec![
                    c.name,
                    number(c.active_revision),
                    number(c.latest_revision),
                    if c.draft_dirty { "changed" } else { "clean" }.to_string(),
                    c.description,
                ]);
            }
            print!("{}", render::columns(&rows));
            Ok(())
        }
        ClusterCommand::Show(args) => {
            let name = args.name.unwrap_or_else(|| client.cluster.clone());
            let reply = client.api.get(&format!("/v1/clusters/{}", seg(&name)))?;
            if client.json() {
                print_json(&reply.value());
                return Ok(());
            }
            let c: ClusterInfo = reply.json()?;
            let number = |n: Option<i64>| n.map_or("none".to_string(), |n| n.to_string());
            println!("cluster:     {}", c.name);
            if !c.description.is_empty() {
                println!("description: {}", c.description);
            }
            println!("created:     {} by {}", c.created_at, c.created_by);
            println!("active:      revision {}", number(c.active_revision));
            println!("latest:      revision {}", number(c.latest_revision));
            let state = if c.draft_dirty {
                "changed since the latest revision (`lvsd draft diff`)"
            } else {
                "same as the latest revision"
            };
            println!("draft:       {state}, ETag {}", c.draft_etag);
            if let Some(pending) = &c.pending_confirm {
                println!("confirm:     {}", pending.describe());
            }
            Ok(())
        }
        ClusterCommand::Delete(args) => {
            let mut path = format!("/v1/clusters/{}", seg(&args.name));
            if args.force {
                path.push_str("?force=true");
            }
            client
                .api
                .send(Method::DELETE, &path, Body::Empty, None)
                .map_err(|f| {
                    f.hint_if(
                        |err| err.status == 409 && !args.force,
                        format!(
                            "`lvsd cluster delete {} --force` deletes it anyway",
                            args.name
                        ),
                    )
                })?;
            if client.json() {
                print_json(&json!({"deleted": args.name}));
            } else {
                println!("deleted cluster {}", args.name);
            }
            Ok(())
        }
    }
}
