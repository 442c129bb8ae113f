//! `unival caption | vqa | ground | entail`: run an image task on one or many files.
//!
//! Many inputs: one result per line on stdout, a progress bar on stderr, a failing file
//! reported on stderr and skipped; the exit code is 1 if any file failed, 0 otherwise.
//! `--batch N` runs them N at a time through the batched runtime ([`Pipeline::run_batch`]).

use super::{answers, draw};
use crate::cli::{
    AudioCaptionArgs, AudioCropArgs, CaptionArgs, CommonArgs, CropArg, EntailArgs, GroundArgs,
    ImageArgs, SampleArg, VideoArgs, VideoCaptionArgs, VideoQaArgs, VqaArgs,
};
use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use unival_manifest::{Perception, TaskConfig, TaskKind};
use unival_runtime::audio::{AudioOptions, Crop, Segment};
use unival_runtime::generate::SearchOverrides;
use unival_runtime::tasks::{Pipeline, Request, TaskOutput, VideoSettings};
use unival_runtime::vision::video::Sampling;
use unival_runtime::vision::ImageOptions;

/// Default bundle directory of a task.
pub(super) fn default_model(task: TaskKind) -> PathBuf {
    PathBuf::from("models").join(task.name())
}

/// Opens the bundle for `task` with the command's flags applied: the generation flags resolved
/// once against the manifest's defaults, the image size and EXIF handling.
pub(super) fn open(common: &CommonArgs, task: TaskKind) -> anyhow::Result<Pipeline> {
    let dir = common.model.clone().unwrap_or_else(|| default_model(task));
    let opts = common.run_on.session_options()?;
    let mut p =
        Pipeline::open(&dir, &opts).with_context(|| format!("loading model {}", dir.display()))?;
    p.check_task(task)?;
    p.override_search(&SearchOverrides {
        nbest: common.nbest,
        ..(&common.search).into()
    })?;
    apply_image(&mut p.task, &mut p.image, &common.image);
    Ok(p)
}

/// Applies the image flags to task settings and image options.
pub(super) fn apply_image(task: &mut TaskConfig, image: &mut ImageOptions, a: &ImageArgs) {
    if let (Some(v), Perception::Image { image_size }) = (a.image_size, &mut task.perception) {
        *image_size = v;
    }
    image.exif_rotate = a.exif_rotate;
    if let Some(v) = a.max_image_pixels {
        image.max_pixels = v;
    }
}

/// How results are printed on stdout.
#[derive(Debug, Clone, Copy)]
struct Printing {
    /// One JSON object per input.
    json: bool,
    /// Text mode: one line per reported beam (`--nbest`), not just the best.
    every_beam: bool,
    /// Inputs per pass through the model (`--batch`).
    batch: usize,
}

impl Printing {
    fn of(common: &CommonArgs) -> Printing {
        Printing {
            json: common.json,
            every_beam: common.nbest.is_some(),
            batch: usize::try_from(common.batch).unwrap_or(1).max(1),
        }
    }
}

/// Runs `request` on every image; prints results; reports failures and goes on.
fn run_all(
    pipeline: &mut Pipeline,
    images: &[PathBuf],
    request: &Request,
    printing: Printing,
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
    for chunk in images.chunks(printing.batch) {
        if let Some(first) = chunk.first() {
            bar.set_message(first.display().to_string());
        }
        let items: Vec<(&Path, Request)> = chunk.iter().map(|p| (p.as_path(), *request)).collect();
        let results = pipeline.run_batch(&items);
        for (path, result) in chunk.iter().zip(results) {
            match result {
                Ok(out) => {
                    let line = if printing.json {
                        serde_json::to_string(&out)?
                    } else {
                        text_lines(&out, printing.every_beam)
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
    }
    bar.finish_and_clear();
    if failed > 0 {
        eprintln!("{failed} of {} inputs failed", images.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Text mode: `FILE<TAB>result`; with `every_beam`, one `FILE<TAB>rank<TAB>score<TAB>text`
/// line per beam, best first (boxes and entailment labels keep their one line).
fn text_lines(out: &TaskOutput, every_beam: bool) -> String {
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
    if every_beam && !out.beams.is_empty() {
        let lines: Vec<String> = out
            .beams
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{}\t{}\t{:.4}\t{}", out.file, i + 1, b.score, b.text))
            .collect();
        return lines.join("\n");
    }
    format!("{}\t{}", out.file, out.text)
}

pub fn caption(a: CaptionArgs) -> anyhow::Result<ExitCode> {
    let mut p = open(&a.common, TaskKind::Caption)?;
    run_all(
        &mut p,
        &a.images,
        &Request::Caption,
        Printing::of(&a.common),
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
    run_all(
        &mut p,
        &a.images,
        &request,
        Printing::of(&a.common),
        |_, _| Ok(()),
    )
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
    run_all(
        &mut p,
        &a.images,
        &request,
        Printing::of(&a.common),
        |path, out| {
            if let (Some(to), Some(b)) = (&draw_to, out.bbox) {
                draw::draw_box(path, b, to)?;
            }
            Ok(())
        },
    )
}

pub fn entail(a: EntailArgs) -> anyhow::Result<ExitCode> {
    if a.hypothesis.trim().is_empty() {
        return Err(anyhow!("--hypothesis is empty"));
    }
    let mut p = open(&a.common, TaskKind::SnliVe)?;
    let request = Request::Entail {
        hypothesis: &a.hypothesis,
    };
    run_all(
        &mut p,
        &a.images,
        &request,
        Printing::of(&a.common),
        |_, _| Ok(()),
    )
}

/// Applies the video flags to task settings and frame selection.
pub(super) fn apply_video(task: &mut TaskConfig, video: &mut VideoSettings, v: &VideoArgs) {
    let sampling = match (&v.frame_indices, v.sample) {
        (Some(ix), _) => Sampling::Indices(ix.clone()),
        (None, SampleArg::Rand) => Sampling::Rand { seed: v.seed },
        (None, SampleArg::Middle) => Sampling::Middle,
    };
    *video = VideoSettings {
        sampling,
        start: v.start,
        end: v.end,
    };
    if let Perception::Video {
        num_frames,
        frame_size,
    } = &mut task.perception
    {
        *num_frames = v.num_frames.unwrap_or(*num_frames);
        *frame_size = v.frame_size.unwrap_or(*frame_size);
    }
}

/// Applies the audio flags: the segment and how a longer sound is cut.
pub(super) fn apply_audio(
    audio: &mut AudioOptions,
    start: Option<f64>,
    end: Option<f64>,
    crop: &AudioCropArgs,
    seed: u64,
) {
    audio.segment = Segment {
        start_s: start,
        end_s: end,
    };
    audio.crop = match crop.crop {
        CropArg::Start => Crop::Start,
        CropArg::Center => Crop::Center,
        CropArg::Rand => Crop::Random { seed },
    };
}

pub fn video_caption(a: VideoCaptionArgs) -> anyhow::Result<ExitCode> {
    let mut p = open(&a.common, TaskKind::VideoCaption)?;
    apply_video(&mut p.task, &mut p.video, &a.video);
    run_all(
        &mut p,
        &a.videos,
        &Request::VideoCaption,
        Printing::of(&a.common),
        |_, _| Ok(()),
    )
}

pub fn video_qa(a: VideoQaArgs) -> anyhow::Result<ExitCode> {
    if a.question.trim().is_empty() {
        return Err(anyhow!("--question is empty"));
    }
    let mut p = open(&a.common, TaskKind::VideoQa)?;
    apply_video(&mut p.task, &mut p.video, &a.video);
    let trie = match &a.answers {
        Some(file) => Some(p.answer_trie(&answers::load(file)?)?),
        None => None,
    };
    let request = Request::VideoQa {
        question: &a.question,
        answers: trie.as_ref(),
    };
    run_all(
        &mut p,
        &a.videos,
        &request,
        Printing::of(&a.common),
        |_, _| Ok(()),
    )
}

pub fn audio_caption(a: AudioCaptionArgs) -> anyhow::Result<ExitCode> {
    let mut p = open(&a.common, TaskKind::AudioCaption)?;
    apply_audio(&mut p.audio, a.start, a.end, &a.crop, a.seed);
    run_all(
        &mut p,
        &a.files,
        &Request::AudioCaption,
        Printing::of(&a.common),
        |_, _| Ok(()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use unival_runtime::tasks::Beam;

    fn caption_output() -> TaskOutput {
        let mut out = TaskOutput::empty("a.png", "caption");
        out.text = "a dog".into();
        let beam = |text: &str, score| Beam {
            text: text.into(),
            tokens: vec![],
            score,
        };
        out.beams = vec![beam("a dog", -0.5), beam("a cat", -1.25)];
        out
    }

    #[test]
    fn text_mode_prints_the_best_or_every_beam() {
        let out = caption_output();
        assert_eq!(text_lines(&out, false), "a.png\ta dog");
        assert_eq!(
            text_lines(&out, true),
            "a.png\t1\t-0.5000\ta dog\na.png\t2\t-1.2500\ta cat"
        );
        let mut boxed = caption_output();
        boxed.bbox = Some([1.0, 2.0, 3.0, 4.0]);
        assert_eq!(text_lines(&boxed, true), "a.png\t1.0 2.0 3.0 4.0");
    }
}
