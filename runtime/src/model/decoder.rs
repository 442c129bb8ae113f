//! The step decoder: drives the `decoder` graph one token per row per step with a host-side
//! self-attention cache, and scores whole candidate sequences in one pass.

use super::Encoded;
use crate::error::RuntimeError;
use crate::generate::{Scorer, SequenceScorer};
use crate::session::{GraphSession, Input};
use ndarray::{Array, Array2, Array3, ArrayD, Axis, IxDyn};
use unival_manifest::io;

/// Per-layer self-attention cache, `[rows, heads, past, head_dim]` each.
struct LayerCache {
    k: ArrayD<f32>,
    v: ArrayD<f32>,
}

/// A decoder over one encoded input. Cross-attention K/V stay as the encoder produced them
/// (batch 1, broadcast over the rows inside the graph); only the self-attention cache grows.
pub struct StepDecoder<'a> {
    graph: &'a mut GraphSession,
    enc: &'a Encoded,
    heads: usize,
    head_dim: usize,
    cache: Vec<LayerCache>,
    past_len: usize,
    names: Vec<LayerNames>,
}

/// I/O names of one decoder layer, built once.
struct LayerNames {
    cross_k: String,
    cross_v: String,
    past_k: String,
    past_v: String,
    present_k: String,
    present_v: String,
}

impl<'a> StepDecoder<'a> {
    pub(super) fn new(
        graph: &'a mut GraphSession,
        enc: &'a Encoded,
        layers: usize,
        heads: usize,
        head_dim: usize,
    ) -> Self {
        let names = (0..layers)
            .map(|l| LayerNames {
                cross_k: io::cross_k(l),
                cross_v: io::cross_v(l),
                past_k: io::past_self_k(l),
                past_v: io::past_self_v(l),
                present_k: io::present_self_k(l),
                present_v: io::present_self_v(l),
            })
            .collect();
        StepDecoder {
            graph,
            enc,
            heads,
            head_dim,
            cache: Vec::new(),
            past_len: 0,
            names,
        }
    }

    fn empty_cache(&self, rows: usize) -> Vec<LayerCache> {
        self.names
            .iter()
            .map(|_| {
                let z = ArrayD::<f32>::zeros(IxDyn(&[rows, self.heads, 0, self.head_dim]));
                LayerCache { k: z.clone(), v: z }
            })
            .collect()
    }

    /// Runs `tokens [rows, t]` at positions `past_len ..` against `cache`; returns the logits
    /// `[rows, t, vocab]` and the grown cache.
    fn run(
        &mut self,
        tokens: ArrayD<i64>,
        past_len: usize,
        cache: &[LayerCache],
    ) -> Result<(ArrayD<f32>, Vec<LayerCache>), RuntimeError> {
        let past = Array::from_elem(IxDyn(&[]), past_len as i64);
        let out = &self.enc.outputs;
        let mut inputs: Vec<(&str, Input)> = vec![
            (io::TOKENS, Input::from(&tokens)),
            (io::PAST_LEN, Input::from(&past)),
            (
                io::ENCODER_PADDING_MASK,
                Input::Value(out.get(io::ENCODER_PADDING_MASK)?),
            ),
            (io::CROSS_POS_K, Input::Value(out.get(io::CROSS_POS_K)?)),
        ];
        for (n, c) in self.names.iter().zip(cache) {
            inputs.push((&n.cross_k, Input::Value(out.get(&n.cross_k)?)));
            inputs.push((&n.cross_v, Input::Value(out.get(&n.cross_v)?)));
            inputs.push((&n.past_k, Input::from(&c.k)));
            inputs.push((&n.past_v, Input::from(&c.v)));
        }
        let result = self.graph.run(&inputs)?;
        let mut grown = Vec::with_capacity(self.names.len());
        for n in &self.names {
            grown.push(LayerCache {
                k: result.f32(&n.present_k)?,
                v: result.f32(&n.present_v)?,
            });
        }
        Ok((result.f32(io::LOGITS)?, grown))
    }

    fn shape_error(&self, reason: String) -> RuntimeError {
        RuntimeError::BadShape {
            graph: io::graph::DECODER.to_string(),
            reason,
        }
    }
}

impl Scorer for StepDecoder<'_> {
    type Error = RuntimeError;

    fn next_logits(
        &mut self,
        _step: usize,
        last_tokens: &[i64],
    ) -> Result<Array2<f32>, RuntimeError> {
        let rows = last_tokens.len();
        if self.cache.is_empty() {
            self.cache = self.empty_cache(rows);
            self.past_len = 0;
        }
        let tokens = Array::from_shape_vec(IxDyn(&[rows, 1]), last_tokens.to_vec())
            .map_err(|e| self.shape_error(e.to_string()))?;
        let cache = std::mem::take(&mut self.cache);
        let (logits, grown) = self.run(tokens, self.past_len, &cache)?;
        self.cache = grown;
        self.past_len += 1;
        let vocab = logits.shape().last().copied().unwrap_or(0);
        logits
            .into_shape_with_order((rows, vocab))
            .map_err(|e| self.shape_error(format!("logits: {e}")))
    }

    fn reorder(&mut self, indices: &[usize]) -> Result<(), RuntimeError> {
        let identity = self
            .cache
            .first()
            .is_some_and(|c| c.k.shape()[0] == indices.len())
            && indices.iter().enumerate().all(|(i, &j)| i == j);
        if identity {
            return Ok(());
        }
        for c in &mut self.cache {
            c.k = c.k.select(Axis(0), indices);
            c.v = c.v.select(Axis(0), indices);
        }
        Ok(())
    }
}

impl SequenceScorer for StepDecoder<'_> {
    type Error = RuntimeError;

    fn full_logits(
        &mut self,
        prev_output_tokens: &Array2<i64>,
    ) -> Result<Array3<f32>, RuntimeError> {
        let (rows, len) = prev_output_tokens.dim();
        let cache = self.empty_cache(rows);
        let (logits, _) = self.run(prev_output_tokens.clone().into_dyn(), 0, &cache)?;
        let vocab = logits.shape().last().copied().unwrap_or(0);
        logits
            .into_shape_with_order((rows, len, vocab))
            .map_err(|e| self.shape_error(format!("logits: {e}")))
    }
}
