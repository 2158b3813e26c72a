//! Commands on this host's kernel table: apply, show, zero, flush.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Clear the whole IPVS table of this host (`ipvsadm -C`).
    Flush,
}

pub fn run(cmd: LocalCommand) -> ExitCode {
    match cmd {
        LocalCommand::Flush => {
            eprintln!("lvsd flush: not built yet");
            ExitCode::FAILURE
        }
    }
}
