//! `unival eval perception-test`: zero-shot multiple-choice video QA on the Perception Test.
//!
//! Each question's video (cut where `--cut-frames` says) and question are encoded once, as a
//! video-QA request; then every option is scored by the model's summed log-probability of
//! `" " + option` followed by EOS after the question, all options in one batched teacher-forced
//! pass restricted to the options' tokens — the original's all-candidate rule
//! (`utils/eval_utils.py:eval_snli_ve`, docs/model.md §5.2 "allcand", §5.4) as the runtime's
//! [`score_options`] implements it. The best option is the answer (the first of equals).
//! Options are lower-cased and trimmed, as the original's answers are.

mod annotations;
pub mod score;

use super::args::RunFlags;
use super::records::{self, Choice, Record, Writer};
use super::runner::{progress, RunSummary};
use super::shard::selected;
use crate::cli::{DeviceArgs, VideoArgs};
use crate::commands::tasks;
use annotations::Question;
use anyhow::Context;
use clap::Args;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;
use unival_manifest::TaskKind;
use unival_runtime::generate::score_options;
use unival_runtime::tasks::{Pipeline, Request};

/// The task name in result files.
pub const TASK: &str = "perception_test";

/// `unival eval perception-test` arguments.
#[derive(Debug, Args)]
pub struct PerceptionArgs {
    /// Video bundle (video_qa or video_caption export; default: models/video_qa).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// `mc_question_<split>.json`.
    #[arg(long)]
    pub annotations: PathBuf,
    /// Directory of `<video_id>.mp4`.
    #[arg(long)]
    pub videos: PathBuf,
    /// `cut_frame_mapping_<split>.json`: the model sees only the frames before each cut.
    #[arg(long)]
    pub cut_frames: Option<PathBuf>,
    /// The challenge submission file (default: --out with extension `.submission.json`).
    #[arg(long)]
    pub submission: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunFlags,
    #[command(flatten)]
    pub run_on: DeviceArgs,
    /// Frame selection (`--start/--end` are replaced by the cut where there is one).
    #[command(flatten)]
    pub video: VideoArgs,
}

/// Runs the evaluation; returns the merged records and the run's summary.
pub fn run(a: &PerceptionArgs) -> anyhow::Result<(Vec<Record>, RunSummary)> {
    let questions = annotations::load(&a.annotations, &a.videos, a.cut_frames.as_deref())?;
    let (mut writer, done) = Writer::open(&a.run.out, a.run.resume, TASK)?;
    let done_ids: HashSet<String> = done.iter().map(|r| r.id.clone()).collect();
    let known: HashSet<String> = questions.iter().map(Question::key).collect();
    if let Some(stray) = done_ids.iter().find(|id| !known.contains(*id)) {
        anyhow::bail!(
            "{}: holds question `{stray}`, which is not in {}",
            a.run.out.display(),
            a.annotations.display()
        );
    }
    let todo: Vec<usize> = selected(questions.len(), a.run.limit, a.run.shard)
        .into_iter()
        .filter(|&i| !done_ids.contains(&questions[i].key()))
        .collect();
    let mut p = open(a)?;
    let bar = progress(todo.len());
    let start = Instant::now();
    for &index in &todo {
        let q = &questions[index];
        bar.set_message(q.key());
        let scored = score_question(&mut p, a, q).with_context(|| format!("{}", q.video.display()));
        let record = to_record(index, q, scored);
        if let Some(e) = &record.error {
            bar.suspend(|| eprintln!("error: question {}: {e}", q.key()));
        }
        writer.append(&record)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let summary = RunSummary {
        ran: todo.len(),
        seconds: start.elapsed().as_secs_f64(),
    };
    let (all, _) = records::read(&a.run.out)?;
    let submission = a
        .submission
        .clone()
        .unwrap_or_else(|| a.run.out.with_extension("submission.json"));
    write_submission(&submission, &all)?;
    Ok((all, summary))
}

/// Writes the challenge submission of `records` to `path`.
pub fn write_submission(path: &Path, records: &[Record]) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&score::submission(records))?;
    std::fs::write(path, text).with_context(|| format!("{}: cannot write", path.display()))
}

fn open(a: &PerceptionArgs) -> anyhow::Result<Pipeline> {
    let dir = a
        .model
        .clone()
        .unwrap_or_else(|| tasks::default_model(TaskKind::VideoQa));
    let opts = a.run_on.session_options()?;
    let mut p =
        Pipeline::open(&dir, &opts).with_context(|| format!("loading model {}", dir.display()))?;
    p.check_task(TaskKind::VideoQa)?;
    tasks::apply_video(&mut p.task, &mut p.video, &a.video);
    Ok(p)
}

/// Scores every option of `q`; returns the options' summed log-probabilities.
fn score_question(p: &mut Pipeline, a: &PerceptionArgs, q: &Question) -> anyhow::Result<Vec<f64>> {
    p.video.end = q.end_s.or(a.video.end);
    let request = Request::VideoQa {
        question: &q.q.question,
        answers: None,
    };
    let input = p.encode(&q.video, &request)?;
    let src = input.source_tokens();
    let prompt = src
        .get(1..src.len().saturating_sub(1))
        .unwrap_or(&[])
        .to_vec();
    let candidates =
        q.q.options
            .iter()
            .map(|o| {
                p.tokenizer()
                    .encode(&format!(" {}", o.trim().to_lowercase()))
            })
            .collect::<Result<Vec<_>, _>>()?;
    let specials = p.search.specials;
    let mut decoder = p.model_mut().decoder(input.encoded());
    Ok(score_options(
        &mut decoder,
        &prompt,
        &candidates,
        &specials,
    )?)
}

fn to_record(index: usize, q: &Question, scored: anyhow::Result<Vec<f64>>) -> Record {
    let (scores, error) = match scored {
        Ok(s) => (s, None),
        Err(e) => (Vec::new(), Some(format!("{e:#}"))),
    };
    let predicted_id =
        scores
            .iter()
            .enumerate()
            .fold(None, |best: Option<usize>, (i, s)| match best {
                Some(b) if scores[b] >= *s => Some(b),
                _ => Some(i),
            });
    Record {
        index,
        id: q.key(),
        task: TASK.to_string(),
        prediction: predicted_id
            .and_then(|k| q.q.options.get(k).cloned())
            .unwrap_or_default(),
        score: predicted_id.map(|k| scores[k]),
        tokens: Vec::new(),
        bbox: None,
        target: None,
        choice: Some(Choice {
            video_id: q.video_id.clone(),
            question_id: q.q.id.clone(),
            options: q.q.options.clone(),
            scores,
            predicted_id,
            answer_id: q.q.answer_id,
            area: q.q.area.clone(),
            reasoning: q.q.reasoning.clone(),
            tags: q.q.tag.clone(),
        }),
        error,
    }
}
