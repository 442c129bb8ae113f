//! The merged weights as a `.safetensors` file that `unival export` reads alone: the config
//! (`{"model", "task", "generation"}` of the first checkpoint) is embedded in `__metadata__`
//! under [`CONFIG_METADATA_KEY`] and also written beside it as `<stem>.json`, the file the
//! reader prefers (so a stale one from an earlier run is replaced).
//!
//! One tensor set only: the merged EMA weights when EMA is merged, else the merged model.
//! The header is computed from shapes first, then every tensor is streamed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::arith::write_merged;
use super::error::MergeError;
use super::Progress;
use crate::checkpoint::{
    safetensors_header, Checkpoint, CheckpointError, Tensor, CONFIG_METADATA_KEY,
};

/// Writes `sets` (one checkpoint per input, the same architecture) merged with `weights` to
/// `out`, and the config to `config_path`.
pub(crate) fn write(
    sets: &[Checkpoint],
    weights: &[f64],
    out: &Path,
    config_path: &Path,
    progress: Progress<'_>,
) -> Result<(), MergeError> {
    let first = &sets[0];
    let io = |e| MergeError::Checkpoint(CheckpointError::io(out, e));
    let config = serde_json::json!({
        "model": first.model_args,
        "task": first.task_cfg,
        "generation": first.generation_cfg,
    });
    let config_text = serde_json::to_string(&config).map_err(|e| io(std::io::Error::other(e)))?;
    std::fs::write(
        config_path,
        serde_json::to_vec_pretty(&config).unwrap_or_default(),
    )
    .map_err(|e| MergeError::Checkpoint(CheckpointError::io(config_path, e)))?;

    let metadata = serde_json::json!({ "format": "pt", CONFIG_METADATA_KEY: config_text });
    let head = safetensors_header(Some(metadata), first.weights.iter())
        .map_err(|e| io(std::io::Error::other(e)))?;
    let mut w = BufWriter::with_capacity(1 << 20, File::create(out).map_err(io)?);
    w.write_all(&head).map_err(io)?;
    let total = first.weights.len();
    for (i, (name, _)) in first.weights.iter().enumerate() {
        let tensors = sets
            .iter()
            .map(|c| c.weights.get(name))
            .collect::<Result<Vec<&Tensor>, _>>()?;
        write_merged(&tensors, weights, &mut w).map_err(|source| MergeError::Write {
            file: out.to_path_buf(),
            key: name.to_string(),
            source,
        })?;
        progress(i + 1, total, name);
    }
    w.flush().map_err(io)
}
