//! Beam search for many sentences over one batched decoder: every step feeds the live rows of
//! all unfinished sentences to the model in one call (`Σ rows` = N × beam once past step 0),
//! then each sentence's own [`BeamState`] takes its rows' logits — finalisation, n-gram
//! blocking, forced prefixes, answer tries and min/max lengths stay per sentence, so each result
//! is the one [`super::beam_search`] gives that sentence alone (docs/model.md §6.1).
//!
//! Unlike fairseq's batched `SequenceGenerator`, `max_len` comes from each sentence's own source
//! length, not from the padded batch's, so batching never changes a result. A finished sentence
//! leaves the batch (its rows are dropped by the next reorder), as fairseq's `finalized_sents`
//! do.

use super::beam::BeamState;
use super::constraints::Constraints;
use super::hypotheses::Hypothesis;
use super::options::SearchOptions;
use super::{BoxedError, GenerateError, Result};
use ndarray::{s, Array2};
use std::sync::Arc;

/// The model side of a batched search: next-token logits for the live rows of several
/// sentences at once, and their cache reordering.
pub trait BatchScorer {
    /// The scorer's failure type; every sentence still searching fails with it, wrapped in
    /// [`GenerateError::Scorer`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// Pre-softmax logits `[rows, vocab]` for the next token of each live row. `row_items[r]`
    /// is the sentence (index into the batch's items) row `r` belongs to: a sentence's rows are
    /// contiguous and sentences come in increasing order. `allowed`, when given, lists the ids
    /// each row may take (as in [`super::Scorer::next_logits_restricted`]); other entries may
    /// hold anything.
    fn next_logits(
        &mut self,
        step: usize,
        last_tokens: &[i64],
        row_items: &[usize],
        allowed: Option<&[&[i64]]>,
    ) -> Result<Array2<f32>, Self::Error>;

    /// Reorders/duplicates/drops rows: new row `i` continues old row `indices[i]`.
    fn reorder(&mut self, indices: &[usize]) -> Result<(), Self::Error>;
}

/// One sentence of a batch: its search options, constraints and source length (`src_len` of
/// `max_len_a · src_len + max_len_b`, unpadded).
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    pub opts: &'a SearchOptions,
    pub constraints: &'a Constraints,
    pub src_len: usize,
}

/// A scorer failure shared by every sentence it stopped.
#[derive(Debug, Clone)]
struct SharedFailure(Arc<BoxedError>);

impl std::fmt::Display for SharedFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Runs the beam searches of `items` together over `scorer`. Returns one result per item, in
/// order: the hypotheses [`super::beam_search`] would return for it alone, or its own error (an
/// invalid option or constraint fails only its sentence; a scorer failure fails every sentence
/// still searching).
pub fn beam_search_batch<S: BatchScorer>(
    scorer: &mut S,
    items: &[BatchItem<'_>],
) -> Vec<Result<Vec<Hypothesis>>> {
    let mut results: Vec<Option<Result<Vec<Hypothesis>>>> = Vec::with_capacity(items.len());
    let mut states: Vec<Option<BeamState>> = Vec::with_capacity(items.len());
    for it in items {
        match BeamState::new(it.opts, it.constraints, it.src_len) {
            Ok(s) => {
                states.push(Some(s));
                results.push(None);
            }
            Err(e) => {
                states.push(None);
                results.push(Some(Err(e)));
            }
        }
    }
    let mut step = 0;
    while states.iter().any(Option::is_some) {
        if let Err(e) = batch_step(scorer, &mut states, &mut results, step) {
            let failure = SharedFailure(Arc::new(Box::new(e)));
            for (state, result) in states.iter_mut().zip(&mut results) {
                if state.take().is_some() {
                    *result = Some(Err(GenerateError::Scorer {
                        step,
                        source: Box::new(failure.clone()),
                    }));
                }
            }
        }
        step += 1;
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Ok(Vec::new())))
        .collect()
}

/// One step of every live sentence: one scorer call, each sentence advanced by its rows'
/// logits (finished or failed ones leave `states`), then one reorder for the survivors.
fn batch_step<S: BatchScorer>(
    scorer: &mut S,
    states: &mut [Option<BeamState>],
    results: &mut [Option<Result<Vec<Hypothesis>>>],
    step: usize,
) -> Result<(), S::Error> {
    let mut last_tokens = Vec::new();
    let mut row_items = Vec::new();
    let mut allowed: Option<Vec<&[i64]>> = Some(Vec::new());
    for (item, state) in states.iter_mut().enumerate() {
        let Some(state) = state else { continue };
        last_tokens.extend_from_slice(state.last_tokens());
        row_items.extend(std::iter::repeat_n(item, state.last_tokens().len()));
        allowed = match (allowed, state.allowed()) {
            (Some(mut all), Some(rows)) => {
                all.extend(rows);
                Some(all)
            }
            _ => None,
        };
    }
    let logits = scorer.next_logits(step, &last_tokens, &row_items, allowed.as_deref())?;
    let mut order = Vec::new();
    let mut first_row = 0;
    for (item, state) in states.iter_mut().enumerate() {
        let Some(live) = state else { continue };
        let rows = live.last_tokens().len();
        // Short logits leave a sentence fewer rows, which its own shape check reports.
        let start = first_row.min(logits.nrows());
        let end = (first_row + rows).min(logits.nrows());
        let mine = logits.slice(s![start..end, ..]).to_owned();
        match live.advance(mine) {
            Ok(Some(local)) => order.extend(local.iter().map(|r| first_row + r)),
            Ok(None) => {
                if let Some(done) = state.take() {
                    results[item] = Some(Ok(done.into_hypotheses()));
                }
            }
            Err(e) => {
                *state = None;
                results[item] = Some(Err(e));
            }
        }
        first_row += rows;
    }
    if !order.is_empty() {
        scorer.reorder(&order)?;
    }
    Ok(())
}
