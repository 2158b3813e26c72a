//! The `lvsd` command line: the server, the local kernel commands, and the
//! client commands that talk to a server.

mod local;
mod serve;

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
        Command::Local(cmd) => local::run(cmd),
    }
}
