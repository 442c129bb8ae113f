//! `unival bench --batch N`: caption throughput of the batched runtime. Every iteration
//! captions N copies of the bench picture in one pass ([`Pipeline::run_media_batch`] /
//! [`Pipeline::run_batch`]) with the bench's fixed step count, so every pass does the same work;
//! the report is items per second from the median pass.

use super::{percentiles, BenchImage};
use anyhow::{bail, Context};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;
use unival_runtime::tasks::{Pipeline, Request};

/// What a throughput run measures with.
pub(super) struct BatchRun<'a> {
    pub(super) batch: usize,
    pub(super) warmup: u64,
    pub(super) iterations: u64,
    pub(super) steps: usize,
    pub(super) beam: usize,
    pub(super) model: &'a Path,
    pub(super) device: String,
    pub(super) threads: Option<usize>,
}

/// Runs the passes, prints the report (JSON with `json`) and writes it to `out`.
pub(super) fn run(
    pipeline: &mut Pipeline,
    image: &BenchImage,
    how: &BatchRun,
    json_out: bool,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let mut pass_ms = Vec::new();
    let mut caption = String::new();
    for i in 0..how.warmup + how.iterations {
        let t = Instant::now();
        let results = match image {
            BenchImage::File(path) => {
                let items = vec![(path.as_path(), Request::Caption); how.batch];
                pipeline.run_batch(&items)
            }
            BenchImage::Synthetic(media) => {
                let name = image.name();
                let items = vec![(name.as_str(), media, Request::Caption); how.batch];
                pipeline.run_media_batch(&items)
            }
        };
        let ms = t.elapsed().as_secs_f64() * 1e3;
        for r in results {
            let r = r.with_context(|| format!("captioning {}", image.name()))?;
            if r.timings_ms.decoder_steps.len() != how.steps {
                bail!(
                    "the search ran {} decoder steps, not {}",
                    r.timings_ms.decoder_steps.len(),
                    how.steps
                );
            }
            caption = r.text;
        }
        if i >= how.warmup {
            pass_ms.push(ms);
        }
    }
    let (median, p90) = percentiles(&mut pass_ms);
    let items_per_s = how.batch as f64 / (median / 1e3).max(f64::MIN_POSITIVE);
    let report = json!({
        "model": how.model.display().to_string(),
        "image": image.name(),
        "batch": how.batch,
        "beam": how.beam,
        "steps": how.steps,
        "iterations": how.iterations,
        "warmup": how.warmup,
        "device": how.device,
        "threads": how.threads,
        "pass": {"median_ms": median, "p90_ms": p90},
        "items_per_s": items_per_s,
        "caption": caption,
    });
    let text = serde_json::to_string_pretty(&report)?;
    if let Some(out) = out {
        std::fs::write(out, format!("{text}\n"))
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if json_out {
        println!("{text}");
    } else {
        println!(
            "{} · {} · batch {} · beam {} · {} steps · {} iterations · device {}",
            how.model.display(),
            image.name(),
            how.batch,
            how.beam,
            how.steps,
            how.iterations,
            how.device
        );
        println!("pass: median {median:.1} ms, p90 {p90:.1} ms · {items_per_s:.2} items/s");
        println!("caption: {caption}");
    }
    Ok(ExitCode::SUCCESS)
}
