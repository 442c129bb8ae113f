//! `unival compare BUNDLE_A BUNDLE_B --images …`: a parity report of two bundles of the same
//! model (e.g. fp32 against int8), on captioning.
//!
//! Per image: both bundles encode it (encoder output compared), both caption it freely (beam
//! search, caption equality), and bundle A's best caption is fed through both decoders at once
//! (teacher forcing, [`SequenceScorer::full_logits`]) so every step's logits are compared on
//! the same prefix: ‖Δ‖/‖A‖, KL(softmax A ‖ softmax B) and top-1 agreement ([`super::parity`]).

use super::parity::{LogitStats, LogitSummary, RelError};
use crate::cli::CompareArgs;
use anyhow::{bail, Context};
use ndarray::Array2;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use unival_manifest::{io, TaskKind};
use unival_runtime::generate::{beam_search, Constraints, SearchOptions, SequenceScorer};
use unival_runtime::model::{Model, PerceptionInput};
use unival_runtime::text::Tokenizer;
use unival_runtime::vision::{preprocess_image, ImageOptions};
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

/// One bundle, loaded.
struct Side {
    model: Model,
    search: SearchOptions,
}

fn open_side(dir: &Path, opts: &SessionOptions, args: &CompareArgs) -> anyhow::Result<Side> {
    let model =
        Model::open(dir, opts).with_context(|| format!("loading model {}", dir.display()))?;
    let m = model.manifest();
    if m.task.task.modality() != TaskKind::Caption.modality() {
        bail!(
            "{}: compare runs image captioning; this bundle serves `{}`",
            dir.display(),
            m.task.task
        );
    }
    let mut search = SearchOptions::from_defaults(&m.task.generation)?;
    search.specials = (&m.vocab).into();
    if let Some(b) = args.beam {
        search.beam = b;
    }
    if let Some(v) = args.min_len {
        search.min_len = v;
    }
    if let Some(v) = args.max_len_b {
        search.max_len_b = v;
    }
    search.nbest = 1;
    search.validate()?;
    Ok(Side { model, search })
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
    let mut a = open_side(&args.bundle_a, &opts, &args)?;
    let mut b = open_side(&args.bundle_b, &opts, &args)?;
    let (ma, mb) = (a.model.manifest().clone(), b.model.manifest().clone());
    let Some(image_size) = ma.task.perception.image_size() else {
        bail!(
            "{}: compare needs image bundles, this one takes {}",
            args.bundle_a.display(),
            ma.task.perception
        );
    };
    if ma.task.perception != mb.task.perception || ma.vocab != mb.vocab {
        bail!(
            "the bundles differ in input ({} vs {}) or vocabulary; compare bundles of one model",
            ma.task.perception,
            mb.task.perception
        );
    }
    let tokenizer = Tokenizer::with_vocab(&ma.vocab)?;
    let prompt = ma
        .task
        .prompt
        .clone()
        .unwrap_or_else(|| " what does the image describe?".to_string());
    let src = tokenizer.source_tokens(&prompt)?;
    let (mean, std) = ma.task.mean_std();

    let mut per_image = Vec::new();
    let mut all = LogitStats::default();
    let mut enc_all = RelError::default();
    for path in &images {
        let img = preprocess_image(path, image_size, mean, std, &ImageOptions::default())
            .with_context(|| path.display().to_string())?;
        let input = PerceptionInput::Image(img.tensor.view());
        let caption = |side: &mut Side| -> anyhow::Result<_> {
            let t = Instant::now();
            let enc = side.model.encode_input(input, &src)?;
            let hyps = beam_search(
                &mut side.model.decoder(&enc),
                &side.search,
                &Constraints::none(),
                enc.src_len,
            )?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let tokens = hyps.first().map(|h| h.tokens.clone()).unwrap_or_default();
            Ok((enc, tokens, ms))
        };
        let (enc_a, tokens_a, ms_a) = caption(&mut a)?;
        let (enc_b, tokens_b, ms_b) = caption(&mut b)?;
        let mut enc_err = RelError::default();
        let (ea, eb) = (
            enc_a.outputs().view::<f32>(io::ENCODER_OUT)?,
            enc_b.outputs().view::<f32>(io::ENCODER_OUT)?,
        );
        enc_err.add(ea.as_slice().unwrap_or(&[]), eb.as_slice().unwrap_or(&[]));
        enc_all.merge(&enc_err);

        // Teacher forcing on A's caption: BOS + tokens[..len-1] predicts tokens.
        let mut prev = vec![ma.vocab.bos];
        prev.extend(tokens_a.iter().take(tokens_a.len().saturating_sub(1)));
        let prev = Array2::from_shape_vec((1, prev.len()), prev)?;
        let la = a.model.decoder(&enc_a).full_logits(&prev)?;
        let lb = b.model.decoder(&enc_b).full_logits(&prev)?;
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
            caption_a: tokenizer.decode(&tokens_a),
            caption_b: tokenizer.decode(&tokens_b),
            caption_equal: tokens_a == tokens_b,
            ms_a,
            ms_b,
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
