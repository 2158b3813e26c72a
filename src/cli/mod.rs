//! The `lvsd` command line: the server, the local kernel commands, and the
//! client commands that talk to a server.

mod agent;
mod audit;
mod client;
mod hardening;
mod host;
mod local;
mod serve;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// lvsd: a control plane for Linux Virtual Server (IPVS).
#[derive(Debug, Parser)]
#[command(
    name = "lvsd",
    version,
    about,
    long_about = "lvsd: a control plane for Linux Virtual Server (IPVS).\n\n\
`lvsd serve` keeps every cluster definition as numbered revisions behind a\n\
REST and gRPC API. The client commands speak ipvsadm's language against\n\
that API: `lvsd svc add`, `lvsd rs add`, ... edit a cluster's draft, and\n\
`lvsd commit` makes it a revision that the cluster's directors run.",
    after_help = concat!(
"Quick start (the classic LVS-NAT example):
  lvsd cluster create web && export LVSD_CLUSTER=web
  lvsd svc add -t 192.168.31.100:80 -s wrr
  lvsd rs add -t 192.168.31.100:80 -r 172.25.0.31 -m -w 1
  lvsd rs add -t 192.168.31.100:80 -r 172.25.0.32 -m -w 2
  lvsd draft diff
  lvsd commit -m 'classic LVS-NAT'
  lvsd list -n

Client commands find the server in --server, LVSD_SERVER or the `server` key
of ~/.config/lvsd/config.toml (default http://127.0.0.1:7080); likewise
--token / LVSD_TOKEN / `token` and --cluster / LVSD_CLUSTER / `cluster`.

", client::exit_codes!())
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the control-plane server: REST and gRPC APIs on an SQLite store.
    Serve(serve::ServeArgs),
    /// Run a director's agent: apply the revision a server says, report back.
    Agent(agent::AgentArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(serve::MigrateArgs),
    /// Print the OpenAPI document of the REST API.
    #[command(hide = true)]
    Openapi,
    /// Access tokens, on the database file: create, list, revoke.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The audit log: list entries through the API, or verify its hash chain in the database.
    Audit(audit::AuditArgs),
    /// Host settings of directors and real servers (VIPs, ARP, tunnels, fullnat's source NAT).
    #[command(subcommand)]
    Host(host::HostCommand),
    #[command(flatten)]
    Local(local::LocalCommand),
    #[command(flatten)]
    Client(client::ClientCommand),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Agent(args) => agent::agent(args),
        Command::Migrate(args) => serve::migrate(args),
        Command::Openapi => {
            print!("{}", crate::api::rest::openapi_json());
            ExitCode::SUCCESS
        }
        Command::Token(cmd) => token::run(cmd),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Host(cmd) => host::run(cmd),
        Command::Local(cmd) => local::run(cmd),
        Command::Client(cmd) => client::run(cmd),
    }
}
