//! `unival merge`: weight interpolation of checkpoints (the paper's model merging), with the
//! semantics of UnIVAL's `preprocess/average_save_models.py` (unival_export::merge).

use anyhow::{anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use unival_export::merge::{merge, MergeOptions};

/// Options of `unival merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Checkpoints to interpolate (.pt or .safetensors) sharing one architecture; the first
    /// one's cfg and other metadata go to the output.
    #[arg(required = true, num_args = 2..)]
    pub checkpoints: Vec<PathBuf>,
    /// One weight λᵢ per checkpoint, comma-separated; each entry becomes Σ λᵢ·θᵢ with the
    /// weights as given (not renormalised). Default: 1/N each.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub weights: Vec<f64>,
    /// Output: *.pt (torch.save format, read by fairseq and `unival export`) or *.safetensors
    /// (config embedded and written beside it as <stem>.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Also merge the EMA weights (extra_state['ema']; every checkpoint must have them). A
    /// .safetensors output then holds the merged EMA weights. (The original script's
    /// several-model EMA path is broken: it loses the merged EMA and keeps the first model's
    /// weights unmerged; here the model and the EMA weights are both merged.) Without it the
    /// output has no EMA, so nothing unmerged can be exported by mistake.
    #[arg(long)]
    pub ema: bool,
}

pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let n = args.checkpoints.len();
    let weights = if args.weights.is_empty() {
        vec![1.0 / n as f64; n]
    } else {
        args.weights
    };
    if weights.len() != n {
        bail!(
            "--weights gives {} weight(s) for {n} checkpoints: give one per checkpoint",
            weights.len()
        );
    }
    let opts = MergeOptions {
        inputs: args.checkpoints,
        weights,
        out: args.out,
        ema: args.ema,
    };
    let start = Instant::now();
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
            .map_err(|e| anyhow!("progress template: {e}"))?,
    );
    let report = merge(&opts, &mut |done, total, key| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(key.to_string());
    })?; // Merge errors name the file (and key) they concern.
    bar.finish_and_clear();
    let weights: Vec<String> = opts.weights.iter().map(|w| w.to_string()).collect();
    eprintln!(
        "merged {} checkpoints (weights {}) into {} in {:.1} s: {} entries{}, {:.1} MB",
        n,
        weights.join(","),
        report.out.display(),
        start.elapsed().as_secs_f64(),
        report.entries,
        if report.ema { " + EMA" } else { "" },
        report.bytes as f64 / 1e6
    );
    if !report.dropped.is_empty() {
        eprintln!(
            "not carried over from {}: {}",
            opts.inputs[0].display(),
            report.dropped.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
