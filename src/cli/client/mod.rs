//! The client commands: ipvsadm's verbs against an lvsd server's REST API.
//!
//! Every change goes to the cluster's draft through the API (and so into
//! the audit log), and becomes a revision with `lvsd commit`. Commands that
//! read the draft and write it back send the ETag they read in `If-Match`,
//! so two operators never silently overwrite each other.

mod api;
pub(crate) mod args;
mod cluster;
pub(crate) mod config;
mod directors;
mod edit;
mod ha;
mod health;
mod keepalived;
pub(crate) mod render;
mod revisions;
mod settings;
mod status;
mod zero;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use api::Api;
pub(crate) use revisions::revision_or_active_spec;

/// The exit statuses of client commands, as `--help` documents them.
macro_rules! exit_codes {
    () => {
        "Exit status:
  0  done
  1  refused: the server said no (a bad value; no such cluster, service or revision;
     a missing or weak token), or a local file could not be read
  2  usage: the command line is wrong (unknown option, bad address, missing -t)
  3  the server cannot be reached, or it failed (HTTP 5xx)
  4  conflict: someone changed the draft or committed first (HTTP 412),
     or what you add exists already (HTTP 409)"
    };
}
pub(crate) use exit_codes;

/// Exit statuses.
pub mod exit {
    pub const REFUSED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNREACHABLE: u8 = 3;
    pub const CONFLICT: u8 = 4;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    // For people: tables and ipvsadm's layouts.
    Text,
    // For scripts: the server's JSON documents.
    Json,
}

/// Where the server is and how to talk to it; every client command takes these.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// URL of the lvsd server [env: LVSD_SERVER; config: server; default: http://127.0.0.1:7080]
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help_heading = "Server options"
    )]
    server: Option<String>,
    /// Bearer token sent with every request [env: LVSD_TOKEN; config: token]
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        help_heading = "Server options"
    )]
    token: Option<String>,
    /// Cluster to work on [env: LVSD_CLUSTER; config: cluster; default: "default"]
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        help_heading = "Server options"
    )]
    cluster: Option<String>,
    /// Output format: text for people, json for scripts (the server's documents)
    #[arg(long, global = true, value_enum, default_value_t = Output::Text, help_heading = "Server options")]
    output: Output,
    /// Config file [env: LVSD_CONFIG; default: ~/.config/lvsd/config.toml]
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Server options"
    )]
    config: Option<PathBuf>,
    /// CA certificates (PEM) to trust for an https:// server, besides the system's
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "LVSD_CA",
        help_heading = "Server options"
    )]
    ca: Option<PathBuf>,
    /// Client certificate (PEM) for a server that asks for one (with --client-key)
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "LVSD_CLIENT_CERT",
        help_heading = "Server options"
    )]
    client_cert: Option<PathBuf>,
    /// Key (PEM) of --client-cert
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "LVSD_CLIENT_KEY",
        help_heading = "Server options"
    )]
    client_key: Option<PathBuf>,
}

impl Conn {
    /// `--cluster` as given on the command line (`lvsd audit` filters by it only then).
    pub(crate) fn cluster_flag(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    /// Whether the command line names a server or a cluster: then `lvsd
    /// zero` goes through the server rather than to this host's kernel.
    pub(crate) fn names_a_server(&self) -> bool {
        self.server.is_some() || self.cluster.is_some()
    }
}

/// `lvsd zero --cluster C`: every director of the cluster zeroes its counters.
pub(crate) fn zero(conn: &Conn, service: Option<crate::model::ServiceKey>) -> ExitCode {
    let outcome =
        Client::connect(conn).and_then(|client| finish(&client, zero::zero(&client, service)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

/// A connected client: the API, the cluster to work on, the output format.
pub struct Client {
    pub(crate) api: Api,
    cluster: String,
    output: Output,
}

impl Client {
    pub(crate) fn connect(conn: &Conn) -> Result<Self, Failure> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let config = config::Config::load(
            conn.config
                .clone()
                .or_else(|| env("LVSD_CONFIG").map(PathBuf::from)),
        )?;
        let server = conn
            .server
            .clone()
            .or_else(|| env("LVSD_SERVER"))
            .or_else(|| config.first_server())
            .unwrap_or_else(|| "http://127.0.0.1:7080".to_string());
        let token = conn
            .token
            .clone()
            .or_else(|| env("LVSD_TOKEN"))
            .or(config.token);
        let cluster = conn
            .cluster
            .clone()
            .or_else(|| env("LVSD_CLUSTER"))
            .or(config.cluster)
            .unwrap_or_else(|| "default".to_string());
        let tls = api::TlsFiles {
            ca: conn.ca.clone(),
            client_cert: conn.client_cert.clone(),
            client_key: conn.client_key.clone(),
        };
        Ok(Client {
            api: Api::new(&server, token, &tls)?,
            cluster,
            output: conn.output,
        })
    }

    pub(crate) fn json(&self) -> bool {
        self.output == Output::Json
    }

    /// `/v1/clusters/{cluster}` followed by `rest`.
    fn path(&self, rest: &str) -> String {
        format!("/v1/clusters/{}{rest}", api::seg(&self.cluster))
    }
}

/// Prints a JSON document as the server sent it, pretty.
fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create, list, show and delete clusters.
    #[command(display_order = 10, after_help = concat!(
"Examples:
  lvsd cluster create web -d 'front end'
  lvsd cluster list
  lvsd cluster show web
  lvsd cluster delete web

", exit_codes!()))]
    Cluster {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Add, edit or delete virtual services in the draft (ipvsadm -A, -E, -D).
    #[command(display_order = 11)]
    Svc {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: edit::SvcCommand,
    },
    /// Add, edit or delete real servers in the draft (ipvsadm -a, -e, -d).
    #[command(display_order = 12)]
    Rs {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: edit::RsCommand,
    },
    /// Set the connection timeouts of the draft (ipvsadm --set).
    #[command(display_order = 13)]
    Timeout {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: edit::TimeoutCommand,
    },
    /// Start or stop connection sync daemons in the draft (ipvsadm --start-daemon, --stop-daemon).
    #[command(display_order = 14)]
    Daemon {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: edit::DaemonCommand,
    },
    /// Replace the draft with ipvsadm rules: `ipvsadm -Sn` output or a script (ipvsadm -R).
    #[command(display_order = 15)]
    Import(edit::ImportArgs),
    /// Show the draft, compare it with the latest revision, or reset it.
    #[command(display_order = 20)]
    Draft {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: revisions::DraftCommand,
    },
    /// Commit the draft as a new revision, active unless --no-activate.
    #[command(display_order = 21)]
    Commit(revisions::CommitArgs),
    /// List the cluster's revisions, newest first.
    #[command(display_order = 22)]
    Log(revisions::LogArgs),
    /// Show what changed between two revisions.
    #[command(display_order = 23)]
    Diff(revisions::DiffArgs),
    /// Make a new revision with an old revision's spec, and activate it.
    #[command(display_order = 24)]
    Rollback(revisions::RollbackArgs),
    /// Activate a revision committed with --no-activate.
    #[command(display_order = 25)]
    Activate(revisions::ActivateArgs),
    /// Show the active revision laid out like `ipvsadm -Ln`.
    #[command(display_order = 26)]
    List(revisions::ListArgs),
    /// Print a revision as `ipvsadm -R` input (the active one by default).
    #[command(display_order = 27)]
    Export(revisions::ExportArgs),
    /// Show what activating a revision would do to a director's table, without doing it.
    #[command(display_order = 28)]
    Plan(directors::PlanArgs),
    /// Confirm a commit made with --confirm: it stays.
    #[command(display_order = 29)]
    Confirm(directors::ConfirmArgs),
    /// Show the cluster's directors: applied revision, state, last apply, drift.
    #[command(display_order = 30)]
    Directors(directors::DirectorsArgs),
    /// List the real servers being drained, or wait until their drains are over.
    #[command(display_order = 30)]
    Drain(directors::DrainArgs),
    /// Where the cluster stands: active revision, uncommitted draft changes,
    /// a commit waiting for confirmation, and what each director runs.
    #[command(display_order = 31)]
    Status(status::StatusArgs),
    /// Show or change how the cluster's revisions are applied: drains, ownership, removal limit.
    #[command(display_order = 32, after_help = concat!(
"Examples:
  lvsd settings show
  lvsd settings set --drain on --drain-timeout 600
  lvsd settings set --drain-service tcp:192.168.31.100:80=off

", exit_codes!()))]
    Settings {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: settings::SettingsCommand,
    },
    /// Show the real servers' health as the directors check it.
    #[command(display_order = 33)]
    Health(health::HealthArgs),
    /// Director high availability: VRRP states across the directors, and switchovers.
    #[command(display_order = 34, subcommand)]
    Ha(ha::HaCommand),
    /// Print a shell completion script.
    #[command(
        display_order = 40,
        after_help = "Examples:
  lvsd completions bash > /etc/bash_completion.d/lvsd
  lvsd completions zsh > \"${fpath[1]}/_lvsd\"
  lvsd completions fish > ~/.config/fish/completions/lvsd.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Runs a client command and returns the process exit code.
pub fn run(command: ClientCommand) -> ExitCode {
    if let ClientCommand::Completions { shell } = command {
        let mut cli = <crate::cli::Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut cli, "lvsd", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    match dispatch(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

fn dispatch(command: ClientCommand) -> Result<(), Failure> {
    let conn = match &command {
        ClientCommand::Cluster { conn, .. }
        | ClientCommand::Svc { conn, .. }
        | ClientCommand::Rs { conn, .. }
        | ClientCommand::Timeout { conn, .. }
        | ClientCommand::Daemon { conn, .. }
        | ClientCommand::Draft { conn, .. }
        | ClientCommand::Settings { conn, .. } => conn,
        ClientCommand::Import(args) => &args.conn,
        ClientCommand::Commit(args) => &args.conn,
        ClientCommand::Log(args) => &args.conn,
        ClientCommand::Diff(args) => &args.conn,
        ClientCommand::Rollback(args) => &args.conn,
        ClientCommand::Activate(args) => &args.conn,
        ClientCommand::List(args) => &args.conn,
        ClientCommand::Export(args) => &args.conn,
        ClientCommand::Plan(args) => &args.conn,
        ClientCommand::Confirm(args) => &args.conn,
        ClientCommand::Directors(args) => &args.conn,
        ClientCommand::Drain(args) => &args.conn,
        ClientCommand::Status(args) => &args.conn,
        ClientCommand::Health(args) => &args.conn,
        ClientCommand::Ha(command) => command.conn(),
        ClientCommand::Completions { .. } => unreachable!("handled before connecting"),
    };
    let client = Client::connect(conn)?;
    let result = match command {
        ClientCommand::Cluster { command, .. } => cluster::run(&client, command),
        ClientCommand::Svc { command, .. } => edit::svc(&client, command),
        ClientCommand::Rs { command, .. } => edit::rs(&client, command),
        ClientCommand::Timeout { command, .. } => edit::timeout(&client, command),
        ClientCommand::Daemon { command, .. } => edit::daemon(&client, command),
        ClientCommand::Import(args) => edit::import(&client, args),
        ClientCommand::Draft { command, .. } => revisions::draft(&client, command),
        ClientCommand::Commit(args) => revisions::commit(&client, args),
        ClientCommand::Log(args) => revisions::log(&client, args),
        ClientCommand::Diff(args) => revisions::diff(&client, args),
        ClientCommand::Rollback(args) => revisions::rollback(&client, args),
        ClientCommand::Activate(args) => revisions::activate(&client, args),
        ClientCommand::List(args) => revisions::list(&client, args),
        ClientCommand::Export(args) => revisions::export(&client, args),
        ClientCommand::Plan(args) => directors::plan(&client, args),
        ClientCommand::Confirm(args) => directors::confirm(&client, args),
        ClientCommand::Directors(args) => directors::directors(&client, args),
        ClientCommand::Drain(args) => directors::drain(&client, args),
        ClientCommand::Status(args) => status::status(&client, args),
        ClientCommand::Settings { command, .. } => settings::run(&client, command),
        ClientCommand::Health(args) => health::health(&client, args),
        ClientCommand::Ha(command) => ha::run(&client, command),
        ClientCommand::Completions { .. } => unreachable!("handled before connecting"),
    };
    finish(&client, result)
}

/// A command's result, with hints on what to do about the usual refusals.
fn finish(client: &Client, result: Result<(), Failure>) -> Result<(), Failure> {
    result.map_err(|failure| {
        failure
            .cluster_hint(&client.cluster)
            .hint_if(
                |err| err.status == 401,
                "this server wants a token: pass --token TOKEN, set LVSD_TOKEN, or put token = \"...\" in ~/.config/lvsd/config.toml",
            )
            .hint_if(|err| err.status == 403, "your token's role may not do this: ask an admin for one that may")
    })
}

/// Why a client command failed, with what to do about it.
#[derive(Debug)]
pub enum Failure {
    /// The command line is wrong (exit 2).
    Usage(String),
    /// Something on this host failed, such as reading a file (exit 1).
    Local(String),
    /// The server cannot be reached or failed (exit 3).
    Unreachable(String),
    /// The server refused the request (exit 1, or 4 for 409/412).
    Server(Box<ServerError>),
}

/// A refusal as the server sent it: `{"error": {"code", "message", "field"}}`.
#[derive(Debug)]
pub struct ServerError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// The command-line option that gave the field's value, when known.
    pub option: Option<String>,
    pub hints: Vec<String>,
}

impl Failure {
    fn from_reply(base: &str, status: u16, text: &str) -> Self {
        let body: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let error = &body["error"];
        match error["message"].as_str() {
            Some(_) if status >= 500 => Failure::Unreachable(format!(
                "the lvsd server at {base} failed (HTTP {status}): {}",
                error["message"].as_str().unwrap_or_default()
            )),
            Some(message) => Failure::Server(Box::new(ServerError {
                status,
                code: error["code"].as_str().unwrap_or_default().to_string(),
                message: message.to_string(),
                field: error["field"].as_str().map(str::to_string),
                option: None,
                hints: Vec::new(),
            })),
            None => Failure::Unreachable(format!(
                "{base} answered HTTP {status} without an lvsd error ({}): is --server an lvsd server?",
                text.trim().chars().take(200).collect::<String>()
            )),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => exit::USAGE,
            Failure::Local(_) => exit::REFUSED,
            Failure::Unreachable(_) => exit::UNREACHABLE,
            Failure::Server(err) if matches!(err.status, 409 | 412) => exit::CONFLICT,
            Failure::Server(_) => exit::REFUSED,
        }
    }

    /// For a 409 on an add: drops the server's REST advice and says what to type.
    pub fn exists_hint(mut self, hint: impl Into<String>) -> Self {
        if let Failure::Server(err) = &mut self
            && err.status == 409
            && err.code == "already_exists"
        {
            err.message = err
                .message
                .trim_end_matches(": update it with PUT or PATCH")
                .to_string();
            err.hints.push(hint.into());
        }
        self
    }

    /// Adds a hint to a server refusal that `when` matches.
    pub fn hint_if(mut self, when: impl Fn(&ServerError) -> bool, hint: impl Into<String>) -> Self {
        if let Failure::Server(err) = &mut self
            && when(err)
        {
            err.hints.push(hint.into());
        }
        self
    }

    /// Names the option behind the field at fault, from `owners`
    /// (`("weight", "-w")`: the field or any field below it).
    pub fn options(mut self, owners: &[(&str, &str)]) -> Self {
        if let Failure::Server(err) = &mut self
            && let Some(field) = &err.field
        {
            let leaf = field
                .rsplit_once('.')
                .map_or(field.as_str(), |(_, leaf)| leaf);
            let owner = owners
                .iter()
                .find(|(prefix, _)| field == prefix || field.starts_with(&format!("{prefix}.")))
                .or_else(|| owners.iter().find(|(prefix, _)| leaf == *prefix));
            err.option = owner.map(|(_, option)| option.to_string());
        }
        self
    }

    /// On a 412 for a draft this command read itself: say to run it again.
    pub fn draft_race(self, user_etag: bool) -> Self {
        match self {
            Failure::Server(mut err) if err.status == 412 => {
                if user_etag {
                    err.hints.push("see what changed with `lvsd draft show`, then run the command again with the new ETag".into());
                } else {
                    err.message = "someone changed the draft since this command read it; run the command again".into();
                }
                Failure::Server(err)
            }
            other => other,
        }
    }

    /// Hints for a missing cluster, in every command.
    fn cluster_hint(self, cluster: &str) -> Self {
        let missing = format!("no cluster named {cluster}");
        self.hint_if(
            |err| err.status == 404 && err.message == missing,
            format!("create it with `lvsd cluster create {cluster}`, or pick another with --cluster NAME (`lvsd cluster list`)"),
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(message) | Failure::Local(message) | Failure::Unreachable(message) => {
                write!(f, "lvsd: error: {message}")
            }
            Failure::Server(err) => {
                f.write_str("lvsd: error: ")?;
                match (&err.field, &err.option) {
                    (Some(field), Some(option)) => write!(f, "{option} ({field}): ")?,
                    (Some(field), None) => write!(f, "{field}: ")?,
                    _ => {}
                }
                f.write_str(&err.message)?;
                for hint in &err.hints {
                    write!(f, "\n  hint: {hint}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status: u16, field: Option<&str>) -> Failure {
        let field = field.map_or(String::new(), |f| format!(r#","field":"{f}""#));
        Failure::from_reply(
            "http://x",
            status,
            &format!(r#"{{"error":{{"code":"c","message":"m"{field}}}}}"#),
        )
    }

    #[test]
    fn exit_codes_follow_the_status() {
        assert_eq!(refusal(400, None).exit_code(), exit::REFUSED);
        assert_eq!(refusal(404, None).exit_code(), exit::REFUSED);
        assert_eq!(refusal(409, None).exit_code(), exit::CONFLICT);
        assert_eq!(refusal(412, None).exit_code(), exit::CONFLICT);
        assert_eq!(refusal(500, None).exit_code(), exit::UNREACHABLE);
        assert_eq!(
            Failure::from_reply("http://x", 404, "<html>").exit_code(),
            exit::UNREACHABLE
        );
        assert_eq!(Failure::Usage(String::new()).exit_code(), exit::USAGE);
    }

    #[test]
    fn a_race_on_a_draft_this_command_read_says_run_it_again() {
        let failure = refusal(412, None).draft_race(false);
        assert_eq!(
            failure.to_string(),
            "lvsd: error: someone changed the draft since this command read it; run the command again"
        );
        let failure = refusal(412, None).draft_race(true);
        assert!(
            failure
                .to_string()
                .starts_with("lvsd: error: m\n  hint: see what changed")
        );
    }

    #[test]
    fn fields_are_named_by_their_options() {
        let owners = [
            ("tunnel.port", "--tun-port"),
            ("port", "-r"),
            ("weight", "-w"),
        ];
        assert_eq!(
            refusal(400, Some("tunnel.port"))
                .options(&owners)
                .to_string(),
            "lvsd: error: --tun-port (tunnel.port): m"
        );
        assert_eq!(
            refusal(400, Some("port")).options(&owners).to_string(),
            "lvsd: error: -r (port): m"
        );
        assert_eq!(
            refusal(400, Some("services[0].weight"))
                .options(&owners)
                .to_string(),
            "lvsd: error: -w (services[0].weight): m"
        );
        assert_eq!(
            refusal(400, Some("other")).options(&owners).to_string(),
            "lvsd: error: other: m"
        );
    }
}
