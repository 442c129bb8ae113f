//! The model side of search, as traits: the lead implements them over ONNX Runtime; tests
//! implement them with deterministic fakes.

use ndarray::{Array2, Array3};

/// Incremental next-token scorer for one input sentence (decoder with per-row KV caches).
pub trait Scorer {
    /// The scorer's failure type; the search wraps it in [`super::GenerateError::Scorer`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// Pre-softmax logits `[rows, vocab]` for the next token of each live row, given the token
    /// each row appended last (`last_tokens`, `len = rows`) and the current step (0-based; the
    /// row's length before this token is `step + 1` including BOS). Rows keep their KV caches.
    ///
    /// The search calls it with one row (`[BOS]`) at step 0 and with `beam` rows afterwards.
    fn next_logits(&mut self, step: usize, last_tokens: &[i64])
        -> Result<Array2<f32>, Self::Error>;

    /// [`Scorer::next_logits`] for a step where row `r` may only take the ids in `allowed[r]`
    /// (sorted, unique, `len = rows`: the answer trie's children, docs/model.md §6.3). The search
    /// masks every other id to −inf *before* log-softmax, so only the allowed entries are read: a
    /// scorer may compute just those rows of the output projection and leave anything (e.g.
    /// −inf) elsewhere; the search result is the same. The default computes the full logits.
    fn next_logits_restricted(
        &mut self,
        step: usize,
        last_tokens: &[i64],
        allowed: &[&[i64]],
    ) -> Result<Array2<f32>, Self::Error> {
        let _ = allowed;
        self.next_logits(step, last_tokens)
    }

    /// Reorders/duplicates rows: new row `i` continues old row `indices[i]` (`index_select` on
    /// dim 0). After step 0 this expands the single row to `beam` rows (`indices = [0; beam]`).
    fn reorder(&mut self, indices: &[usize]) -> Result<(), Self::Error>;
}

/// Full-sequence (non-incremental, causal) scorer used by option scoring (docs/model.md §5.4).
pub trait SequenceScorer {
    /// The scorer's failure type; wrapped in [`super::GenerateError::Scorer`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// Pre-softmax logits `[N, T, vocab]` for decoder inputs `prev_output_tokens` `[N, T]`
    /// (right-padded with PAD; padded positions' logits are ignored).
    fn full_logits(&mut self, prev_output_tokens: &Array2<i64>)
        -> Result<Array3<f32>, Self::Error>;
}
