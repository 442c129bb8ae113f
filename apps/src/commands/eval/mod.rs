//! `unival eval`: run a model over a dataset in its standard format and score it (issue 13).
//!
//! - [`readers`] turn each dataset format into [`dataset::Item`]s;
//! - [`runner`] runs the selected items ([`shard`]: `--limit`, `--shard I/N`) and appends one
//!   line per item to `--out` ([`records`]; `--resume` continues a killed run);
//! - [`score`] computes the metrics from the results file alone (so `merge` can score shards);
//! - [`perception`] is the Perception Test's multiple choice.
//!
//! stdout: the metrics table, or with `--json` one JSON object on the last line; stderr: the
//! progress bar and per-item errors. Exit code 1 when any item failed.

mod args;
mod dataset;
mod perception;
mod readers;
mod records;
mod runner;
mod score;
mod shard;

pub use args::EvalCmd;

use args::{DatasetArgs, EvalTask, MergeArgs};
use records::Record;
use std::process::ExitCode;
use unival_manifest::TaskKind;

/// Dispatches `unival eval …`.
pub fn run(cmd: EvalCmd) -> anyhow::Result<ExitCode> {
    match cmd.task {
        EvalTask::Caption(a) => dataset_eval(TaskKind::Caption, &a),
        EvalTask::Vqa(a) => dataset_eval(TaskKind::Vqa, &a),
        EvalTask::Refcoco(a) => dataset_eval(TaskKind::Refcoco, &a),
        EvalTask::SnliVe(a) => dataset_eval(TaskKind::SnliVe, &a),
        EvalTask::VideoCaption(a) => dataset_eval(TaskKind::VideoCaption, &a),
        EvalTask::VideoQa(a) => dataset_eval(TaskKind::VideoQa, &a),
        EvalTask::AudioCaption(a) => dataset_eval(TaskKind::AudioCaption, &a),
        EvalTask::PerceptionTest(a) => {
            let (all, summary) = perception::run(&a)?;
            report(&all, Some(summary.rate()), a.run.json)
        }
        EvalTask::Merge(a) => merge(&a),
    }
}

fn dataset_eval(task: TaskKind, a: &DatasetArgs) -> anyhow::Result<ExitCode> {
    let items = readers::load(task, a)?;
    let summary = runner::run(task, a, &items)?;
    let (all, _) = records::read(&a.run.out)?;
    report(&all, Some(summary.rate()), a.run.json)
}

fn merge(a: &MergeArgs) -> anyhow::Result<ExitCode> {
    let all = records::merge(&a.inputs)?;
    records::write_all(&a.out, &all)?;
    if let Some(path) = &a.submission {
        perception::write_submission(path, &all)?;
    }
    report(&all, None, a.json)
}

/// Prints the metrics of `all`; exit code 1 when any item failed.
fn report(all: &[Record], rate: Option<f64>, json: bool) -> anyhow::Result<ExitCode> {
    let r = score::score(all)?;
    if json {
        println!("{}", r.to_json(rate));
    } else {
        println!("{}", r.table(rate));
    }
    Ok(if r.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
