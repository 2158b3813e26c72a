//! The `lvsd` command line: the server, the local kernel commands, and the
//! client commands that talk to a server.

mod local;

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
    #[command(flatten)]
    Local(local::LocalCommand),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Local(cmd) => local::run(cmd),
    }
}
