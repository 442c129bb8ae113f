//! One module per command.

mod export;
mod inspect;

use crate::cli::{Cli, Command};
use std::process::ExitCode;

/// Dispatches a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Export(cmd) => export::run(cmd),
        Command::Inspect(args) => inspect::run(args),
    }
}
