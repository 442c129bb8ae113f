//! The evaluation loop: open the bundle with the task's flags, run every selected item not yet
//! in `--out`, append each result as it finishes, with a progress bar (rate, ETA) on stderr.

use super::args::DatasetArgs;
use super::dataset::{Item, MediaRef};
use super::records::{Record, Writer};
use super::shard::selected;
use crate::commands::{answers, tasks};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;
use unival_manifest::TaskKind;
use unival_runtime::generate::{SearchOverrides, Trie};
use unival_runtime::tasks::{Pipeline, Request, TaskOutput};

/// What one run did.
pub struct RunSummary {
    /// Items run now (not counting those resumed from `--out`).
    pub ran: usize,
    /// Wall time of those items, seconds (model loading excluded).
    pub seconds: f64,
}

impl RunSummary {
    /// Items per second of this run (0 when nothing ran).
    pub fn rate(&self) -> f64 {
        if self.ran == 0 || self.seconds <= 0.0 {
            return 0.0;
        }
        self.ran as f64 / self.seconds
    }
}

/// A progress bar of `len` items on stderr with rate and ETA.
pub fn progress(len: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:30} {pos}/{len} {per_sec} ETA {eta} {elapsed_precise} {wide_msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Opens the bundle for `task` with the command's generation and media flags.
fn open(task: TaskKind, a: &DatasetArgs) -> anyhow::Result<Pipeline> {
    let dir = a
        .model
        .clone()
        .unwrap_or_else(|| tasks::default_model(task));
    let opts = a.run_on.session_options()?;
    let mut p =
        Pipeline::open(&dir, &opts).with_context(|| format!("loading model {}", dir.display()))?;
    p.check_task(task)?;
    p.override_search(&SearchOverrides::from(&a.search))?;
    tasks::apply_image(&mut p.task, &mut p.image, &a.image);
    tasks::apply_video(&mut p.task, &mut p.video, &a.video);
    tasks::apply_audio(
        &mut p.audio,
        a.video.start,
        a.video.end,
        &a.crop,
        a.video.seed,
    );
    Ok(p)
}

/// Runs `items` (those `a.run` selects and `--out` lacks) and returns what ran.
pub fn run(task: TaskKind, a: &DatasetArgs, items: &[Item]) -> anyhow::Result<RunSummary> {
    let (mut writer, done) = Writer::open(&a.run.out, a.run.resume, task.name())?;
    let known: HashSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
    if let Some(stray) = done.iter().find(|r| !known.contains(r.id.as_str())) {
        anyhow::bail!(
            "{}: holds item `{}`, which is not in {}; is it another dataset's results?",
            a.run.out.display(),
            stray.id,
            a.data.display()
        );
    }
    let done: HashSet<String> = done.into_iter().map(|r| r.id).collect();
    let todo: Vec<usize> = selected(items.len(), a.run.limit, a.run.shard)
        .into_iter()
        .filter(|&i| !done.contains(&items[i].id))
        .collect();
    let mut pipeline = open(task, a)?;
    let trie = match &a.answers {
        Some(file) => Some(pipeline.answer_trie(&answers::load(file)?)?),
        None => None,
    };
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let bar = progress(todo.len());
    let start = Instant::now();
    for &index in &todo {
        let item = &items[index];
        bar.set_message(item.id.clone());
        let result = run_item(&mut pipeline, task, item, trie.as_ref(), scratch.path());
        let record = to_record(index, task, item, result);
        if let Some(e) = &record.error {
            bar.suspend(|| eprintln!("error: item {}: {e}", item.id));
        }
        writer.append(&record)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(RunSummary {
        ran: todo.len(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The request for `item` under `task`.
fn request<'a>(task: TaskKind, text: &'a str, trie: Option<&'a Trie>) -> Request<'a> {
    match task {
        TaskKind::Vqa => Request::Vqa {
            question: text,
            answers: trie,
        },
        TaskKind::VideoQa => Request::VideoQa {
            question: text,
            answers: trie,
        },
        TaskKind::Refcoco => Request::Ground { text },
        TaskKind::SnliVe => Request::Entail { hypothesis: text },
        TaskKind::VideoCaption => Request::VideoCaption,
        TaskKind::AudioCaption => Request::AudioCaption,
        _ => Request::Caption,
    }
}

fn run_item(
    p: &mut Pipeline,
    task: TaskKind,
    item: &Item,
    trie: Option<&Trie>,
    scratch: &Path,
) -> anyhow::Result<TaskOutput> {
    let text = item.text.as_deref().unwrap_or_default();
    let req = request(task, text, trie);
    let out = match &item.media {
        MediaRef::File(path) => p.run(path, &req)?,
        MediaRef::Inline(bytes) => {
            let path = scratch.join("inline-image");
            std::fs::write(&path, bytes).context("writing the inline image")?;
            p.run(&path, &req)?
        }
    };
    Ok(out)
}

fn to_record(
    index: usize,
    task: TaskKind,
    item: &Item,
    result: anyhow::Result<TaskOutput>,
) -> Record {
    let mut r = Record {
        index,
        id: item.id.clone(),
        task: task.name().to_string(),
        prediction: String::new(),
        score: None,
        tokens: Vec::new(),
        bbox: None,
        target: Some(item.target.clone()),
        choice: None,
        error: None,
    };
    match result {
        Ok(out) => {
            r.prediction = out.label.unwrap_or(out.text);
            r.score = out.score;
            r.tokens = out.tokens;
            r.bbox = out.bbox;
        }
        Err(e) => r.error = Some(format!("{e:#}")),
    }
    r
}
