//! The draft as a whole, and revisions: `draft`, `commit`, `log`, `diff`,
//! `rollback`, `activate`, `list`, `export`.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::api::{Body, CommitOutcome, Revision, RevisionPage, spec_of};
use super::args::IfMatch;
use super::{Client, Conn, Failure, exit_codes, print_json, render};
use crate::ipvsadm::{ListView, to_restore};
use crate::model::Spec;
use crate::model::diff::SpecDiff;

fn no_revision_hint(failure: Failure) -> Failure {
    failure.hint_if(
        |err| err.status == 404 && err.message.contains("has no revision"),
        "`lvsd log` lists the revisions",
    )
}

/// A revision as the server sent it, read, and its spec.
fn revision_full(client: &Client, number: i64) -> Result<(Value, Revision, Spec), Failure> {
    let reply = client
        .api
        .get(&client.path(&format!("/revisions/{number}")))
        .map_err(no_revision_hint)?;
    let revision: Revision = reply.json()?;
    let spec = spec_of(revision.spec.as_ref().unwrap_or(&Value::Null))?;
    Ok((reply.value(), revision, spec))
}

fn revision_spec(client: &Client, number: i64) -> Result<(Revision, Spec), Failure> {
    let (_, revision, spec) = revision_full(client, number)?;
    Ok((revision, spec))
}

/// The latest revision's number and spec (an empty spec before the first commit).
fn latest_spec(client: &Client, latest: Option<i64>) -> Result<Spec, Failure> {
    match latest {
        Some(number) => Ok(revision_spec(client, number)?.1),
        None => Ok(Spec::default()),
    }
}

// ---------------------------------------------------------------- draft

#[derive(Debug, Subcommand)]
pub enum DraftCommand {
    /// Show the draft laid out like `ipvsadm -Ln`, with its timeouts and sync daemons.
    #[command(after_help = concat!(
"Examples:
  lvsd draft show
  lvsd draft show --rules > web.rules      # as ipvsadm -R input
  lvsd draft show --output json | jq -r .etag

", exit_codes!()))]
    Show(DraftShowArgs),
    /// Show what committing the draft would change, as ipvsadm rules (- gone, + new).
    #[command(after_help = concat!(
"Examples:
  lvsd draft diff
  lvsd draft diff --against 3

", exit_codes!()))]
    Diff(DraftDiffArgs),
    /// Throw away the draft's changes: make it the latest revision's spec again.
    #[command(after_help = concat!(
"Examples:
  lvsd draft reset
  lvsd draft reset --to 3

", exit_codes!()))]
    Reset(DraftResetArgs),
}

#[derive(Debug, Args)]
pub struct DraftShowArgs {
    /// Print the draft as ipvsadm -R input instead
    #[arg(long)]
    rules: bool,
}

#[derive(Debug, Args)]
pub struct DraftDiffArgs {
    /// Compare with this revision instead of the latest
    #[arg(long, value_name = "N")]
    against: Option<i64>,
}

#[derive(Debug, Args)]
pub struct DraftResetArgs {
    /// Reset to this revision's spec instead of the latest
    #[arg(long, value_name = "N")]
    to: Option<i64>,
    #[command(flatten)]
    if_match: IfMatch,
}

pub fn draft(client: &Client, command: DraftCommand) -> Result<(), Failure> {
    let cluster = &client.cluster;
    match command {
        DraftCommand::Show(args) => {
            let reply = client.api.get(&client.path("/draft"))?;
            let draft: super::api::Draft = reply.json()?;
            if client.json() {
                print_json(&reply.value());
                return Ok(());
            }
            let spec = spec_of(&draft.spec)?;
            if args.rules {
                print!("{}", to_restore(&spec));
                return Ok(());
            }
            let base = match draft.base_revision {
                Some(n) if draft.dirty => format!("changed since revision {n}"),
                Some(n) => format!("same as revision {n}"),
                None => "nothing committed yet".to_string(),
            };
            let header = format!(
                "Draft of {cluster}, version {} ({base}), ETag {}, last changed by {} at {}",
                draft.version, draft.etag, draft.updated_by, draft.updated_at
            );
            print!("{}", whole_table(&spec, &header));
            Ok(())
        }
        DraftCommand::Diff(args) => {
            let draft = client.api.draft(cluster)?;
            let against = args.against.or(draft.base_revision);
            let from = latest_spec(client, against)?;
            let to = spec_of(&draft.spec)?;
            print_diff(
                client,
                &from,
                &to,
                against.map_or(json!(null), Value::from),
                json!("draft"),
                || {
                    let from = against
                        .map_or("nothing committed".to_string(), |n| format!("revision {n}"));
                    format!(
                        "--- {from}\n+++ draft of {cluster} (version {})",
                        draft.version
                    )
                },
            );
            Ok(())
        }
        DraftCommand::Reset(args) => {
            let info = client.api.cluster(cluster)?;
            let to = args.to.or(info.latest_revision);
            let spec = match to {
                Some(number) => revision_spec(client, number)?
                    .0
                    .spec
                    .unwrap_or_else(|| json!({})),
                None => json!({}),
            };
            let reply = client
                .api
                .send(
                    Method::PUT,
                    &client.path("/draft"),
                    Body::Json(spec),
                    Some(args.if_match.or(&info.draft_etag)),
                )
                .map_err(|f| f.draft_race(args.if_match.given().is_some()))?;
            if client.json() {
                print_json(&reply.value());
            } else {
                match to {
                    Some(n) => println!("the draft of {cluster} is revision {n}'s spec again"),
                    None => {
                        println!("the draft of {cluster} is empty again (nothing committed yet)")
                    }
                }
            }
            Ok(())
        }
    }
}

/// Services, then timeouts and sync daemons when the spec has any.
fn whole_table(spec: &Spec, header: &str) -> String {
    let mut text = render::table(spec, ListView::Services, header);
    if !spec.timeouts.is_empty() {
        text.push_str(&render::timeouts_line(&spec.timeouts));
        text.push('\n');
    }
    text.push_str(&render::table(spec, ListView::Daemon, ""));
    text
}

fn print_diff(
    client: &Client,
    from: &Spec,
    to: &Spec,
    from_id: Value,
    to_id: Value,
    header: impl FnOnce() -> String,
) {
    let diff = SpecDiff::between(from, to);
    if client.json() {
        print_json(&json!({"from": from_id, "to": to_id, "diff": diff}));
        return;
    }
    let text = render::diff_text(from, to);
    println!("{}", header());
    if text.is_empty() {
        println!("(no change)");
    } else {
        print!("{text}");
        println!("# {}", render::summary(&diff));
    }
}

// ---------------------------------------------------------------- commit

#[derive(Debug, Args)]
#[command(
    long_about = "Commit the draft as a new, numbered revision and make it the active one:\n\
the revision every director of the cluster should run.\n\n\
Committing a draft that equals the latest revision makes no new revision.\n\
With --expected-base N the commit is refused (exit status 4) when someone\n\
committed after revision N, and a retried commit that already succeeded\n\
returns the revision it made. With --if-match ETAG it is refused when the\n\
draft is no longer the version you reviewed.\n\n\
With --confirm DURATION (a commit confirmed), the new revision stays only\n\
if `lvsd confirm` arrives within DURATION; otherwise lvsd rolls the\n\
cluster back to the revision active before it.",
    after_help = concat!(
"Examples:
  lvsd commit -m 'classic LVS-NAT'
  lvsd commit -m 'more weight to rs1' --expected-base 3
  lvsd commit -m 'stage it' --no-activate && lvsd activate 4
  lvsd commit -m 'new weights' --confirm 5m && lvsd list -n && lvsd confirm

", exit_codes!()))]
pub struct CommitArgs {
    /// Why: it goes into the history
    #[arg(short = 'm', long = "message", value_name = "MSG")]
    message: String,
    /// Commit only if the latest revision is still N (0: no revision yet)
    #[arg(long = "expected-base", value_name = "N")]
    expected_base: Option<i64>,
    /// Record the revision without making it active
    #[arg(long = "no-activate")]
    no_activate: bool,
    /// Recorded as the author instead of the caller
    #[arg(long, value_name = "NAME")]
    author: Option<String>,
    /// Roll back unless `lvsd confirm` follows within DURATION (90s, 5m, 1h)
    #[arg(long, value_name = "DURATION", conflicts_with = "no_activate")]
    confirm: Option<String>,
    #[command(flatten)]
    if_match: IfMatch,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn commit(client: &Client, args: CommitArgs) -> Result<(), Failure> {
    let mut body = json!({"message": args.message, "activate": !args.no_activate});
    if let Some(base) = args.expected_base {
        body["expected_base"] = base.into();
    }
    if let Some(author) = &args.author {
        body["author"] = author.as_str().into();
    }
    if let Some(within) = &args.confirm {
        body["confirm_within"] = within.as_str().into();
    }
    let reply = client
        .api
        .send(
            Method::POST,
            &client.path("/revisions"),
            Body::Json(body),
            args.if_match.given(),
        )
        .map_err(|f| {
            f.options(&[
                ("confirm_within", "--confirm"),
                ("expected_base", "--expected-base"),
                ("message", "-m"),
            ])
            .hint_if(
                |err| err.status == 412 && err.message.contains("expected base"),
                "see what they committed with `lvsd log` and `lvsd diff`",
            )
            .draft_race(true)
        })?;
    if client.json() {
        print_json(&reply.value());
        return Ok(());
    }
    let outcome: CommitOutcome = reply.json()?;
    let revision = &outcome.revision;
    let state = if revision.active {
        "active"
    } else {
        "not active"
    };
    if !outcome.created {
        println!(
            "nothing to commit: the draft is revision {} ({state})",
            revision.number
        );
        return Ok(());
    }
    let before = latest_spec(client, revision.parent)?;
    let after = spec_of(revision.spec.as_ref().unwrap_or(&Value::Null))?;
    println!(
        "committed revision {} of {} ({state}): {}",
        revision.number,
        client.cluster,
        render::summary(&SpecDiff::between(&before, &after))
    );
    if let Some(pending) = &outcome.confirm {
        println!("  {}", pending.describe());
    }
    Ok(())
}

// ---------------------------------------------------------------- log, diff

#[derive(Debug, Args)]
#[command(after_help = concat!(
"Examples:
  lvsd log
  lvsd log -n 5
  lvsd log --before 40        # the next page

", exit_codes!()))]
pub struct LogArgs {
    /// How many revisions, 1 to 500
    #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
    limit: u32,
    /// Start below this revision number
    #[arg(long, value_name = "N")]
    before: Option<i64>,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn log(client: &Client, args: LogArgs) -> Result<(), Failure> {
    let mut path = client.path(&format!("/revisions?limit={}", args.limit));
    if let Some(before) = args.before {
        path.push_str(&format!("&before={before}"));
    }
    let reply = client
        .api
        .get(&path)
        .map_err(|f| f.options(&[("limit", "-n"), ("before", "--before")]))?;
    if client.json() {
        print_json(&reply.value());
        return Ok(());
    }
    let page: RevisionPage = reply.json()?;
    if page.revisions.is_empty() {
        println!(
            "{} has no revisions yet: `lvsd commit -m MESSAGE` makes the first",
            client.cluster
        );
        return Ok(());
    }
    let mut rows = vec![
        ["REV", "", "DATE", "AUTHOR", "SVC", "RS", "MESSAGE"]
            .map(String::from)
            .to_vec(),
    ];
    for r in &page.revisions {
        let mut message = r.message.clone();
        if let Some(of) = r.rollback_of.filter(|_| !message.contains("rollback")) {
            message = format!("[rollback to {of}] {message}");
        }
        rows.push(vec![
            r.number.to_string(),
            if r.active {
                "active".into()
            } else {
                String::new()
            },
            r.created_at.clone(),
            r.author.clone(),
            r.services.to_string(),
            r.servers.to_string(),
            message.lines().next().unwrap_or_default().to_string(),
        ]);
    }
    print!("{}", render::columns(&rows));
    if let Some(next) = page.next_before {
        println!("(more: lvsd log --before {next})");
    }
    Ok(())
}

#[derive(Debug, Args)]
#[command(
    long_about = "Show what changed between two revisions, as the ipvsadm rules that go\n\
(-) and come (+). With one revision, what it changed from its parent.",
    after_help = concat!(
"Examples:
  lvsd diff 1 2
  lvsd diff 4               # what revision 4 changed
  lvsd diff 1 2 --output json

", exit_codes!()))]
pub struct DiffArgs {
    /// The older revision (or the only one)
    #[arg(value_name = "A")]
    a: i64,
    /// The newer revision
    #[arg(value_name = "B")]
    b: Option<i64>,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn diff(client: &Client, args: DiffArgs) -> Result<(), Failure> {
    let (from, to) = match args.b {
        Some(b) => {
            let (from, from_spec) = revision_spec(client, args.a)?;
            (Some((from.number, from_spec)), revision_spec(client, b)?)
        }
        None => {
            let to = revision_spec(client, args.a)?;
            let from = match to.0.parent {
                Some(parent) => Some((parent, revision_spec(client, parent)?.1)),
                None => None,
            };
            (from, to)
        }
    };
    let (to, to_spec) = to;
    let from_id = from.as_ref().map_or(json!(null), |(n, _)| json!(n));
    let from_name = from
        .as_ref()
        .map_or("nothing (the first revision)".to_string(), |(n, _)| {
            format!("revision {n}")
        });
    let from_spec = from.map(|(_, spec)| spec).unwrap_or_default();
    print_diff(
        client,
        &from_spec,
        &to_spec,
        from_id,
        json!(to.number),
        || {
            format!(
                "--- {from_name}\n+++ revision {}: {}",
                to.number,
                to.message.lines().next().unwrap_or_default()
            )
        },
    );
    Ok(())
}

// ---------------------------------------------------------------- rollback, activate

#[derive(Debug, Args)]
#[command(
    long_about = "Make a new revision with revision N's spec and activate it. History is\n\
never rewritten: the rollback is itself a revision, and the draft becomes\n\
that spec too.",
    after_help = concat!(
"Examples:
  lvsd rollback 1
  lvsd rollback 1 -m 'weights broke rs3' --expected-base 4
  lvsd rollback 1 --confirm 2m

", exit_codes!()))]
pub struct RollbackArgs {
    /// The revision whose spec to restore
    #[arg(value_name = "N")]
    to: i64,
    /// Why (default: \"rollback to N\")
    #[arg(short = 'm', long = "message", value_name = "MSG")]
    message: Option<String>,
    /// Roll back only if the latest revision is still N
    #[arg(long = "expected-base", value_name = "N")]
    expected_base: Option<i64>,
    /// Roll back again unless `lvsd confirm` follows within DURATION
    #[arg(long, value_name = "DURATION")]
    confirm: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn rollback(client: &Client, args: RollbackArgs) -> Result<(), Failure> {
    let mut body = json!({"to": args.to});
    if let Some(message) = &args.message {
        body["message"] = message.as_str().into();
    }
    if let Some(base) = args.expected_base {
        body["expected_base"] = base.into();
    }
    if let Some(within) = &args.confirm {
        body["confirm_within"] = within.as_str().into();
    }
    let reply = client
        .api
        .send(
            Method::POST,
            &client.path("/rollback"),
            Body::Json(body),
            None,
        )
        .map_err(|f| {
            no_revision_hint(f.options(&[
                ("to", "N"),
                ("expected_base", "--expected-base"),
                ("confirm_within", "--confirm"),
            ]))
        })?;
    if client.json() {
        print_json(&reply.value());
        return Ok(());
    }
    let outcome: CommitOutcome = reply.json()?;
    let number = outcome.revision.number;
    if outcome.created {
        println!(
            "revision {number} restores revision {}'s spec and is active",
            args.to
        );
    } else {
        println!(
            "nothing to roll back: the latest revision {number} already has revision {}'s spec (active)",
            args.to
        );
    }
    if let Some(pending) = &outcome.confirm {
        println!("  {}", pending.describe());
    }
    Ok(())
}

#[derive(Debug, Args)]
#[command(after_help = concat!(
"Examples:
  lvsd commit -m 'stage it' --no-activate
  lvsd activate 4

", exit_codes!()))]
pub struct ActivateArgs {
    /// The revision to activate (older ones are reached with rollback)
    #[arg(value_name = "N")]
    number: i64,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn activate(client: &Client, args: ActivateArgs) -> Result<(), Failure> {
    let path = client.path(&format!("/revisions/{}/activate", args.number));
    let reply = client
        .api
        .send(Method::POST, &path, Body::Empty, None)
        .map_err(|f| {
            no_revision_hint(f).hint_if(
                |err| err.status == 409,
                format!(
                    "`lvsd rollback {}` makes it active again as a new revision",
                    args.number
                ),
            )
        })?;
    if client.json() {
        print_json(&reply.value());
    } else {
        println!("revision {} of {} is active", args.number, client.cluster);
    }
    Ok(())
}

// ---------------------------------------------------------------- list, export

#[derive(Debug, Args)]
#[command(
    long_about = "Show the cluster's active revision laid out like `ipvsadm -Ln`: what\n\
every director of the cluster should run, then one line per director\n\
saying what it last applied (`lvsd directors` tells more). Addresses are\n\
always numeric (-n is accepted for habit's sake). Connection counters\n\
(--stats, --rate, -c) come from the directors' kernels: `lvsd show` on a\n\
director has them.",
    after_help = concat!(
"Examples:
  lvsd list -n
  lvsd list --thresholds
  lvsd list --revision 3 --tun-info
  lvsd list --timeout

", exit_codes!()))]
pub struct ListArgs {
    /// Numeric output (always)
    #[arg(short = 'n', long = "numeric")]
    numeric: bool,
    /// Show the real servers' connection thresholds
    #[arg(long, group = "view")]
    thresholds: bool,
    /// Show the tunnel type, port and checksum of tunnel real servers
    #[arg(long = "tun-info", group = "view")]
    tun_info: bool,
    /// Show the connection timeouts only
    #[arg(long, group = "view")]
    timeout: bool,
    /// Show the sync daemons only
    #[arg(long, group = "view")]
    daemon: bool,
    /// Show each director's connection, packet and byte counters (as it
    /// last reported them)
    #[arg(long, group = "view")]
    stats: bool,
    /// Show each director's rates: connections, packets and bytes per second
    #[arg(long, group = "view")]
    rate: bool,
    /// Show each director's connection entries (`ipvsadm -Lcn`)
    #[arg(short = 'c', long = "connection", group = "view")]
    connection: bool,
    /// With --stats or --rate: numbers in full instead of K, M, G
    #[arg(short = 'x', long)]
    exact: bool,
    /// With --stats, --rate or -c: only this director
    #[arg(long, value_name = "NAME")]
    director: Option<String>,
    /// List this revision instead of the active one
    #[arg(long, value_name = "N")]
    revision: Option<i64>,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn list(client: &Client, args: ListArgs) -> Result<(), Failure> {
    let _ = args.numeric;
    let cluster = &client.cluster;
    if args.connection {
        return list_connections(client, args.director.as_deref());
    }
    let info = client.api.cluster(cluster)?;
    let number = match args.revision {
        Some(n) => n,
        None => match info.active_revision {
            Some(n) => n,
            None => {
                if client.json() {
                    print_json(&Value::Null);
                } else {
                    eprintln!(
                        "{cluster} has no active revision yet: `lvsd draft show` shows the draft, `lvsd commit -m MESSAGE` commits it"
                    );
                }
                return Ok(());
            }
        },
    };
    let (raw, revision, spec) = revision_full(client, number)?;
    if args.stats || args.rate {
        let view = if args.stats {
            ListView::Stats
        } else {
            ListView::Rate
        };
        return list_counters(client, &spec, view, &args);
    }
    if client.json() {
        print_json(&raw);
        return Ok(());
    }
    let view = match (args.thresholds, args.tun_info, args.timeout, args.daemon) {
        (true, ..) => ListView::Thresholds,
        (_, true, ..) => ListView::TunInfo,
        (_, _, true, _) => ListView::Timeout,
        (.., true) => ListView::Daemon,
        _ => ListView::Services,
    };
    let state = if revision.active {
        "active"
    } else {
        "not active"
    };
    let header = format!(
        "Cluster {cluster}, revision {} ({state}) by {} at {}",
        revision.number, revision.author, revision.created_at
    );
    print!("{}", render::table(&spec, view, &header));
    if revision.active && matches!(view, ListView::Services) {
        print!("{}", super::directors::list_footer(client));
    }
    if let Some(pending) = info
        .pending_confirm
        .filter(|p| p.revision == revision.number)
    {
        eprintln!("note: {}", pending.describe());
    }
    Ok(())
}

/// `lvsd list -c`: each director's connection entries for the cluster.
fn list_connections(client: &Client, only: Option<&str>) -> Result<(), Failure> {
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    let names: Vec<String> = match only {
        Some(name) => vec![name.to_string()],
        None => client
            .api
            .get_json::<Vec<Named>>(&client.path("/directors"))?
            .into_iter()
            .map(|d| d.name)
            .collect(),
    };
    let mut found = Vec::new();
    let mut remote = Vec::new();
    for name in names {
        let path = client.path(&format!(
            "/directors/{}/connections",
            super::api::seg(&name)
        ));
        match client
            .api
            .get_json::<Vec<crate::ipvs::conns::Connection>>(&path)
        {
            Ok(connections) => found.push((name, connections)),
            // A remote director: say so, and list the others.
            Err(Failure::Server(err)) if err.status == 409 && only.is_none() => {
                remote.push((name, err.message))
            }
            Err(err) => return Err(err),
        }
    }
    if client.json() {
        let value: Vec<Value> =
            found.iter().map(|(director, connections)| json!({ "director": director, "connections": connections })).collect();
        print_json(&Value::Array(value));
    } else {
        for (i, (director, connections)) in found.iter().enumerate() {
            if i > 0 {
                println!();
            }
            println!("Director {director}:");
            print!("{}", crate::ipvs::conns::render(connections));
        }
    }
    for (director, why) in remote {
        eprintln!("note: director {director}: {why}");
    }
    Ok(())
}

/// `lvsd list --stats` / `--rate`: the spec laid out with each director's
/// latest counters.
fn list_counters(
    client: &Client,
    spec: &Spec,
    view: ListView,
    args: &ListArgs,
) -> Result<(), Failure> {
    let cluster = &client.cluster;
    let mut reported: Vec<crate::core::DirectorCounters> =
        client.api.get_json(&client.path("/counters"))?;
    if let Some(name) = &args.director {
        reported.retain(|d| &d.director == name);
        if reported.is_empty() {
            return Err(Failure::Local(format!(
                "director {name} has reported no counters for {cluster}\n  hint: `lvsd directors` lists the cluster's directors"
            )));
        }
    }
    if client.json() {
        print_json(&serde_json::to_value(&reported).expect("counters serialize"));
        return Ok(());
    }
    if reported.is_empty() {
        return Err(Failure::Local(format!(
            "no director has reported counters for {cluster} yet\n  hint: counters come from `lvsd serve --apply-local` or `lvsd agent` on a director; `lvsd directors` shows them"
        )));
    }
    for (i, director) in reported.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let header = format!(
            "Director {} of {cluster}, counters at {}",
            director.director, director.counters.at
        );
        print!(
            "{}",
            render::live_table(spec, &director.counters, view, args.exact, &header)
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
#[command(
    long_about = "Print a revision as `ipvsadm -R` input: its services and real servers as\n\
`ipvsadm -Sn` writes them, then its timeouts (--set) and sync daemons\n\
(--start-daemon). Without N, the active revision. With --spec, its spec\n\
as JSON instead: what `lvsd apply` and the API's commits take.",
    after_help = concat!(
"Examples:
  lvsd export > web.rules
  lvsd export 3 | ssh director1 ipvsadm -R
  lvsd export 3 --spec > web-3.json
  lvsd export --format keepalived 3 > keepalived.conf

", exit_codes!()))]
pub struct ExportArgs {
    /// The revision [default: the active one]
    #[arg(value_name = "N")]
    number: Option<i64>,
    /// Print the revision's spec as JSON instead of ipvsadm rules
    #[arg(long)]
    spec: bool,
    /// ipvsadm rules, or keepalived.conf virtual_server blocks with their checkers
    #[arg(long, value_enum, default_value_t, conflicts_with = "spec")]
    format: super::keepalived::Format,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn export(client: &Client, args: ExportArgs) -> Result<(), Failure> {
    let number = match args.number {
        Some(n) => n,
        None => client
            .api
            .cluster(&client.cluster)?
            .active_revision
            .ok_or_else(|| {
                Failure::Local(format!(
                    "{} has no active revision: give a revision number (`lvsd log` lists them)",
                    client.cluster
                ))
            })?,
    };
    if args.format == super::keepalived::Format::Keepalived {
        return super::keepalived::export(client, number);
    }
    if args.spec {
        let (raw, _, _) = revision_full(client, number)?;
        print_json(&raw["spec"]);
        return Ok(());
    }
    let reply = client
        .api
        .get(&client.path(&format!("/revisions/{number}/export")))
        .map_err(no_revision_hint)?;
    if client.json() {
        print_json(&json!({"revision": number, "rules": reply.text}));
    } else {
        print!("{}", reply.text);
    }
    Ok(())
}

/// The spec of revision `number`, or of the cluster's active revision, with
/// its number (for `lvsd host apply --server`).
pub(crate) fn revision_or_active_spec(
    client: &Client,
    number: Option<i64>,
) -> Result<(i64, Spec), Failure> {
    let number = match number {
        Some(number) => number,
        None => client
            .api
            .cluster(&client.cluster)?
            .active_revision
            .ok_or_else(|| {
                Failure::Local(format!(
                    "cluster {} has no active revision yet: commit one first, or give --revision N",
                    client.cluster
                ))
            })?,
    };
    Ok((number, revision_spec(client, number)?.1))
}
