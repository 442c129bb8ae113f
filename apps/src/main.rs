//! `unival`: export, inspect and run UnIVAL models from the shell.
use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::SUCCESS
}
