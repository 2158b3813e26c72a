//! The `lvsd` command line: the server, the local kernel commands, and the
//! client commands that talk to a server.

mod audit;
mod hardening;
mod local;
mod serve;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// lvsd: a control plane for Linux Virtual Server (IPVS).
#[derive(Debug, Parser)]
#[command(name = "lvsd", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the control-plane server: REST and gRPC APIs on an SQLite store.
    Serve(serve::ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(serve::MigrateArgs),
    /// Print the OpenAPI document of the REST API.
    #[command(hide = true)]
    Openapi,
    /// Access tokens, on the database file: create, list, revoke.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The audit log: verify its hash chain.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    #[command(flatten)]
    Local(local::LocalCommand),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Migrate(args) => serve::migrate(args),
        Command::Openapi => {
            print!("{}", crate::api::rest::openapi_json());
            ExitCode::SUCCESS
        }
        Command::Token(cmd) => token::run(cmd),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Local(cmd) => local::run(cmd),
    }
}
