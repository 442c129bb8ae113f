//! Weight interpolation of UnIVAL checkpoints (the paper's multimodal model merging) with the
//! semantics of the original `preprocess/average_save_models.py`:
//!
//! - every state-dict entry becomes `Σ λᵢ·θᵢ`, weights taken as given (not renormalised),
//!   computed in the stored dtype bit for bit as PyTorch does ([`arith`]); BatchNorm running
//!   statistics are floats and are interpolated like weights; integer entries stay integers;
//! - `cfg` and the other metadata come from the first checkpoint ([`torch_out`]);
//! - with `ema`, `extra_state['ema']` is merged as well (and written as the weights of a
//!   `.safetensors` output). The original's EMA path for several models is broken: it replaces
//!   `extra_state` by its last non-EMA entry, losing the merged EMA, and keeps the first
//!   checkpoint's `model` unmerged. Here both `model` and the EMA are merged.
//!
//! Checkpoints whose keys, shapes or entry kinds differ are refused, naming the first
//! difference. Inputs are memory-mapped and the output is streamed entry by entry in chunks, so
//! memory stays near the size of the pages being read, whatever the model size.

mod arith;
mod error;
mod inputs;
mod meta;
mod safetensors_out;
mod torch_out;

pub use error::MergeError;

use std::path::{Path, PathBuf};

use crate::checkpoint::CheckpointError;
use inputs::Inputs;

/// Progress callback: `(entries written, total entries, key just written)`.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, &str);

/// What to merge.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeOptions {
    /// Checkpoints (`.pt` or `.safetensors`), the first one giving the metadata.
    pub inputs: Vec<PathBuf>,
    /// One weight λᵢ per input, used as given.
    pub weights: Vec<f64>,
    /// Output: `*.pt` (torch.save format) or `*.safetensors` (+ `<stem>.json`).
    pub out: PathBuf,
    /// Also merge the EMA weights (`extra_state['ema']`); every input must have them.
    pub ema: bool,
}

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeReport {
    /// The output file.
    pub out: PathBuf,
    /// State-dict entries merged per weight set.
    pub entries: usize,
    /// Whether the EMA weights were merged.
    pub ema: bool,
    /// Entries of the first checkpoint left out of the output (e.g. `last_optimizer_state`).
    pub dropped: Vec<String>,
    /// Output size in bytes.
    pub bytes: u64,
}

/// The output format, from the output's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutputKind {
    Torch,
    Safetensors,
}

fn output_kind(out: &Path) -> Result<OutputKind, MergeError> {
    match out.extension().and_then(|e| e.to_str()) {
        Some("pt" | "pth") => Ok(OutputKind::Torch),
        Some("safetensors") => Ok(OutputKind::Safetensors),
        _ => Err(MergeError::OutputKind {
            file: out.to_path_buf(),
        }),
    }
}

/// Checks the weights against the inputs: one finite weight per input.
fn check_weights(opts: &MergeOptions) -> Result<(), MergeError> {
    if opts.inputs.is_empty() {
        return Err(MergeError::NoInputs);
    }
    if opts.weights.len() != opts.inputs.len() {
        return Err(MergeError::WeightCount {
            weights: opts.weights.len(),
            inputs: opts.inputs.len(),
        });
    }
    match opts.weights.iter().position(|w| !w.is_finite()) {
        Some(i) => Err(MergeError::BadWeight {
            index: i + 1,
            value: opts.weights[i],
        }),
        None => Ok(()),
    }
}

/// Merges `opts.inputs` into `opts.out`; `progress` is told after each entry.
pub fn merge(opts: &MergeOptions, progress: Progress<'_>) -> Result<MergeReport, MergeError> {
    check_weights(opts)?;
    let kind = output_kind(&opts.out)?;
    let inputs = Inputs::open(&opts.inputs, opts.ema)?;
    let entries = inputs.models[0].weights.len();
    // Written under a temporary name and renamed at the end: no half-written output is left
    // under the final name, and an output that is also an input is not clobbered while mapped.
    let mut partial = opts.out.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = match kind {
        OutputKind::Torch => torch_out::write(&inputs, &opts.weights, &partial, progress),
        OutputKind::Safetensors => {
            let sets = if opts.ema {
                &inputs.emas
            } else {
                &inputs.models
            };
            let config = opts.out.with_extension("json");
            safetensors_out::write(sets, &opts.weights, &partial, &config, progress)
                .map(|()| Vec::new())
        }
    };
    drop(inputs);
    let io = |e| MergeError::Checkpoint(CheckpointError::io(&opts.out, e));
    let dropped = match written {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &opts.out).map_err(io)?;
    let bytes = std::fs::metadata(&opts.out).map_err(io)?.len();
    Ok(MergeReport {
        out: opts.out.clone(),
        entries,
        ema: opts.ema,
        dropped,
        bytes,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
