//! The step decoder: drives the `decoder` graph one token per row per step and scores whole
//! candidate sequences in one pass (spec §2.10–2.11).
//!
//! Per step the host does as little as possible: the self-attention cache stays as the ONNX
//! Runtime values the previous run returned (`present_*` fed back as `past_*`, no copy), and
//! beam reordering gathers rows straight from those values into one new tensor per cache
//! (skipped when the order is the identity).
//!
//! ONNX Runtime inference builds execute the whole graph whatever outputs a run asks for
//! (`RunOptions.only_execute_path_to_fetches` is training-only), so the graph itself chooses:
//! its `vocab_rows` input picks, through an `If`, the full output projection (empty) or only the
//! listed rows of it. Constrained steps ([`Scorer::next_logits_restricted`]) ask for the union
//! of the rows' allowed ids ([`super::restrict`]); bundles exported before that input existed
//! always run the full projection.

use super::restrict::{rows_to_score, scatter_rows};
use super::Encoded;
use crate::error::RuntimeError;
use crate::generate::{Scorer, SequenceScorer};
use crate::session::{GraphOutputs, GraphSession, Input};
use ndarray::{Array, Array2, Array3, ArrayD, IxDyn};
use ort::value::{DynValue, Tensor};
use unival_manifest::io;

/// Per-layer self-attention cache, `[rows, heads, past, head_dim]` each, as ONNX Runtime holds
/// it.
struct LayerCache {
    k: DynValue,
    v: DynValue,
}

/// A decoder over one encoded input. Cross-attention K/V stay as the encoder produced them
/// (batch 1, broadcast over the rows inside the graph); only the self-attention cache grows.
pub struct StepDecoder<'a> {
    graph: &'a mut GraphSession,
    enc: &'a Encoded,
    heads: usize,
    head_dim: usize,
    /// Empty before the first step.
    cache: Vec<LayerCache>,
    past_len: usize,
    names: Vec<LayerNames>,
    /// The `vocab_rows` input fed with the next run: empty (every row) except during a
    /// restricted step; `None` when the graph has no such input (older bundles).
    vocab_rows: Option<ArrayD<i64>>,
    /// Vocabulary size (rows of the output projection); 0 until [`StepDecoder::with_vocab`],
    /// which keeps every step on the full projection.
    vocab: usize,
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
        let restrictable = graph.spec().inputs.iter().any(|s| s.name == io::VOCAB_ROWS);
        StepDecoder {
            graph,
            enc,
            heads,
            head_dim,
            cache: Vec::new(),
            past_len: 0,
            names,
            vocab_rows: restrictable.then(all_rows),
            vocab: 0,
        }
    }

    /// Sets the vocabulary size (the manifest's), which enables row-restricted constrained
    /// steps on graphs that support them.
    pub(super) fn with_vocab(mut self, vocab: usize) -> Self {
        self.vocab = vocab;
        self
    }

    /// Runs `tokens [rows, t]` at positions `past_len ..` against the current cache (or an
    /// empty one for `rows` when `use_cache` is false or nothing is cached yet). With `keep`
    /// the grown cache replaces the current one (taken out of the returned outputs).
    fn run(
        &mut self,
        tokens: &ArrayD<i64>,
        use_cache: bool,
        keep: bool,
    ) -> Result<GraphOutputs, RuntimeError> {
        let rows = tokens.shape().first().copied().unwrap_or(0);
        let cached = use_cache && !self.cache.is_empty();
        let past_len = if cached { self.past_len } else { 0 };
        let past = Array::from_elem(IxDyn(&[]), past_len as i64);
        let empty = ArrayD::<f32>::zeros(IxDyn(&[rows, self.heads, 0, self.head_dim]));
        let out = &self.enc.outputs;
        let mut inputs: Vec<(&str, Input)> = vec![
            (io::TOKENS, Input::from(tokens)),
            (io::PAST_LEN, Input::from(&past)),
            (
                io::ENCODER_PADDING_MASK,
                Input::Value(out.get(io::ENCODER_PADDING_MASK)?),
            ),
            (io::CROSS_POS_K, Input::Value(out.get(io::CROSS_POS_K)?)),
        ];
        if let Some(rows) = &self.vocab_rows {
            inputs.push((io::VOCAB_ROWS, Input::from(rows)));
        }
        for (l, n) in self.names.iter().enumerate() {
            inputs.push((&n.cross_k, Input::Value(out.get(&n.cross_k)?)));
            inputs.push((&n.cross_v, Input::Value(out.get(&n.cross_v)?)));
            match self.cache.get(l).filter(|_| cached) {
                Some(c) => {
                    inputs.push((&n.past_k, Input::Value(&c.k)));
                    inputs.push((&n.past_v, Input::Value(&c.v)));
                }
                None => {
                    inputs.push((&n.past_k, Input::from(&empty)));
                    inputs.push((&n.past_v, Input::from(&empty)));
                }
            }
        }
        let mut result = self.graph.run(&inputs)?;
        drop(inputs);
        if keep {
            let mut grown = Vec::with_capacity(self.names.len());
            for n in &self.names {
                grown.push(LayerCache {
                    k: result.take(&n.present_k)?,
                    v: result.take(&n.present_v)?,
                });
            }
            self.cache = grown;
            self.past_len = past_len + tokens.shape().get(1).copied().unwrap_or(0);
        }
        Ok(result)
    }

    /// One generation step: `last_tokens` at the next position, the cache grown by one.
    fn step(&mut self, last_tokens: &[i64]) -> Result<GraphOutputs, RuntimeError> {
        let rows = last_tokens.len();
        let tokens = Array::from_shape_vec(IxDyn(&[rows, 1]), last_tokens.to_vec())
            .map_err(|e| self.shape_error(e.to_string()))?;
        self.run(&tokens, true, true)
    }

    fn shape_error(&self, reason: String) -> RuntimeError {
        RuntimeError::BadShape {
            graph: io::graph::DECODER.to_string(),
            reason,
        }
    }
}

/// The `vocab_rows` value asking for every row: `[0]`.
fn all_rows() -> ArrayD<i64> {
    ArrayD::zeros(IxDyn(&[0]))
}

/// `[n, …]` value → `[indices.len(), …]` with row `i` = old row `indices[i]`, in one new tensor.
fn gather_rows(value: &DynValue, indices: &[usize]) -> Result<DynValue, String> {
    let (shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| format!("cache is not an f32 host tensor: {e}"))?;
    let n = shape.first().copied().unwrap_or(0).max(0) as usize;
    let row = data.len().checked_div(n).unwrap_or(0);
    let mut out = Vec::with_capacity(indices.len() * row);
    for &i in indices {
        if i >= n {
            return Err(format!("row {i} of a cache with {n} rows"));
        }
        out.extend_from_slice(&data[i * row..(i + 1) * row]);
    }
    let mut dims: Vec<i64> = shape.iter().copied().collect();
    if let Some(first) = dims.first_mut() {
        *first = indices.len() as i64;
    }
    Tensor::from_array((dims, out))
        .map(|t| t.into_dyn())
        .map_err(|e| e.to_string())
}

impl Scorer for StepDecoder<'_> {
    type Error = RuntimeError;

    fn next_logits(
        &mut self,
        _step: usize,
        last_tokens: &[i64],
    ) -> Result<Array2<f32>, RuntimeError> {
        let rows = last_tokens.len();
        let out = self.step(last_tokens)?;
        let logits = out.view::<f32>(io::LOGITS)?;
        let vocab = logits.shape().last().copied().unwrap_or(0);
        logits
            .to_owned()
            .into_shape_with_order((rows, vocab))
            .map_err(|e| self.shape_error(format!("logits: {e}")))
    }

    /// Computes only the union of the rows' allowed ids (see [`super::restrict`] for why the
    /// search result is exact), scattered into `[rows, vocab]` with −inf elsewhere. Falls back
    /// to [`Scorer::next_logits`] on graphs without `vocab_rows` and when the union covers
    /// more than half the vocabulary.
    fn next_logits_restricted(
        &mut self,
        step: usize,
        last_tokens: &[i64],
        allowed: &[&[i64]],
    ) -> Result<Array2<f32>, RuntimeError> {
        let ids = match &self.vocab_rows {
            Some(_) => rows_to_score(allowed, self.vocab),
            None => None,
        };
        let Some(ids) = ids else {
            return self.next_logits(step, last_tokens);
        };
        let rows = last_tokens.len();
        self.vocab_rows = Some(Array::from(ids.clone()).into_dyn());
        let out = self.step(last_tokens);
        self.vocab_rows = Some(all_rows());
        let out = out?;
        scatter_rows(out.view::<f32>(io::LOGITS)?, &ids, rows, self.vocab)
            .map_err(|e| self.shape_error(e))
    }

    fn reorder(&mut self, indices: &[usize]) -> Result<(), RuntimeError> {
        let rows = self
            .cache
            .first()
            .and_then(|c| c.k.try_extract_tensor::<f32>().ok())
            .and_then(|(shape, _)| shape.first().copied())
            .unwrap_or(0);
        let identity =
            rows == indices.len() as i64 && indices.iter().enumerate().all(|(i, &j)| i == j);
        if identity || self.cache.is_empty() {
            return Ok(());
        }
        let mut cache = std::mem::take(&mut self.cache);
        for c in &mut cache {
            c.k = gather_rows(&c.k, indices).map_err(|e| self.shape_error(e))?;
            c.v = gather_rows(&c.v, indices).map_err(|e| self.shape_error(e))?;
        }
        self.cache = cache;
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
        let tokens = prev_output_tokens.clone().into_dyn();
        let out = self.run(&tokens, false, false)?;
        let logits = out.view::<f32>(io::LOGITS)?;
        let vocab = logits.shape().last().copied().unwrap_or(0);
        logits
            .to_owned()
            .into_shape_with_order((rows, len, vocab))
            .map_err(|e| self.shape_error(format!("logits: {e}")))
    }
}
