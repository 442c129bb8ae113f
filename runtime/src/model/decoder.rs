//! The step decoder: drives the `decoder` graph one token per row per step and scores whole
//! candidate sequences in one pass (docs/model.md §2.10–2.11).
//!
//! Per step the host does as little as possible: the self-attention cache stays as the ONNX
//! Runtime values the previous run returned (`present_*` fed back as `past_*`, no copy), and
//! the search's beam reorder is only recorded: the next run feeds it as `beam_order` and the
//! graph gathers each layer's cache rows where the cache lives. By default ([`StepMode::Bound`])
//! steps run through an I/O binding: the cache is allocated in the provider's memory (device
//! memory under CUDA/TensorRT) and never visits the host, the logits come back to the host, and
//! the encoder's outputs are bound once per input rather than passed on every step. Manifest
//! format 2 guarantees the decoder takes `beam_order` and `vocab_rows`.
//!
//! ONNX Runtime inference builds execute the whole graph whatever outputs a run asks for
//! (`RunOptions.only_execute_path_to_fetches` is training-only), so the graph itself chooses:
//! its `vocab_rows` input picks, through an `If`, the full output projection (empty) or only the
//! listed rows of it. Constrained steps ([`Scorer::next_logits_restricted`]) ask for the union
//! of the rows' allowed ids ([`super::restrict`]).

use super::cross_rows::Layout;
use super::restrict::{rows_to_score, scatter_rows};
use super::Encoded;
use crate::engine::session::{GraphBinding, GraphOutputs, GraphSession, Input, Place};
use crate::error::RuntimeError;
use crate::generate::{BatchScorer, Scorer, SequenceScorer};
use ndarray::{Array, Array1, Array2, Array3, ArrayD, IxDyn};
use ort::value::DynValue;
use unival_manifest::io;

/// How decoder steps run; the graph gathers the cache by `beam_order` in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StepMode {
    /// Plain runs, the cache passed in and out as ONNX Runtime values.
    GraphReorder,
    /// Runs through an I/O binding, the cache kept in the provider's memory (the default).
    #[default]
    Bound,
}

/// Per-layer self-attention cache, `[rows, heads, past, head_dim]` each, as ONNX Runtime holds
/// it (in host memory, or the provider's under [`StepMode::Bound`]).
struct LayerCache {
    k: DynValue,
    v: DynValue,
}

/// A decoder over one encoded input, or a batch of them ([`BatchScorer`]). Cross-attention K/V
/// stay as the encoder produced them (batch 1, broadcast over the rows inside the graph) unless
/// a batch's rows need them repeated ([`Layout`]); only the self-attention cache grows.
pub struct StepDecoder<'a> {
    graph: &'a mut GraphSession,
    enc: &'a Encoded,
    /// How the encoder's outputs line up with the rows.
    layout: Layout,
    heads: usize,
    head_dim: usize,
    /// Empty before the first step.
    cache: Vec<LayerCache>,
    /// Rows of every cache tensor.
    cache_rows: usize,
    past_len: usize,
    names: Vec<LayerNames>,
    mode: StepMode,
    /// The order the next step gathers the cache by, when not the identity (graph reorder).
    pending: Option<Vec<i64>>,
    /// Made at the first bound step; the encoder's outputs stay bound from then on.
    binding: Option<GraphBinding>,
    /// The `vocab_rows` input fed with the next run: empty (every row) except during a
    /// restricted step.
    vocab_rows: ArrayD<i64>,
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
        StepDecoder {
            graph,
            enc,
            layout: Layout::AsEncoded,
            heads,
            head_dim,
            cache: Vec::new(),
            cache_rows: 0,
            past_len: 0,
            names,
            mode: StepMode::default(),
            pending: None,
            binding: None,
            vocab_rows: all_rows(),
            vocab: 0,
        }
    }

    /// Sets the vocabulary size (the manifest's), which enables row-restricted constrained
    /// steps.
    pub(super) fn with_vocab(mut self, vocab: usize) -> Self {
        self.vocab = vocab;
        self
    }

    /// The mode steps run in.
    pub fn mode(&self) -> StepMode {
        self.mode
    }

    /// Chooses how steps run, before the first step; every mode gives the same logits (the
    /// choice is for speed and for tests).
    pub fn set_mode(&mut self, mode: StepMode) -> Result<(), RuntimeError> {
        if !self.cache.is_empty() {
            return Err(self.shape_error("the step mode is fixed once decoding started".into()));
        }
        self.mode = mode;
        Ok(())
    }

    /// Runs `tokens [rows, t]` at positions `past_len ..` against the current cache gathered by
    /// `order` (or an empty one for `rows` when `use_cache` is false or nothing is cached yet),
    /// as a plain run. With `keep` the grown cache replaces the current one (taken out of the
    /// returned outputs).
    fn run(
        &mut self,
        tokens: &ArrayD<i64>,
        order: &Array1<i64>,
        use_cache: bool,
        keep: bool,
    ) -> Result<GraphOutputs, RuntimeError> {
        let rows = tokens.shape().first().copied().unwrap_or(0);
        let cached = use_cache && !self.cache.is_empty();
        let past_len = if cached { self.past_len } else { 0 };
        let past = Array::from_elem(IxDyn(&[]), past_len as i64);
        let empty = ArrayD::<f32>::zeros(IxDyn(&[rows, self.heads, 0, self.head_dim]));
        let mut inputs: Vec<(&str, Input)> = vec![
            (io::TOKENS, Input::from(tokens)),
            (io::PAST_LEN, Input::from(&past)),
            (io::BEAM_ORDER, Input::from(order)),
            (io::VOCAB_ROWS, Input::from(&self.vocab_rows)),
        ];
        inputs.extend(self.layout.inputs(self.enc, cross_names(&self.names))?);
        for (l, n) in self.names.iter().enumerate() {
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
            self.keep_presents(
                &mut result,
                rows,
                past_len + tokens.shape().get(1).unwrap_or(&0),
            )?;
        }
        Ok(result)
    }

    /// Moves the `present_*` outputs into the cache, now `rows` rows of `past_len` positions.
    fn keep_presents(
        &mut self,
        result: &mut GraphOutputs,
        rows: usize,
        past_len: usize,
    ) -> Result<(), RuntimeError> {
        let mut grown = Vec::with_capacity(self.names.len());
        for n in &self.names {
            grown.push(LayerCache {
                k: result.take(&n.present_k)?,
                v: result.take(&n.present_v)?,
            });
        }
        self.cache = grown;
        self.cache_rows = rows;
        self.past_len = past_len;
        Ok(())
    }

    /// One bound step: only the token ids, `past_len`, the order and the cache values (already
    /// in the provider's memory) are rebound; the encoder's outputs stay bound from the first
    /// step on.
    fn step_bound(
        &mut self,
        tokens: &ArrayD<i64>,
        order: &Array1<i64>,
    ) -> Result<GraphOutputs, RuntimeError> {
        let rows = tokens.shape().first().copied().unwrap_or(0);
        let past_len = self.past_len;
        let mut b = match self.binding.take() {
            Some(b) => b,
            None => new_binding(self.graph, self.enc, &self.layout, &self.names)?,
        };
        let result = self
            .bind_step(&mut b, tokens, order, rows)
            .and_then(|()| self.graph.run_bound(&mut b));
        self.binding = Some(b);
        let mut result = result?;
        self.keep_presents(&mut result, rows, past_len + 1)?;
        Ok(result)
    }

    /// Binds what changes between steps: tokens, `past_len`, the order and the cache (an
    /// empty one of `rows` rows before the first step).
    fn bind_step(
        &self,
        b: &mut GraphBinding,
        tokens: &ArrayD<i64>,
        order: &Array1<i64>,
        rows: usize,
    ) -> Result<(), RuntimeError> {
        let past = Array::from_elem(IxDyn(&[]), self.past_len as i64);
        b.bind_input(io::TOKENS, Input::from(tokens))?;
        b.bind_input(io::PAST_LEN, Input::from(&past))?;
        b.bind_input(io::BEAM_ORDER, Input::from(order))?;
        b.bind_input(io::VOCAB_ROWS, Input::from(&self.vocab_rows))?;
        if self.cache.is_empty() {
            let empty = ArrayD::<f32>::zeros(IxDyn(&[rows, self.heads, 0, self.head_dim]));
            for n in &self.names {
                b.bind_input(&n.past_k, Input::from(&empty))?;
                b.bind_input(&n.past_v, Input::from(&empty))?;
            }
        } else {
            for (n, c) in self.names.iter().zip(&self.cache) {
                b.bind_input(&n.past_k, Input::Value(&c.k))?;
                b.bind_input(&n.past_v, Input::Value(&c.v))?;
            }
        }
        Ok(())
    }

    /// One generation step: `last_tokens` at the next position, the cache grown by one and
    /// reordered by the pending order first.
    fn step(&mut self, last_tokens: &[i64]) -> Result<GraphOutputs, RuntimeError> {
        let rows = last_tokens.len();
        let tokens = Array::from_shape_vec(IxDyn(&[rows, 1]), last_tokens.to_vec())
            .map_err(|e| self.shape_error(e.to_string()))?;
        let order = match self.pending.take() {
            Some(order) if !self.cache.is_empty() => order,
            _ => (0..rows as i64).collect(),
        };
        if order.len() != rows {
            return Err(self.shape_error(format!(
                "{rows} tokens for a cache reordered to {} rows",
                order.len()
            )));
        }
        let order = Array1::from(order);
        match self.mode {
            StepMode::Bound => self.step_bound(&tokens, &order),
            StepMode::GraphReorder => self.run(&tokens, &order, true, true),
        }
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

/// The cross-attention key and value input names of every layer.
fn cross_names(names: &[LayerNames]) -> impl Iterator<Item = (&str, &str)> {
    names
        .iter()
        .map(|n| (n.cross_k.as_str(), n.cross_v.as_str()))
}

/// A binding of the decoder for bound steps over `enc`: the encoder's outputs bound (in
/// `layout`), the logits placed on the host and the presents in the provider's memory.
fn new_binding(
    graph: &GraphSession,
    enc: &Encoded,
    layout: &Layout,
    names: &[LayerNames],
) -> Result<GraphBinding, RuntimeError> {
    let mut b = graph.binding()?;
    for (name, input) in layout.inputs(enc, cross_names(names))? {
        b.bind_input(name, input)?;
    }
    b.bind_output(io::LOGITS, Place::Host)?;
    for n in names {
        b.bind_output(&n.present_k, Place::Device)?;
        b.bind_output(&n.present_v, Place::Device)?;
    }
    Ok(b)
}

/// `pending ∘ indices`: new row `i` continues row `indices[i]` of the order already pending
/// (of `rows` cache rows when none is), checked against the rows it indexes.
fn compose_order(
    pending: Option<&[i64]>,
    indices: &[usize],
    rows: usize,
) -> Result<Vec<i64>, String> {
    let len = pending.map_or(rows, <[i64]>::len);
    indices
        .iter()
        .map(|&i| match pending {
            _ if i >= len => Err(format!("row {i} of a cache with {len} rows")),
            Some(p) => Ok(p[i]),
            None => Ok(i as i64),
        })
        .collect()
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

    /// Computes only the union of the rows' allowed ids (see the module `restrict` for why the
    /// search result is exact), scattered into `[rows, vocab]` with −inf elsewhere. Falls back
    /// to [`Scorer::next_logits`] when the union covers more than half the vocabulary.
    fn next_logits_restricted(
        &mut self,
        step: usize,
        last_tokens: &[i64],
        allowed: &[&[i64]],
    ) -> Result<Array2<f32>, RuntimeError> {
        let Some(ids) = rows_to_score(allowed, self.vocab) else {
            return Scorer::next_logits(self, step, last_tokens);
        };
        let rows = last_tokens.len();
        self.vocab_rows = Array::from(ids.clone()).into_dyn();
        let out = self.step(last_tokens);
        self.vocab_rows = all_rows();
        let out = out?;
        scatter_rows(out.view::<f32>(io::LOGITS)?, &ids, rows, self.vocab)
            .map_err(|e| self.shape_error(e))
    }

    fn reorder(&mut self, indices: &[usize]) -> Result<(), RuntimeError> {
        if self.cache.is_empty() {
            return Ok(());
        }
        let order = compose_order(self.pending.as_deref(), indices, self.cache_rows)
            .map_err(|e| self.shape_error(e))?;
        self.pending = Some(order);
        Ok(())
    }
}

impl StepDecoder<'_> {
    /// Lines the encoder's outputs up with rows of inputs `row_items`; a new layout is bound
    /// afresh at the next bound step.
    fn set_row_items(&mut self, row_items: &[usize]) -> Result<(), RuntimeError> {
        let layers = self.names.len();
        if let Some(layout) = Layout::for_rows(self.enc, row_items, &self.layout, layers)? {
            self.layout = layout;
            self.binding = None;
        }
        Ok(())
    }
}

impl BatchScorer for StepDecoder<'_> {
    type Error = RuntimeError;

    fn next_logits(
        &mut self,
        step: usize,
        last_tokens: &[i64],
        row_items: &[usize],
        allowed: Option<&[&[i64]]>,
    ) -> Result<Array2<f32>, RuntimeError> {
        self.set_row_items(row_items)?;
        match allowed {
            Some(allowed) => Scorer::next_logits_restricted(self, step, last_tokens, allowed),
            None => Scorer::next_logits(self, step, last_tokens),
        }
    }

    fn reorder(&mut self, indices: &[usize]) -> Result<(), RuntimeError> {
        Scorer::reorder(self, indices)
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
        let identity = Array1::from_iter(0..rows as i64);
        let out = self.run(&tokens, &identity, false, false)?;
        let logits = out.view::<f32>(io::LOGITS)?;
        let vocab = logits.shape().last().copied().unwrap_or(0);
        logits
            .to_owned()
            .into_shape_with_order((rows, len, vocab))
            .map_err(|e| self.shape_error(format!("logits: {e}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reorders_compose_until_the_next_step() {
        // Expand one row to three, then pick rows 2, 0, 0 of that.
        let first = compose_order(None, &[0, 0, 0], 1).unwrap();
        assert_eq!(first, [0, 0, 0]);
        let pending = [4, 1, 3];
        assert_eq!(
            compose_order(Some(&pending), &[2, 0, 0], 9).unwrap(),
            [3, 4, 4]
        );
        assert!(compose_order(None, &[0, 2], 2).is_err());
        assert!(compose_order(Some(&pending), &[3], 9).is_err());
    }
}
