//! One module per command.

mod answers;
mod bench;
mod compare;
pub mod devices;
mod draw;
pub mod eval;
mod export;
mod inspect;
mod live;
mod live_output;
pub mod merge;
mod npy;
mod parity;
mod preprocess;
pub mod pull;
pub mod remote;
pub mod score;
mod tasks;
pub mod triton_repo;

use crate::cli::{Cli, Command};
use std::process::ExitCode;

/// Dispatches a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Export(cmd) => export::run(cmd),
        Command::Inspect(args) => inspect::run(args),
        Command::Caption(a) => tasks::caption(a),
        Command::Vqa(a) => tasks::vqa(a),
        Command::Ground(a) => tasks::ground(a),
        Command::Entail(a) => tasks::entail(a),
        Command::VideoCaption(a) => tasks::video_caption(a),
        Command::VideoQa(a) => tasks::video_qa(a),
        Command::AudioCaption(a) => tasks::audio_caption(a),
        Command::Preprocess(a) => preprocess::run(a),
        Command::Devices(a) => devices::run(a),
        Command::Live(cmd) => live::run(cmd),
        Command::Bench(a) => bench::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Score(a) => score::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Pull(a) => pull::run(a),
        Command::Eval(cmd) => eval::run(cmd),
        Command::TritonRepo(a) => triton_repo::run(a),
        Command::Remote(a) => remote::run(a),
    }
}
