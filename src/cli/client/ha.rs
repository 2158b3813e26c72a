//! `lvsd ha status` and `lvsd ha switchover`: director high availability
//! as the server sees it across the cluster's directors, and controlled
//! switchovers (`/v1/clusters/{cluster}/ha`).

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::json;

use super::api::Body;
use super::{Client, Conn, Failure, exit_codes, print_json, render};
use crate::core::{HaView, SwitchoverView, state_name};

#[derive(Debug, Subcommand)]
pub enum HaCommand {
    /// Show every VRRP instance across the cluster's directors: which one is
    /// master, and the server's flags (no master, split brain).
    #[command(after_help = concat!(
"Examples:
  lvsd ha status --cluster web
  lvsd ha status --cluster web --output json

", exit_codes!()))]
    Status(StatusArgs),
    /// Ask the VRRP master to step down, so that a backup takes over the VIPs.
    #[command(after_help = concat!(
"Examples:
  lvsd ha switchover --cluster web
  lvsd ha switchover --cluster web --instance VI_1

", exit_codes!()))]
    Switchover(SwitchoverArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(Debug, Args)]
pub struct SwitchoverArgs {
    /// The VRRP instance to move; every instance of the cluster by default
    #[arg(long, value_name = "NAME")]
    instance: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

impl HaCommand {
    pub fn conn(&self) -> &Conn {
        match self {
            HaCommand::Status(args) => &args.conn,
            HaCommand::Switchover(args) => &args.conn,
        }
    }
}

pub fn run(client: &Client, command: HaCommand) -> Result<(), Failure> {
    match command {
        HaCommand::Status(_) => status(client),
        HaCommand::Switchover(args) => switchover(client, args),
    }
}

/// An older server without the HA API answers 404 "no such endpoint".
fn no_endpoint_hint(failure: Failure) -> Failure {
    failure.hint_if(
        |err| err.status == 404 && err.message == "no such endpoint",
        "this server is older than the command: it has no high-availability API",
    )
}

fn status(client: &Client) -> Result<(), Failure> {
    let reply = client
        .api
        .get(&client.path("/ha"))
        .map_err(no_endpoint_hint)?;
    if client.json() {
        print_json(&reply.value());
        return Ok(());
    }
    let view: HaView = reply.json()?;
    print!("{}", status_text(&view));
    Ok(())
}

/// The flags first, loud; then one row per director and instance.
fn status_text(view: &HaView) -> String {
    let mut out = String::new();
    for i in view.flagged() {
        if i.split_brain {
            out.push_str(&format!(
                "SPLIT BRAIN: {} (vrid {}) has {} masters: {}; each answers for its VIPs\n",
                i.instance,
                i.vrid,
                i.masters.len(),
                i.masters.join(", ")
            ));
        }
        if i.no_master {
            out.push_str(&format!(
                "NO MASTER: {} (vrid {}): no director is master; its VIPs are served by none\n",
                i.instance, i.vrid
            ));
        }
    }
    if view.instances.is_empty() {
        out.push_str(&format!(
            "no director of {} reports VRRP state\n",
            view.cluster
        ));
    } else {
        let mut rows = vec![
            ["INSTANCE", "VRID", "DIRECTOR", "STATE", "SINCE", "PRIORITY"]
                .map(String::from)
                .to_vec(),
        ];
        for i in &view.instances {
            for m in &i.directors {
                let state = match m.stale {
                    true => format!("{} (stale)", state_name(m.state)),
                    false => state_name(m.state).to_string(),
                };
                rows.push(vec![
                    i.instance.clone(),
                    i.vrid.to_string(),
                    m.director.clone(),
                    state,
                    m.since.clone(),
                    m.priority.to_string(),
                ]);
            }
        }
        out.push_str(&render::columns(&rows));
    }
    if !view.pending.is_empty() {
        out.push_str(&format!(
            "waiting for a first report since the server started from: {}\n",
            view.pending.join(", ")
        ));
    }
    if let Some(s) = &view.switchover {
        out.push_str(&format!(
            "last switchover: request {} for {} by {} at {}\n",
            s.seq,
            s.instance.as_deref().unwrap_or("every instance"),
            s.requested_by,
            s.requested_at
        ));
    }
    out
}

fn switchover(client: &Client, args: SwitchoverArgs) -> Result<(), Failure> {
    let body = json!({ "instance": args.instance });
    let reply = client
        .api
        .send(
            Method::POST,
            &client.path("/ha/switchover"),
            Body::Json(body),
            None,
        )
        .map_err(no_endpoint_hint)?;
    if client.json() {
        print_json(&reply.value());
        return Ok(());
    }
    let view: SwitchoverView = reply.json()?;
    let what = view
        .instance
        .as_deref()
        .map_or("every VRRP instance".to_string(), |i| {
            format!("VRRP instance {i}")
        });
    println!(
        "switchover request {} for {what} of cluster {}",
        view.seq, client.cluster
    );
    match view.masters.as_slice() {
        [] => println!("  no director is master now: nothing steps down until one is"),
        masters => println!(
            "  {} steps down when its agent next hears from the server; `lvsd ha status` shows the new master",
            masters.join(", ")
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::agent::VrrpState;
    use crate::core::{HaInstance, HaMember};

    fn member(director: &str, state: VrrpState, stale: bool) -> HaMember {
        HaMember {
            director: director.to_string(),
            state,
            since: "2026-01-01T00:00:00.000Z".to_string(),
            priority: 100,
            transitions: 1,
            stale,
        }
    }

    #[test]
    fn flags_come_first_and_loud() {
        let view = HaView {
            cluster: "web".to_string(),
            instances: vec![HaInstance {
                instance: "VI_1".to_string(),
                vrid: 51,
                masters: vec!["lb-1".to_string(), "lb-2".to_string()],
                backups: vec![],
                faults: vec![],
                directors: vec![
                    member("lb-1", VrrpState::Master, false),
                    member("lb-2", VrrpState::Master, false),
                    member("lb-3", VrrpState::Backup, true),
                ],
                no_master: false,
                split_brain: true,
            }],
            pending: vec![],
            switchover: None,
        };
        let text = status_text(&view);
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            "SPLIT BRAIN: VI_1 (vrid 51) has 2 masters: lb-1, lb-2; each answers for its VIPs"
        );
        assert!(text.contains("backup (stale)"), "{text}");
        assert!(
            text.lines().nth(1).unwrap().starts_with("INSTANCE"),
            "{text}"
        );
    }
}
