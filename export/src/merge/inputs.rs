//! Opening the checkpoints to merge and refusing those that do not share the first one's
//! architecture (same keys, shapes, and float-vs-integer kind of every entry).

use std::path::Path;

use super::error::MergeError;
use crate::checkpoint::{Checkpoint, StateDict, WeightsChoice};

/// The weights of every input: `model`, and `extra_state['ema']` when EMA is merged.
pub(crate) struct Inputs {
    /// One per input, `state['model']`.
    pub(crate) models: Vec<Checkpoint>,
    /// One per input, `extra_state['ema']` (empty unless EMA is merged).
    pub(crate) emas: Vec<Checkpoint>,
}

impl Inputs {
    /// Opens every input (memory-mapped: nothing is read until merged) and checks that they
    /// match the first. With `ema`, every input must store EMA weights.
    pub(crate) fn open(paths: &[impl AsRef<Path>], ema: bool) -> Result<Inputs, MergeError> {
        let open = |choice| {
            paths
                .iter()
                .map(|p| Checkpoint::open(p, choice))
                .collect::<Result<Vec<_>, _>>()
        };
        let models = open(WeightsChoice::Model)?;
        let emas = if ema {
            open(WeightsChoice::Ema)?
        } else {
            Vec::new()
        };
        for set in [&models, &emas] {
            if let Some((first, rest)) = set.split_first() {
                for other in rest {
                    same_architecture(first, other)?;
                }
            }
        }
        Ok(Inputs { models, emas })
    }
}

/// Fails naming the first key (in the first checkpoint's order), shape or kind that differs.
pub(crate) fn same_architecture(first: &Checkpoint, other: &Checkpoint) -> Result<(), MergeError> {
    let mismatch = |detail: String| MergeError::Mismatch {
        file: other.path.clone(),
        first: first.path.clone(),
        detail,
    };
    let (a, b): (&StateDict, &StateDict) = (&first.weights, &other.weights);
    for (key, ta) in a.iter() {
        let Ok(tb) = b.get(key) else {
            return Err(mismatch(format!("key '{key}' is missing")));
        };
        if ta.shape() != tb.shape() {
            return Err(mismatch(format!(
                "key '{key}' has shape {:?}, the first checkpoint {:?}",
                tb.shape(),
                ta.shape()
            )));
        }
        if ta.dtype().is_float() != tb.dtype().is_float() {
            return Err(mismatch(format!(
                "key '{key}' is stored as {}, the first checkpoint stores {}",
                tb.dtype(),
                ta.dtype()
            )));
        }
    }
    if let Some(extra) = b.keys().find(|k| !a.contains(k)) {
        return Err(mismatch(format!(
            "key '{extra}' is not in the first checkpoint"
        )));
    }
    Ok(())
}
