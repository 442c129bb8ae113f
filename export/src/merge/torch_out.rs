//! The merged checkpoint as a `torch.save` file: the first checkpoint's top-level dict with
//! `model` (and, with EMA, `extra_state['ema']`) replaced by the merged weights.
//!
//! What differs from the original script's output, on purpose:
//! - `last_optimizer_state` is left out: it holds the first model's Adam moments (twice the
//!   model's size) and means nothing for merged weights; fairseq loads the file for inference
//!   or for training with `--reset-optimizer`.
//! - Without EMA merging, `extra_state['ema']` is left out: the original keeps the first
//!   model's unmerged EMA, which an EMA-preferring load (`unival export`'s default for VQA)
//!   would silently pick instead of the merge.
//!
//! The pickle is written first, then one storage per merged entry, streamed from the inputs'
//! maps, then the first checkpoint's other storages copied record by record.

use std::path::Path;

use super::arith::write_merged;
use super::error::MergeError;
use super::inputs::Inputs;
use super::meta::{from_json, key_text, MetaCopier};
use super::Progress;
use crate::checkpoint::writer::{PyObj, TensorMeta, TorchZipWriter};
use crate::checkpoint::{Checkpoint, RawCheckpoint, Tensor, Value};

/// Top-level entries not carried over (see the module docs).
const DROPPED: [&str; 1] = ["last_optimizer_state"];

/// One merged state dict to write: entries in the first checkpoint's order.
struct MergedSet<'a> {
    sets: &'a [Checkpoint],
    first_key: usize,
}

impl MergedSet<'_> {
    /// The pickled `OrderedDict` of the merged tensors (contiguous, one storage each).
    fn pickled(&self) -> PyObj {
        let entries = self.sets[0]
            .weights
            .iter()
            .enumerate()
            .map(|(i, (name, t))| {
                let key = (self.first_key + i).to_string();
                (
                    name.to_string(),
                    PyObj::Tensor(TensorMeta::contiguous(key, t.dtype(), t.shape())),
                )
            })
            .collect();
        PyObj::OrderedDict(entries)
    }
}

/// Writes the merged `.pt` file; returns the top-level entries that were left out.
pub(crate) fn write(
    inputs: &Inputs,
    weights: &[f64],
    out: &Path,
    progress: Progress<'_>,
) -> Result<Vec<String>, MergeError> {
    let first = &inputs.models[0];
    let model = MergedSet {
        sets: &inputs.models,
        first_key: 0,
    };
    let ema = (!inputs.emas.is_empty()).then_some(MergedSet {
        sets: &inputs.emas,
        first_key: inputs.models[0].weights.len(),
    });
    let next = model.first_key
        + model.sets[0].weights.len()
        + ema.as_ref().map_or(0, |e| e.sets[0].weights.len());
    // A safetensors first input has no pickle: its JSON config becomes `cfg`.
    let raw = match first.path.extension().is_some_and(|e| e == "safetensors") {
        true => None,
        false => Some(RawCheckpoint::open(&first.path)?),
    };
    let mut dropped = Vec::new();
    let (top, copied) = match &raw {
        Some(r) => {
            let mut copier = MetaCopier::new(&r.heap, next);
            let top = top_level(&mut copier, &r.root, &model, ema.as_ref(), &mut dropped).map_err(
                |(path, detail)| MergeError::Metadata {
                    file: first.path.clone(),
                    path,
                    detail,
                },
            )?;
            (top, copier.storages)
        }
        None => (from_config(first, &model), Vec::new()),
    };

    let mut w = TorchZipWriter::create(out, "archive")?;
    w.write_pickle(&top)?;
    let total = model.sets[0].weights.len() + ema.as_ref().map_or(0, |e| e.sets[0].weights.len());
    let mut done = 0;
    for set in std::iter::once(&model).chain(ema.as_ref()) {
        for (i, (name, _)) in set.sets[0].weights.iter().enumerate() {
            let tensors = set
                .sets
                .iter()
                .map(|c| c.weights.get(name))
                .collect::<Result<Vec<&Tensor>, _>>()?;
            w.write_storage(&(set.first_key + i).to_string(), |sink| {
                write_merged(&tensors, weights, sink)
            })?;
            done += 1;
            progress(done, total, name);
        }
    }
    if let Some(r) = &raw {
        for s in &copied {
            let storage = r.zip.storage(&s.old_key, s.dtype, s.numel)?;
            w.write_storage(&s.new_key, |sink| sink.write_all(storage.as_bytes()))?;
        }
    }
    w.finish(&format!("{:040}", 0))?;
    Ok(dropped)
}

/// The top-level dict fairseq saves, from a safetensors input's config.
fn from_config(first: &Checkpoint, model: &MergedSet<'_>) -> PyObj {
    let namespace = first
        .model_args
        .iter()
        .map(|(k, v)| (k.clone(), from_json(v)))
        .collect();
    PyObj::dict([
        (
            "cfg",
            PyObj::dict([
                ("model", PyObj::Namespace(namespace)),
                ("task", from_json(&first.task_cfg)),
                ("generation", from_json(&first.generation_cfg)),
            ]),
        ),
        ("model", model.pickled()),
    ])
}

/// The first checkpoint's top-level dict with the merged weights in place.
fn top_level(
    copier: &mut MetaCopier<'_>,
    root: &Value,
    model: &MergedSet<'_>,
    ema: Option<&MergedSet<'_>>,
    dropped: &mut Vec<String>,
) -> Result<PyObj, (String, String)> {
    let entries = copier
        .dict_entries(root)
        .ok_or_else(|| ("<top>".to_string(), "not a dict".to_string()))?;
    let mut out = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let name = key_text(k);
        let value = match name.as_str() {
            "model" => model.pickled(),
            "extra_state" => extra_state(copier, v, ema, dropped)?,
            n if DROPPED.contains(&n) => {
                dropped.push(n.to_string());
                continue;
            }
            n => copier.copy(v, n)?,
        };
        out.push((copier.copy(k, "<key>")?, value));
    }
    Ok(PyObj::Dict(out))
}

/// `extra_state` with `ema` replaced by the merged EMA, or left out when EMA is not merged.
fn extra_state(
    copier: &mut MetaCopier<'_>,
    v: &Value,
    ema: Option<&MergedSet<'_>>,
    dropped: &mut Vec<String>,
) -> Result<PyObj, (String, String)> {
    let Some(entries) = copier.dict_entries(v) else {
        return copier.copy(v, "extra_state");
    };
    let mut out = Vec::with_capacity(entries.len());
    for (k, x) in entries {
        let name = key_text(k);
        let value = match (name.as_str(), ema) {
            ("ema", Some(e)) => e.pickled(),
            ("ema", None) => {
                dropped.push("extra_state.ema".into());
                continue;
            }
            (n, _) => copier.copy(x, &format!("extra_state.{n}"))?,
        };
        out.push((copier.copy(k, "<key>")?, value));
    }
    Ok(PyObj::Dict(out))
}
