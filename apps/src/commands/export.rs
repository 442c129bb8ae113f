//! `unival export`: checkpoint → bundle, and `unival export synth`: random-init checkpoints in
//! the real format.

use crate::cli::{
    ConvKernelsArg, ExportArgs, ExportCmd, ExportSub, PrecisionArg, PresetArg, StoreDTypeArg,
    SynthArgs,
};
use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;
use std::time::Instant;
use unival_export::bundle::{export, ExportOptions, ExportStep};
use unival_export::checkpoint::WeightsChoice;
use unival_export::quant::ConvKernels;
use unival_export::synth;
use unival_manifest::{Precision, TaskKind};

pub fn run(cmd: ExportCmd) -> anyhow::Result<ExitCode> {
    match cmd.synth {
        Some(ExportSub::Synth(args)) => run_synth(args),
        None => run_export(cmd.args),
    }
}

fn run_export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let checkpoint = args
        .checkpoint
        .ok_or_else(|| anyhow!("--checkpoint is required"))?;
    let out_dir = args.out.ok_or_else(|| anyhow!("--out is required"))?;
    let task = args
        .task
        .as_deref()
        .map(str::parse::<TaskKind>)
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let opts = ExportOptions {
        checkpoint,
        out_dir,
        task,
        precision: match args.precision {
            PrecisionArg::Fp32 => Precision::Fp32,
            PrecisionArg::Fp16 => Precision::Fp16,
            PrecisionArg::Int8 => Precision::Int8,
            PrecisionArg::Int4 => Precision::Int4,
        },
        weights: if args.ema {
            WeightsChoice::Ema
        } else if args.no_ema {
            WeightsChoice::Model
        } else {
            WeightsChoice::Auto
        },
        image_size: args.image_size,
        num_frames: args.num_frames,
        frame_size: args.frame_size,
        external_data: !args.inline_weights,
        quantize_convs: args.quantize_convs.map(|k| match k {
            ConvKernelsArg::All => ConvKernels::All,
            ConvKernelsArg::Pointwise => ConvKernels::Pointwise,
            ConvKernelsArg::Spatial => ConvKernels::Spatial,
        }),
    };
    let start = Instant::now();
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
            .map_err(|e| anyhow!("progress template: {e}"))?,
    );
    let manifest = export(&opts, &mut |step| match step {
        ExportStep::Reading => bar.set_message("reading checkpoint"),
        ExportStep::Graph { name, index, total } => {
            bar.set_length(total as u64 + 1);
            bar.set_position(index as u64);
            bar.set_message(format!("building {name}"));
        }
        ExportStep::Hashing => {
            bar.set_position(bar.length().unwrap_or(1) - 1);
            bar.set_message("hashing files");
        }
    })?; // Every export error starts with the file it concerns: no context to add.
    bar.finish_and_clear();
    let bytes: u64 = manifest.files.values().map(|f| f.bytes).sum();
    eprintln!(
        "exported {} ({} task, {} weights, {:?}) to {} in {:.1} s: {} graphs, {:.1} MB",
        manifest.source.checkpoint,
        manifest.task.task,
        manifest.source.weights,
        manifest.precision,
        opts.out_dir.display(),
        start.elapsed().as_secs_f64(),
        manifest.graphs.len(),
        bytes as f64 / 1e6
    );
    Ok(ExitCode::SUCCESS)
}

fn run_synth(args: SynthArgs) -> anyhow::Result<ExitCode> {
    let opts = synth::SynthOptions {
        preset: match args.preset {
            PresetArg::Tiny => synth::Preset::Tiny,
            PresetArg::Base => synth::Preset::Base,
        },
        seed: args.seed,
        dtype: match args.dtype {
            StoreDTypeArg::Fp32 => synth::StoreDType::F32,
            StoreDTypeArg::Fp16 => synth::StoreDType::F16,
        },
        with_ema: args.ema,
        task: args.task.clone(),
        ..synth::SynthOptions::default()
    };
    let start = Instant::now();
    synth::write(&opts, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "wrote {} ({:.1} MB) in {:.1} s",
        args.out.display(),
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
