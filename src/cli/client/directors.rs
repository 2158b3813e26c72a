//! What the directors do with the active revision: `directors`, `plan`, `confirm`.

use clap::Args;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::api::{Body, seg};
use super::{Client, Conn, Failure, exit_codes, print_json, render};
use crate::contract::agent::HaReport;
use crate::core::state_name;

/// An older server without the directors API answers 404 "no such endpoint".
fn no_endpoint_hint(failure: Failure) -> Failure {
    failure.hint_if(
        |err| err.status == 404 && err.message == "no such endpoint",
        "this server is older than the command: it has no directors API",
    )
}

#[derive(Debug, Clone, Deserialize)]
struct DirectorInfo {
    name: String,
    #[serde(default)]
    mode: String,
    active_revision: Option<i64>,
    applied_revision: Option<i64>,
    #[serde(default)]
    in_sync: bool,
    #[serde(default)]
    blocked_revision: Option<i64>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    errors: Vec<String>,
    #[serde(default)]
    applied_at: Option<String>,
    #[serde(default)]
    checked_at: Option<String>,
    #[serde(default)]
    drift: Vec<DriftInfo>,
    #[serde(default)]
    draining: Vec<DrainInfo>,
    #[serde(default)]
    last_report: Option<Value>,
    #[serde(default)]
    ha: Option<HaReport>,
}

#[derive(Debug, Clone, Deserialize)]
struct DriftInfo {
    object: String,
    kind: String,
    #[serde(default)]
    details: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct DrainInfo {
    service: String,
    server: String,
    #[serde(default)]
    active_conns: u32,
    #[serde(default)]
    inactive_conns: u32,
    #[serde(default)]
    deadline: String,
}

impl DirectorInfo {
    /// `in sync`, `applying 4`, `blocked at 4`, `drifted (2)`.
    fn state(&self) -> String {
        if let Some(blocked) = self.blocked_revision {
            return format!("blocked at {blocked}");
        }
        if !self.drift.is_empty() {
            return format!("drifted ({})", self.drift.len());
        }
        if self.in_sync {
            return "in sync".to_string();
        }
        match self.active_revision {
            Some(active) if self.applied_revision != Some(active) => format!("behind {active}"),
            _ => "unknown".to_string(),
        }
    }
}

impl DirectorInfo {
    /// `VI_1 master`, `VI_1 backup, VI_2 master`; `-` without VRRP.
    fn vrrp(&self) -> String {
        let instances = self.ha.as_ref().map(|ha| &ha.vrrp[..]).unwrap_or_default();
        if instances.is_empty() {
            return "-".to_string();
        }
        instances
            .iter()
            .map(|v| format!("{} {}", v.instance, state_name(v.state)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn number(n: Option<i64>) -> String {
    n.map_or("-".to_string(), |n| n.to_string())
}

#[derive(Debug, Args)]
#[command(
    long_about = "Show the cluster's directors as they last reported: the revision each\n\
applied, whether its kernel matches the active revision, the last apply's\n\
result and errors, drift, and real servers draining. With NAME, one\n\
director in full, with the plan of its last apply.",
    after_help = concat!(
"Examples:
  lvsd directors
  lvsd directors lb1
  lvsd directors --output json

", exit_codes!()))]
pub struct DirectorsArgs {
    /// One director, in full
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn directors(client: &Client, args: DirectorsArgs) -> Result<(), Failure> {
    let path = match &args.name {
        Some(name) => client.path(&format!("/directors/{}", seg(name))),
        None => client.path("/directors"),
    };
    let reply = client.api.get(&path).map_err(|f| {
        no_endpoint_hint(f).hint_if(
            |err| err.status == 404 && err.message.contains("has no director named"),
            "`lvsd directors` lists them",
        )
    })?;
    if client.json() {
        print_json(&reply.value());
        return Ok(());
    }
    if args.name.is_some() {
        let director: DirectorInfo = reply.json()?;
        print!("{}", director_details(&director));
        return Ok(());
    }
    let directors: Vec<DirectorInfo> = reply.json()?;
    if directors.is_empty() {
        println!(
            "{} has no directors yet: `lvsd serve --apply-local` or an agent makes one",
            client.cluster
        );
        return Ok(());
    }
    let mut rows = vec![
        [
            "DIRECTOR",
            "MODE",
            "ACTIVE",
            "APPLIED",
            "STATE",
            "LAST APPLY",
            "AT",
            "VRRP",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for d in &directors {
        rows.push(vec![
            d.name.clone(),
            d.mode.clone(),
            number(d.active_revision),
            number(d.applied_revision),
            d.state(),
            d.result.clone().unwrap_or_else(|| "-".into()),
            d.applied_at.clone().unwrap_or_else(|| "-".into()),
            d.vrrp(),
        ]);
    }
    print!("{}", render::columns(&rows));
    for d in &directors {
        for error in &d.errors {
            println!("{}: {error}", d.name);
        }
    }
    Ok(())
}

/// One line per director for `lvsd list`: `Director d1: revision 3 applied, in sync`;
/// nothing when the cluster has none or the server cannot say.
pub fn list_footer(client: &Client) -> String {
    let Ok(reply) = client.api.get(&client.path("/directors")) else {
        return String::new();
    };
    let Ok(directors) = reply.json::<Vec<DirectorInfo>>() else {
        return String::new();
    };
    directors
        .iter()
        .map(|d| {
            let applied = d
                .applied_revision
                .map_or("nothing applied yet".to_string(), |n| {
                    format!("revision {n} applied")
                });
            let mut line = format!("Director {}: {applied}, {}", d.name, d.state());
            if let Some(error) = d.errors.first() {
                line.push_str(&format!(" ({error})"));
            }
            line + "\n"
        })
        .collect()
}

fn director_details(d: &DirectorInfo) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "director:   {} ({})", d.name, d.mode);
    let _ = writeln!(out, "active:     revision {}", number(d.active_revision));
    let _ = writeln!(out, "applied:    revision {}", number(d.applied_revision));
    let _ = writeln!(out, "state:      {}", d.state());
    let last = match (&d.result, &d.applied_at) {
        (Some(result), Some(at)) => format!("{result} at {at}"),
        (Some(result), None) => result.clone(),
        _ => "none yet".to_string(),
    };
    let _ = writeln!(out, "last apply: {last}");
    if let Some(at) = &d.checked_at {
        let _ = writeln!(out, "checked:    {at}");
    }
    for error in &d.errors {
        let _ = writeln!(out, "error:      {error}");
    }
    if let Some(ha) = &d.ha {
        for v in &ha.vrrp {
            let _ = writeln!(
                out,
                "vrrp:       {} (vrid {}) {} since {}, priority {}, {} transitions",
                v.instance,
                v.vrid,
                state_name(v.state),
                v.since,
                v.priority,
                v.transitions
            );
        }
        if let Some(sync) = &ha.sync {
            let up = |running: bool| if running { "running" } else { "stopped" };
            let connections = sync
                .connections
                .map_or(String::new(), |n| format!(", {n} connections"));
            let _ = writeln!(
                out,
                "sync:       master thread {}, backup thread {}{connections}",
                up(sync.master),
                up(sync.backup)
            );
        }
        for error in &ha.errors {
            let _ = writeln!(out, "ha error:   {error}");
        }
    }
    for drift in &d.drift {
        let details = if drift.details.is_empty() {
            String::new()
        } else {
            format!(" ({})", drift.details.join("; "))
        };
        let _ = writeln!(out, "drift:      {}: {}{details}", drift.object, drift.kind);
    }
    for drain in &d.draining {
        let _ = writeln!(
            out,
            "draining:   {} of {}: {} active, {} inactive connections, until {}",
            drain.server, drain.service, drain.active_conns, drain.inactive_conns, drain.deadline
        );
    }
    let plan = d
        .last_report
        .as_ref()
        .and_then(|r| r["plan"].as_array())
        .filter(|plan| !plan.is_empty());
    if let Some(plan) = plan {
        let _ = writeln!(out, "last plan:");
        for line in plan.iter().filter_map(Value::as_str) {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

#[derive(Debug, Deserialize)]
struct PlanInfo {
    revision: i64,
    against: String,
    #[serde(default)]
    director: Option<String>,
    #[serde(default)]
    changes: Vec<String>,
    summary: crate::plan::Summary,
    #[serde(default)]
    refused: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Show what activating revision N would do to a director's kernel table,\n\
without doing it: one line per change (+ add, ~ edit in place, - remove,\n\
= drain in progress, ! not yet possible). On a server that applies to its\n\
own kernel (`lvsd serve --apply-local`), against that table as it is now;\n\
otherwise against an empty table.",
    after_help = concat!(
"Examples:
  lvsd plan 4
  lvsd plan 4 --output json

", exit_codes!()))]
pub struct PlanArgs {
    /// The revision
    #[arg(value_name = "N")]
    number: i64,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn plan(client: &Client, args: PlanArgs) -> Result<(), Failure> {
    let reply = client
        .api
        .get(&client.path(&format!("/revisions/{}/plan", args.number)))
        .map_err(|f| {
            no_endpoint_hint(f).hint_if(
                |err| err.status == 404 && err.message.contains("has no revision"),
                "`lvsd log` lists the revisions",
            )
        })?;
    if client.json() {
        print_json(&reply.value());
        return Ok(());
    }
    let plan: PlanInfo = reply.json()?;
    let against = match (&plan.director, plan.against.as_str()) {
        (Some(director), _) => format!("director {director}'s table as it is now"),
        _ => "an empty table (this server applies to no kernel)".to_string(),
    };
    println!(
        "Plan of revision {} of {} against {against}:",
        plan.revision, client.cluster
    );
    if plan.changes.is_empty() {
        println!("(no change)");
    }
    for change in &plan.changes {
        println!("{change}");
    }
    println!("# {}", plan.summary);
    if let Some(why) = &plan.refused {
        println!("The director would refuse it: {why}");
    }
    Ok(())
}

#[derive(Debug, Args)]
#[command(
    long_about = "Confirm a commit made with --confirm DURATION: it stays. Without a\n\
confirmation in time, lvsd rolls the cluster back to the revision before it.",
    after_help = concat!(
"Examples:
  lvsd commit -m 'new weights' --confirm 5m
  lvsd list -n && lvsd confirm

", exit_codes!()))]
pub struct ConfirmArgs {
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(Debug, Deserialize)]
struct Confirmed {
    revision: i64,
    confirmed_at: String,
}

pub fn confirm(client: &Client, _args: ConfirmArgs) -> Result<(), Failure> {
    let reply = client
        .api
        .send(Method::POST, &client.path("/confirm"), Body::Empty, None)
        .map_err(|f| {
            no_endpoint_hint(f).hint_if(
                |err| err.status == 409,
                "`lvsd commit -m MSG --confirm 5m` makes a commit that waits for confirmation",
            )
        })?;
    if client.json() {
        print_json(&reply.value());
        return Ok(());
    }
    let confirmed: Confirmed = reply.json()?;
    println!(
        "revision {} of {} confirmed at {}: it stays",
        confirmed.revision, client.cluster, confirmed.confirmed_at
    );
    Ok(())
}

/// A commit waiting for `lvsd confirm`, as the server reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct PendingConfirm {
    pub revision: i64,
    pub fallback: i64,
    pub deadline: String,
}

impl PendingConfirm {
    pub fn describe(&self) -> String {
        format!(
            "run `lvsd confirm` before {} to keep revision {}, or lvsd rolls back to revision {}",
            self.deadline, self.revision, self.fallback
        )
    }
}

#[derive(Debug, Args)]
#[command(
    long_about = "List the real servers the cluster's directors are draining: a revision\n\
removed them (with drains on, `lvsd settings set --drain on`), so they stay\n\
in the kernel at weight 0 until their active connections end or the drain's\n\
deadline passes, and are then removed. With --wait, follow them until every\n\
drain is over, printing each change.",
    after_help = concat!(
"Examples:
  lvsd drain
  lvsd drain --wait
  lvsd drain --wait --real-server 172.25.0.31:80 --timeout 10m

", exit_codes!()))]
pub struct DrainArgs {
    /// Only the drains of this real server (ADDR:PORT, as `lvsd directors` lists it).
    #[arg(short = 'r', long = "real-server", value_name = "ADDR:PORT")]
    real_server: Option<String>,
    /// Only the drains of this service (its id: tcp:VIP:PORT, udp:..., fwmark:N).
    #[arg(long, value_name = "ID")]
    service: Option<String>,
    /// Wait until the drains are over: each server's connections ended or its
    /// deadline passed, and every director removed it.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up after this long (exit status 1).
    #[arg(long, value_name = "DURATION", value_parser = super::args::parse_secs)]
    timeout: Option<u32>,
    #[command(flatten)]
    pub conn: Conn,
}

/// One drain on one director, as printed.
fn drain_lines(directors: &[DirectorInfo], args: &DrainArgs) -> Vec<String> {
    let mut lines = Vec::new();
    for d in directors {
        for drain in &d.draining {
            let wanted = args.real_server.as_ref().is_none_or(|s| *s == drain.server)
                && args.service.as_ref().is_none_or(|s| *s == drain.service);
            if wanted {
                lines.push(format!(
                    "{}: {} of {}: {} active, {} inactive connections, until {}",
                    d.name,
                    drain.server,
                    drain.service,
                    drain.active_conns,
                    drain.inactive_conns,
                    drain.deadline
                ));
            }
        }
    }
    lines
}

pub fn drain(client: &Client, args: DrainArgs) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let path = client.path("/directors");
    let mut shown: Option<Vec<String>> = None;
    loop {
        let directors: Vec<DirectorInfo> =
            client.api.get(&path).map_err(no_endpoint_hint)?.json()?;
        let lines = drain_lines(&directors, &args);
        if shown.as_ref() != Some(&lines) {
            for line in &lines {
                println!("{line}");
            }
            if lines.is_empty() {
                match shown {
                    Some(_) => println!("drains over: the servers are removed"),
                    None => println!("no real server is draining"),
                }
            }
        }
        if !args.wait || lines.is_empty() {
            return Ok(());
        }
        if let Some(limit) = args.timeout
            && started.elapsed().as_secs() >= u64::from(limit)
        {
            return Err(Failure::Local(format!(
                "still draining after {limit} s: {} server(s) left",
                lines.len()
            )));
        }
        shown = Some(lines);
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
