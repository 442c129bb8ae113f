//! `unival compare BUNDLE_A BUNDLE_B --images …`: a parity report of two bundles of the same
//! model (e.g. fp32 against int8), on captioning.
//!
//! Per image: both bundles encode it (encoder output compared), both caption it freely (beam
//! search and caption post-processing as `unival caption` does; caption equality), and bundle
//! A's best caption is fed through both decoders at once (teacher forcing,
//! [`unival_runtime::model::Model::teacher_force`]) so every step's logits are compared on the
//! same prefix: ‖Δ‖/‖A‖, KL(softmax A ‖ softmax B) and top-1 agreement ([`super::parity`]).
//! All model work is the runtime's [`Pipeline`]; this module only compares and reports.

use super::parity::{LogitStats, LogitSummary, RelError};
use crate::cli::CompareArgs;
use anyhow::{bail, Context};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use unival_manifest::{io, TaskKind};
use unival_runtime::generate::SearchOverrides;
use unival_runtime::tasks::{EncodedInput, Pipeline, Request, TaskOutput};
use unival_runtime::SessionOptions;

/// What the report says about caption equality and real weights, always.
pub const NOTE: &str = "Caption equality is meaningless with random (synthetic) weights: \
near-uniform logits make beam search flip on tiny differences. The logit figures under teacher \
forcing are the parity measure; quality with the real released weights is unverified here.";

/// File extensions taken from a directory given to `--images`.
const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "webp", "bmp", "gif"];

/// One image's figures.
#[derive(Debug, Serialize)]
struct ImageReport {
    file: String,
    #[serde(flatten)]
    logits: LogitSummary,
    encoder_out_rel_error: f64,
    /// Each bundle's best caption, post-processed as `unival caption` prints it.
    caption_a: String,
    caption_b: String,
    caption_equal: bool,
    /// Perception + encoder + beam search, milliseconds.
    ms_a: f64,
    ms_b: f64,
}

/// Figures over all images.
#[derive(Debug, Serialize)]
struct Aggregate {
    images: usize,
    #[serde(flatten)]
    logits: LogitSummary,
    /// The worst image's ‖Δ logits‖/‖A‖.
    logit_rel_error_max: f64,
    encoder_out_rel_error: f64,
    encoder_out_rel_error_max: f64,
    caption_equality_rate: f64,
    ms_a_mean: f64,
    ms_b_mean: f64,
}

/// The whole report (`--json`, `--out`).
#[derive(Debug, Serialize)]
struct Report {
    bundle_a: String,
    bundle_b: String,
    precision_a: String,
    precision_b: String,
    aggregate: Aggregate,
    per_image: Vec<ImageReport>,
    note: &'static str,
}

/// Opens one bundle with the search settings of the report.
fn open_side(
    dir: &Path,
    opts: &SessionOptions,
    overrides: &SearchOverrides,
) -> anyhow::Result<Pipeline> {
    let mut pipeline =
        Pipeline::open(dir, opts).with_context(|| format!("loading model {}", dir.display()))?;
    let task = pipeline.model().manifest().task.task;
    if task.modality() != TaskKind::Caption.modality() {
        bail!(
            "{}: compare runs image captioning; this bundle serves `{task}`",
            dir.display()
        );
    }
    pipeline.override_search(overrides)?;
    Ok(pipeline)
}

/// One bundle's caption of `path` and the encoding it came from (kept for teacher forcing).
fn caption(side: &mut Pipeline, path: &Path) -> anyhow::Result<(EncodedInput, TaskOutput)> {
    let input = side
        .encode(path, &Request::Caption)
        .with_context(|| path.display().to_string())?;
    let out = side.decode(&path.display().to_string(), &input, &Request::Caption)?;
    Ok((input, out))
}

/// Perception + encoder + beam search, milliseconds.
fn model_ms(out: &TaskOutput) -> f64 {
    let t = &out.timings_ms;
    t.perception + t.encoder + t.decode
}

/// Expands `--images`: files as given, directories to their image files (sorted).
fn image_list(given: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in given {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_lowercase().as_str()))
                })
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        bail!("--images: no image files found");
    }
    Ok(out)
}

pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let opts = args.run_on.session_options()?;
    let images = image_list(&args.images)?;
    // Only each bundle's best caption is compared.
    let overrides = SearchOverrides {
        nbest: Some(1),
        ..(&args.search).into()
    };
    let mut a = open_side(&args.bundle_a, &opts, &overrides)?;
    let mut b = open_side(&args.bundle_b, &opts, &overrides)?;
    let (ma, mb) = (a.model().manifest().clone(), b.model().manifest().clone());
    if ma.task.perception.image_size().is_none() {
        bail!(
            "{}: compare needs image bundles, this one takes {}",
            args.bundle_a.display(),
            ma.task.perception
        );
    }
    if ma.task.perception != mb.task.perception || ma.vocab != mb.vocab {
        bail!(
            "the bundles differ in input ({} vs {}) or vocabulary; compare bundles of one model",
            ma.task.perception,
            mb.task.perception
        );
    }

    let mut per_image = Vec::new();
    let mut all = LogitStats::default();
    let mut enc_all = RelError::default();
    for path in &images {
        let (enc_a, out_a) = caption(&mut a, path)?;
        let (enc_b, out_b) = caption(&mut b, path)?;
        let mut enc_err = RelError::default();
        let (ea, eb) = (
            enc_a.encoded().outputs().view::<f32>(io::ENCODER_OUT)?,
            enc_b.encoded().outputs().view::<f32>(io::ENCODER_OUT)?,
        );
        enc_err.add(ea.as_slice().unwrap_or(&[]), eb.as_slice().unwrap_or(&[]));
        enc_all.merge(&enc_err);

        // Teacher forcing on A's caption through both decoders.
        let la = a
            .model_mut()
            .teacher_force(enc_a.encoded(), &out_a.tokens)?;
        let lb = b
            .model_mut()
            .teacher_force(enc_b.encoded(), &out_a.tokens)?;
        let mut stats = LogitStats::default();
        for (ra, rb) in la.outer_iter().zip(lb.outer_iter()) {
            for (sa, sb) in ra.outer_iter().zip(rb.outer_iter()) {
                let (sa, sb) = (sa.to_vec(), sb.to_vec());
                stats.add_step(&sa, &sb);
            }
        }
        all.merge(&stats);
        per_image.push(ImageReport {
            file: path.display().to_string(),
            logits: stats.summary(),
            encoder_out_rel_error: enc_err.value(),
            caption_equal: out_a.tokens == out_b.tokens,
            ms_a: model_ms(&out_a),
            ms_b: model_ms(&out_b),
            caption_a: out_a.text,
            caption_b: out_b.text,
        });
    }
    let n = per_image.len().max(1) as f64;
    let worst = |f: fn(&ImageReport) -> f64| per_image.iter().map(f).fold(0.0, f64::max);
    let aggregate = Aggregate {
        images: per_image.len(),
        logits: all.summary(),
        logit_rel_error_max: worst(|r| r.logits.logit_rel_error),
        encoder_out_rel_error: enc_all.value(),
        encoder_out_rel_error_max: worst(|r| r.encoder_out_rel_error),
        caption_equality_rate: per_image.iter().filter(|r| r.caption_equal).count() as f64 / n,
        ms_a_mean: per_image.iter().map(|r| r.ms_a).sum::<f64>() / n,
        ms_b_mean: per_image.iter().map(|r| r.ms_b).sum::<f64>() / n,
    };
    let report = Report {
        bundle_a: args.bundle_a.display().to_string(),
        bundle_b: args.bundle_b.display().to_string(),
        precision_a: format!("{:?}", ma.precision).to_lowercase(),
        precision_b: format!("{:?}", mb.precision).to_lowercase(),
        aggregate,
        per_image,
        note: NOTE,
    };
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(out) = &args.out {
        std::fs::write(out, &json).with_context(|| format!("writing {}", out.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print_text(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(r: &Report) {
    println!(
        "A {} ({})  vs  B {} ({})",
        r.bundle_a, r.precision_a, r.bundle_b, r.precision_b
    );
    println!("file\tsteps\trel_err\tkl_mean\tkl_max\ttop1\tenc_rel_err\tsame_caption");
    for i in &r.per_image {
        println!(
            "{}\t{}\t{:.3e}\t{:.3e}\t{:.3e}\t{:.3}\t{:.3e}\t{}",
            i.file,
            i.logits.steps,
            i.logits.logit_rel_error,
            i.logits.kl_mean,
            i.logits.kl_max,
            i.logits.top1_agreement,
            i.encoder_out_rel_error,
            i.caption_equal
        );
    }
    let a = &r.aggregate;
    println!(
        "{} images, {} teacher-forced steps: logit ‖Δ‖/‖A‖ {:.3e} (worst image {:.3e}), \
         KL(A‖B) mean {:.3e} max {:.3e} nats, top-1 agreement {:.4}, encoder_out ‖Δ‖/‖A‖ {:.3e} \
         (worst {:.3e}), caption equality {:.3}, caption time A {:.0} ms B {:.0} ms",
        a.images,
        a.logits.steps,
        a.logits.logit_rel_error,
        a.logit_rel_error_max,
        a.logits.kl_mean,
        a.logits.kl_max,
        a.logits.top1_agreement,
        a.encoder_out_rel_error,
        a.encoder_out_rel_error_max,
        a.caption_equality_rate,
        a.ms_a_mean,
        a.ms_b_mean
    );
    println!("note: {}", r.note);
}
