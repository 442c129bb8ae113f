//! `unival caption | vqa | ground | entail`: run an image task on one or many files.
//!
//! Many inputs: one result per line on stdout, a progress bar on stderr, a failing file
//! reported on stderr and skipped; the exit code is 1 if any file failed, 0 otherwise.

use super::{answers, draw};
use crate::cli::{
    AudioCaptionArgs, CaptionArgs, CommonArgs, EntailArgs, GroundArgs, VideoArgs, VideoCaptionArgs,
    VideoQaArgs, VqaArgs,
};
use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use unival_manifest::{Perception, TaskKind};
use unival_runtime::audio::{Crop, Segment};
use unival_runtime::tasks::{Pipeline, Request, TaskOutput, VideoSettings};
use unival_runtime::vision::video::Sampling;

/// Default bundle directory of a task.
pub(super) fn default_model(task: TaskKind) -> PathBuf {
    PathBuf::from("models").join(task.name())
}

pub(super) fn open(common: &CommonArgs, task: TaskKind) -> anyhow::Result<Pipeline> {
    let dir = common.model.clone().unwrap_or_else(|| default_model(task));
    let opts = common.run_on.session_options()?;
    let mut p =
        Pipeline::open(&dir, &opts).with_context(|| format!("loading model {}", dir.display()))?;
    p.check_task(task)?;
    let s = &mut p.search;
    if let Some(v) = common.beam {
        s.beam = v;
    }
    if let Some(v) = common.max_len_a {
        s.max_len_a = v;
    }
    if let Some(v) = common.max_len_b {
        s.max_len_b = v;
    }
    if let Some(v) = common.min_len {
        s.min_len = v;
    }
    if let Some(v) = common.no_repeat_ngram_size {
        s.no_repeat_ngram_size = v;
    }
    if common.unnormalized {
        s.unnormalized = true;
    }
    if common.normalized {
        s.unnormalized = false;
    }
    if let Some(v) = common.lenpen {
        s.lenpen = v;
    }
    if let Some(v) = common.temperature {
        s.temperature = v;
    }
    // Every finished hypothesis is reported (`beams`) unless --nbest limits it.
    s.nbest = common.nbest.unwrap_or(s.beam);
    s.validate()?;
    if let (Some(v), Perception::Image { image_size }) = (common.image_size, &mut p.task.perception)
    {
        *image_size = v;
    }
    p.image.exif_rotate = common.exif_rotate;
    Ok(p)
}

/// Runs `request` on every image; prints results; reports failures and goes on.
fn run_all(
    pipeline: &mut Pipeline,
    images: &[PathBuf],
    request: &Request,
    json: bool,
    mut after: impl FnMut(&Path, &TaskOutput) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let bar = if images.len() > 1 {
        let b =
            ProgressBar::with_draw_target(Some(images.len() as u64), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise} {wide_msg}")
        {
            b.set_style(style);
        }
        b
    } else {
        ProgressBar::hidden()
    };
    let stdout = std::io::stdout();
    let mut failed = 0usize;
    for path in images {
        bar.set_message(path.display().to_string());
        match pipeline.run(path, request) {
            Ok(out) => {
                let line = if json {
                    serde_json::to_string(&out)?
                } else {
                    text_line(&out)
                };
                bar.suspend(|| -> anyhow::Result<()> {
                    let mut lock = stdout.lock();
                    writeln!(lock, "{line}")?;
                    lock.flush()?;
                    Ok(())
                })?;
                after(path, &out)?;
            }
            Err(e) => {
                failed += 1;
                bar.suspend(|| eprintln!("error: {}: {e}", path.display()));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if failed > 0 {
        eprintln!("{failed} of {} inputs failed", images.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn text_line(out: &TaskOutput) -> String {
    if let Some(b) = out.bbox {
        return format!(
            "{}\t{:.1} {:.1} {:.1} {:.1}",
            out.file, b[0], b[1], b[2], b[3]
        );
    }
    if let (Some(label), Some(scores)) = (&out.label, &out.scores) {
        let s: Vec<String> = scores.iter().map(|(k, v)| format!("{k}={v:.4}")).collect();
        return format!("{}\t{label}\t{}", out.file, s.join(" "));
    }
    format!("{}\t{}", out.file, out.text)
}

pub fn caption(a: CaptionArgs) -> anyhow::Result<ExitCode> {
    let mut p = open(&a.common, TaskKind::Caption)?;
    run_all(
        &mut p,
        &a.images,
        &Request::Caption,
        a.common.json,
        |_, _| Ok(()),
    )
}

pub fn vqa(a: VqaArgs) -> anyhow::Result<ExitCode> {
    if a.question.trim().is_empty() {
        return Err(anyhow!("--question is empty"));
    }
    let mut p = open(&a.common, TaskKind::Vqa)?;
    let trie = match &a.answers {
        Some(file) => Some(p.answer_trie(&answers::load(file)?)?),
        None => None,
    };
    let request = Request::Vqa {
        question: &a.question,
        answers: trie.as_ref(),
    };
    run_all(&mut p, &a.images, &request, a.common.json, |_, _| Ok(()))
}

pub fn ground(a: GroundArgs) -> anyhow::Result<ExitCode> {
    if a.text.trim().is_empty() {
        return Err(anyhow!("--text is empty"));
    }
    if a.draw.is_some() && a.images.len() != 1 {
        return Err(anyhow!("--draw takes exactly one input image"));
    }
    let mut p = open(&a.common, TaskKind::Refcoco)?;
    let request = Request::Ground { text: &a.text };
    let draw_to = a.draw.clone();
    run_all(&mut p, &a.images, &request, a.common.json, |path, out| {
        if let (Some(to), Some(b)) = (&draw_to, out.bbox) {
            draw::draw_box(path, b, to)?;
        }
        Ok(())
    })
}

pub fn entail(a: EntailArgs) -> anyhow::Result<ExitCode> {
    if a.hypothesis.trim().is_empty() {
        return Err(anyhow!("--hypothesis is empty"));
    }
    let mut p = open(&a.common, TaskKind::SnliVe)?;
    let request = Request::Entail {
        hypothesis: &a.hypothesis,
    };
    run_all(&mut p, &a.images, &request, a.common.json, |_, _| Ok(()))
}

/// Applies the video flags to a pipeline.
fn apply_video(p: &mut Pipeline, v: &VideoArgs) {
    let sampling = match (&v.frame_indices, v.sample.as_str()) {
        (Some(ix), _) => Sampling::Indices(ix.clone()),
        (None, "rand") => Sampling::Rand { seed: v.seed },
        _ => Sampling::Middle,
    };
    p.video = VideoSettings {
        sampling,
        start: v.start,
        end: v.end,
    };
    if let Perception::Video {
        num_frames,
        frame_size,
    } = &mut p.task.perception
    {
        *num_frames = v.num_frames.unwrap_or(*num_frames);
        *frame_size = v.frame_size.unwrap_or(*frame_size);
    }
}

pub fn video_caption(a: VideoCaptionArgs) -> anyhow::Result<ExitCode> {
    let mut p = open(&a.common, TaskKind::VideoCaption)?;
    apply_video(&mut p, &a.video);
    run_all(
        &mut p,
        &a.videos,
        &Request::VideoCaption,
        a.common.json,
        |_, _| Ok(()),
    )
}

pub fn video_qa(a: VideoQaArgs) -> anyhow::Result<ExitCode> {
    if a.question.trim().is_empty() {
        return Err(anyhow!("--question is empty"));
    }
    let mut p = open(&a.common, TaskKind::VideoQa)?;
    apply_video(&mut p, &a.video);
    let trie = match &a.answers {
        Some(file) => Some(p.answer_trie(&answers::load(file)?)?),
        None => None,
    };
    let request = Request::VideoQa {
        question: &a.question,
        answers: trie.as_ref(),
    };
    run_all(&mut p, &a.videos, &request, a.common.json, |_, _| Ok(()))
}

pub fn audio_caption(a: AudioCaptionArgs) -> anyhow::Result<ExitCode> {
    let mut p = open(&a.common, TaskKind::AudioCaption)?;
    p.audio.segment = Segment {
        start_s: a.start,
        end_s: a.end,
    };
    p.audio.crop = match a.crop.as_str() {
        "center" => Crop::Center,
        "rand" => Crop::Random { seed: a.seed },
        _ => Crop::Start,
    };
    run_all(
        &mut p,
        &a.files,
        &Request::AudioCaption,
        a.common.json,
        |_, _| Ok(()),
    )
}
