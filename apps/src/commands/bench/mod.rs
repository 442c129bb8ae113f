//! `unival bench`: times captioning stage by stage on one image (`--image`, else a built-in
//! test pattern) and sets each stage against its hardware floor (FLOPs at the measured GFLOP/s
//! or bytes at the measured bandwidth, counted by [`unival_export::onnx::cost`]).
//!
//! Order matters: the model is loaded (timed) and run first, the peak resident memory is read
//! right after, and only then are the graphs parsed for their FLOP counts and the machine
//! measured, so neither inflates the reported peak.
//!
//! `--batch N` measures throughput instead ([`batch`]): items per second of N-input passes.

mod batch;
mod floor;
mod machine;
mod profile;
mod test_image;

use crate::cli::{BenchArgs, PresetArg};
use anyhow::{anyhow, bail, Context};
use floor::RunShape;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;
use unival_runtime::generate::SearchOverrides;
use unival_runtime::tasks::{Media, Pipeline, Request, TaskError, TaskOutput, Timings};
use unival_runtime::SessionOptions;

/// Stage names of the report, in order.
const STAGES: [&str; 5] = [
    "preprocess",
    "perception",
    "encoder",
    "decoder_step",
    "search_overhead",
];

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let dir = bundle_dir(&args)?;
    let image = match &args.image {
        Some(path) => BenchImage::File(path.clone()),
        None => BenchImage::Synthetic(Media::Image(test_image::pattern())),
    };
    let f = &args.session;
    let opts = SessionOptions {
        optimization_level: f
            .opt_level
            .parse()
            .map_err(|e| anyhow!("--opt-level: {e}"))?,
        prepacking: !f.no_prepack,
        cpu_arena: !f.no_arena,
        memory_pattern: !f.no_mem_pattern,
        intra_spinning: !f.no_spin,
        optimized_cache: f.opt_cache.clone(),
        profile_dir: args.profile.clone(),
        ..args.run_on.session_options()?
    };
    let steps = usize::try_from(args.steps)?;
    let beam = usize::try_from(args.beam)?;

    let t = Instant::now();
    let mut pipeline =
        Pipeline::open(&dir, &opts).with_context(|| format!("loading model {}", dir.display()))?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    // min length = max length: every search runs exactly `steps` decoder steps.
    pipeline.override_search(&SearchOverrides {
        beam: Some(beam),
        max_len_a: Some(0.0),
        max_len_b: Some(steps - 1),
        min_len: Some(steps - 1),
        nbest: Some(1),
        ..SearchOverrides::default()
    })?;
    if let Some(n) = args.batch {
        let how = batch::BatchRun {
            batch: usize::try_from(n)?,
            warmup: args.warmup,
            iterations: args.iterations,
            steps,
            beam,
            model: &dir,
            device: opts.device.to_string(),
            threads: args.run_on.threads,
        };
        return batch::run(&mut pipeline, &image, &how, args.json, args.out.as_deref());
    }

    let mut runs: Vec<Timings> = Vec::new();
    let mut caption = String::new();
    for i in 0..args.warmup + args.iterations {
        let out = image
            .caption(&mut pipeline)
            .with_context(|| format!("captioning {}", image.name()))?;
        if out.timings_ms.decoder_steps.len() != steps {
            bail!(
                "the search ran {} decoder steps, not {steps}",
                out.timings_ms.decoder_steps.len()
            );
        }
        caption = out.text;
        if i >= args.warmup {
            runs.push(out.timings_ms);
        }
    }
    let peak_rss = machine::peak_rss_bytes()?;
    let profiles = match &args.profile {
        Some(_) => Some(profile::collect(pipeline.model_mut())?),
        None => None,
    };

    let manifest = pipeline.model().manifest().clone();
    let src_len = pipeline.source_tokens(&Request::Caption)?.len();
    let image_size = pipeline.task.perception.side().unwrap_or(0);
    drop(pipeline);
    let original = image.dimensions()?;
    let shape = RunShape {
        image_size,
        original,
        src_len,
        beam,
        steps,
    };
    let work = floor::count_work(&dir, &manifest, shape)?;
    let machine = machine::measure(&opts)?;
    let floors = floor::floors(&work, &machine, steps);

    let stat = |f: &dyn Fn(&Timings) -> Vec<f64>| -> (f64, f64) {
        let mut v: Vec<f64> = runs.iter().flat_map(f).collect();
        percentiles(&mut v)
    };
    let stage_values: [(f64, f64); 5] = [
        stat(&|t| vec![t.preprocess]),
        stat(&|t| vec![t.perception]),
        stat(&|t| vec![t.encoder]),
        stat(&|t| t.decoder_steps.clone()),
        stat(&|t| vec![t.decode - t.decoder_steps.iter().sum::<f64>()]),
    ];
    let floor_values = [
        floors.preprocess,
        floors.perception,
        floors.encoder,
        floors.decoder_step,
        floors.search_overhead,
    ];
    let total = stat(&|t| vec![t.total]);
    let weight_bytes = work.perception.all_weight_bytes
        + work.encoder.all_weight_bytes
        + work.decoder_step.all_weight_bytes;

    let mut stages = serde_json::Map::new();
    for ((name, (median, p90)), floor) in STAGES.iter().zip(stage_values).zip(floor_values) {
        stages.insert(
            name.to_string(),
            json!({"median_ms": median, "p90_ms": p90, "floor_ms": floor}),
        );
    }
    let report = json!({
        "stages": stages,
        "total": {"median_ms": total.0, "p90_ms": total.1, "floor_ms": floors.total},
        "peak_rss_bytes": peak_rss,
        "load_ms": load_ms,
        "bundle_bytes": dir_bytes(&dir)?,
        "weight_bytes": weight_bytes,
        "machine": machine.to_json(),
        "device": opts.device.to_string(),
        "threads": args.run_on.threads,
        "session": {
            "opt_level": f.opt_level,
            "prepacking": opts.prepacking,
            "cpu_arena": opts.cpu_arena,
            "memory_pattern": opts.memory_pattern,
            "intra_spinning": opts.intra_spinning,
            "optimized_cache": opts.optimized_cache.as_ref().map(|p| p.display().to_string()),
        },
        "model": dir.display().to_string(),
        "precision": manifest.precision,
        "image": image.name(),
        "image_size": image_size,
        "iterations": args.iterations,
        "warmup": args.warmup,
        "steps": steps,
        "beam": beam,
        "caption": caption,
        "work": floor::work_json(&work),
    });
    let mut report = report;
    if let Some(p) = &profiles {
        report["profile"] = profile::to_json(p);
    }
    let text = serde_json::to_string_pretty(&report)?;
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{text}\n"))
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if args.json {
        println!("{text}");
    } else {
        print_table(&report, &stage_values, &floor_values);
        if let Some(p) = &profiles {
            profile::print(p);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Median and p90 (nearest rank) of `v`; zeros for an empty list.
fn percentiles(v: &mut [f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let rank = |q: f64| {
        let r = (q * v.len() as f64).ceil() as usize;
        v[r.clamp(1, v.len()) - 1]
    };
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (median, rank(0.9).max(median))
}

fn print_table(report: &Value, stages: &[(f64, f64); 5], floors: &[f64; 5]) {
    let f = |k: &str| report[k].as_f64().unwrap_or(0.0);
    let m = &report["machine"];
    println!(
        "{} ({} weights), {}, beam {}, {} steps, {} iterations, device {}",
        report["model"].as_str().unwrap_or(""),
        report["precision"].as_str().unwrap_or(""),
        report["image"].as_str().unwrap_or(""),
        report["beam"],
        report["steps"],
        report["iterations"],
        report["device"].as_str().unwrap_or("")
    );
    println!(
        "{:<16} {:>10} {:>10} {:>10}",
        "stage", "median ms", "p90 ms", "floor ms"
    );
    for ((name, (median, p90)), floor) in STAGES.iter().zip(stages).zip(floors) {
        println!("{name:<16} {median:>10.1} {p90:>10.1} {floor:>10.1}");
    }
    let t = &report["total"];
    let g = |k: &str| t[k].as_f64().unwrap_or(0.0);
    println!(
        "{:<16} {:>10.1} {:>10.1} {:>10.1}",
        "total",
        g("median_ms"),
        g("p90_ms"),
        g("floor_ms")
    );
    let weights = f("weight_bytes");
    println!(
        "load {:.0} ms · peak RSS {:.2} GB ({:.2}× the {:.2} GB of weights) · bundle {:.1} MB",
        f("load_ms"),
        f("peak_rss_bytes") / 1e9,
        f("peak_rss_bytes") / weights.max(1.0),
        weights / 1e9,
        f("bundle_bytes") / 1e6
    );
    println!(
        "machine: {} cores, read bandwidth {:.1} GB/s, {:.1} GFLOP/s (ONNX Runtime MatMul)",
        m["cores"],
        m["bandwidth_gbs"].as_f64().unwrap_or(0.0),
        m["gflops"].as_f64().unwrap_or(0.0)
    );
    println!("caption: {}", report["caption"].as_str().unwrap_or(""));
}

/// Total size of the files in `dir` (not recursive: a bundle is flat).
fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let meta = entry?.metadata()?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

/// The picture every iteration captions.
enum BenchImage {
    /// `--image`: decoded on every iteration, as `unival caption` does.
    File(PathBuf),
    /// The built-in pattern, already in memory (preprocessing is the resize alone).
    Synthetic(Media),
}

impl BenchImage {
    /// Captions the picture once.
    fn caption(&self, pipeline: &mut Pipeline) -> Result<TaskOutput, TaskError> {
        match self {
            BenchImage::File(path) => pipeline.run(path, &Request::Caption),
            BenchImage::Synthetic(media) => {
                pipeline.run_media(&self.name(), media, &Request::Caption)
            }
        }
    }

    /// The report's `image`: the file, or what the built-in picture is.
    fn name(&self) -> String {
        match self {
            BenchImage::File(path) => path.display().to_string(),
            BenchImage::Synthetic(_) => test_image::NAME.to_string(),
        }
    }

    /// `(width, height)` before resizing.
    fn dimensions(&self) -> anyhow::Result<(u32, u32)> {
        match self {
            BenchImage::File(path) => {
                image::image_dimensions(path).with_context(|| format!("reading {}", path.display()))
            }
            BenchImage::Synthetic(_) => Ok((test_image::WIDTH, test_image::HEIGHT)),
        }
    }
}

/// `--model`, or the `--preset` bundle in the cache, synthesised and exported when missing.
/// Export runs in a child process (this binary's `export` commands) so that its memory does not
/// count towards the bench's peak.
fn bundle_dir(args: &BenchArgs) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &args.model {
        return Ok(dir.clone());
    }
    let preset = match args.preset.unwrap_or(PresetArg::Base) {
        PresetArg::Tiny => "tiny",
        PresetArg::Base => "base",
    };
    let dir = args.cache.join(format!("bench-{preset}"));
    if dir.join("manifest.json").is_file() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&args.cache)
        .with_context(|| format!("creating {}", args.cache.display()))?;
    let checkpoint = args.cache.join(format!("bench-{preset}.pt"));
    let exe = std::env::current_exe().context("locating the unival binary")?;
    let step = |what: &str, argv: &[&std::ffi::OsStr]| -> anyhow::Result<()> {
        eprintln!("bench: {what}");
        let status = Command::new(&exe)
            .args(argv)
            .status()
            .with_context(|| format!("running {}", exe.display()))?;
        if !status.success() {
            bail!("{what} failed ({status})");
        }
        Ok(())
    };
    step(
        &format!("synthesising a {preset} checkpoint"),
        &[
            "export".as_ref(),
            "synth".as_ref(),
            "--preset".as_ref(),
            preset.as_ref(),
            "--out".as_ref(),
            checkpoint.as_os_str(),
        ],
    )?;
    step(
        &format!("exporting it to {}", dir.display()),
        &[
            "export".as_ref(),
            "--checkpoint".as_ref(),
            checkpoint.as_os_str(),
            "--out".as_ref(),
            dir.as_os_str(),
            // Weights in `.onnx.data` files: ONNX Runtime maps them instead of copying them out
            // of the parsed protobuf, which measured 1.21 GB peak RSS against 1.86 GB inline
            // for the base model (BENCHMARKS.md, "Bench").
            "--external-data".as_ref(),
        ],
    )?;
    std::fs::remove_file(&checkpoint)
        .with_context(|| format!("removing {}", checkpoint.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::percentiles;

    #[test]
    fn median_and_p90_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert_eq!(percentiles(&mut v), (5.5, 9.0));
        assert_eq!(percentiles(&mut [3.0]), (3.0, 3.0));
        assert_eq!(percentiles(&mut [2.0, 1.0]), (1.5, 2.0));
        assert_eq!(percentiles(&mut []), (0.0, 0.0));
    }
}
