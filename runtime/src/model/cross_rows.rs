//! The encoder's per-input tensors laid out one row per decoder row, for batched decoding.
//!
//! The decoder graph attends from `n` rows to cross-attention keys/values of batch 1 (broadcast
//! over the rows) or of batch `n` (row `r` against row `r`). A batch of inputs past its first
//! step has `beam` rows per input, so the encoder outputs (`cross_k_l`, `cross_v_l`,
//! `encoder_padding_mask`) are repeated to the rows' inputs here, once per change of the row
//! layout (a new step 1, or an input finishing), not per step. `cross_pos_k` is the same for
//! every input of a batch (positions only) and stays as the encoder produced it.

use super::Encoded;
use crate::engine::session::Input;
use crate::error::RuntimeError;
use ndarray::{ArrayD, Axis};
use ort::value::DynValue;
use unival_manifest::io;

/// The row layout the decoder's encoder-side inputs follow.
pub(super) enum Layout {
    /// The encoder's outputs as they are: batch 1 broadcast over the rows, or one row per
    /// input in input order.
    AsEncoded,
    /// Repeated to `items` (the input of each row).
    Rows(CrossRows),
}

/// Encoder outputs gathered to one row per decoder row.
pub(super) struct CrossRows {
    /// The input of each row.
    pub(super) items: Vec<usize>,
    padding: ArrayD<bool>,
    /// Per layer: keys and values.
    kv: Vec<(ArrayD<f32>, ArrayD<f32>)>,
}

impl Layout {
    /// The layout for rows of inputs `items` over `enc`: as encoded when that already lines
    /// up (batch 1, or exactly one row per input in order), otherwise the gathered rows —
    /// reused when `current` already holds them. `None` means "keep `current`".
    pub(super) fn for_rows(
        enc: &Encoded,
        items: &[usize],
        current: &Layout,
        layers: usize,
    ) -> Result<Option<Layout>, RuntimeError> {
        let identity = items.iter().enumerate().all(|(r, &i)| r == i) && items.len() == enc.batch;
        let wanted_as_encoded = enc.batch == 1 && items.iter().all(|&i| i == 0) || identity;
        match current {
            Layout::AsEncoded if wanted_as_encoded => return Ok(None),
            Layout::Rows(rows) if rows.items == items => return Ok(None),
            _ if wanted_as_encoded => return Ok(Some(Layout::AsEncoded)),
            _ => {}
        }
        if let Some(&bad) = items.iter().find(|&&i| i >= enc.batch) {
            return Err(RuntimeError::BadShape {
                graph: io::graph::DECODER.to_string(),
                reason: format!("row of input {bad} in a batch of {}", enc.batch),
            });
        }
        let out = &enc.outputs;
        let gather_f32 = |name: &str| -> Result<ArrayD<f32>, RuntimeError> {
            Ok(out.view::<f32>(name)?.select(Axis(0), items))
        };
        let mut kv = Vec::with_capacity(layers);
        for l in 0..layers {
            kv.push((gather_f32(&io::cross_k(l))?, gather_f32(&io::cross_v(l))?));
        }
        let padding = out
            .view::<bool>(io::ENCODER_PADDING_MASK)?
            .select(Axis(0), items);
        Ok(Some(Layout::Rows(CrossRows {
            items: items.to_vec(),
            padding,
            kv,
        })))
    }

    /// The decoder's encoder-side inputs in this layout: padding mask, `cross_pos_k`, and per
    /// layer `(cross_k, cross_v)` (names from `cross_names`).
    pub(super) fn inputs<'s>(
        &'s self,
        enc: &'s Encoded,
        cross_names: impl Iterator<Item = (&'s str, &'s str)>,
    ) -> Result<Vec<(&'s str, Input<'s>)>, RuntimeError> {
        let out = &enc.outputs;
        let value = |name: &str| -> Result<&'s DynValue, RuntimeError> { out.get(name) };
        let mut inputs: Vec<(&str, Input)> =
            vec![(io::CROSS_POS_K, Input::Value(value(io::CROSS_POS_K)?))];
        match self {
            Layout::AsEncoded => {
                let pad = value(io::ENCODER_PADDING_MASK)?;
                inputs.push((io::ENCODER_PADDING_MASK, Input::Value(pad)));
                for (k, v) in cross_names {
                    inputs.push((k, Input::Value(value(k)?)));
                    inputs.push((v, Input::Value(value(v)?)));
                }
            }
            Layout::Rows(rows) => {
                inputs.push((io::ENCODER_PADDING_MASK, Input::from(&rows.padding)));
                for ((k, v), (kd, vd)) in cross_names.zip(&rows.kv) {
                    inputs.push((k, Input::from(kd)));
                    inputs.push((v, Input::from(vd)));
                }
            }
        }
        Ok(inputs)
    }
}
