//! Search over the decoder: fairseq's `SequenceGenerator` reproduced exactly (docs/model.md §6,
//! with the corrections of §0.1 items 1 and 2), plus greedy decoding and option scoring (§5.4).
//!
//! The search knows nothing about ONNX: it talks to a [`Scorer`] (next-token logits per live row,
//! cache reordering) or, for option scoring, a [`SequenceScorer`] (full-sequence logits), so every
//! rule is unit-tested with fake scorers.
//!
//! Layout:
//! - [`options`]: [`SearchOptions`] (fairseq's flag names), the caller's [`SearchOverrides`]
//!   resolved against the bundle's defaults, and their validation;
//! - [`scorer`]: the model-side traits;
//! - [`logits`], [`ngram`], [`constraints`]: the logits processors, each a small type;
//! - [`trie`]: the answer-constraint trie (`utils/trie.py`);
//! - [`topk`]: partial top-k selection with a documented tie rule;
//! - [`hypotheses`]: finished hypotheses ([`Hypothesis`], [`BeamHypotheses`]);
//! - [`beam`], [`mod@greedy`], [`option_scoring`]: the entry points;
//! - [`batch`]: many sentences' beam searches over one batched decoder ([`BatchScorer`]).
//!
//! Numerics follow torch on CPU in fp32: log-softmax is `(x − max) − ln Σ exp(x − max)` in f32,
//! the sum accumulated in sixteen f32 lanes like torch's vectorised kernel (lane order differs,
//! so results agree to about 1e-6 relative, not bit for bit), and cumulative scores are
//! accumulated in f32 exactly as torch adds them.

pub mod batch;
pub mod beam;
pub mod constraints;
pub mod greedy;
pub mod hypotheses;
pub mod logits;
pub mod ngram;
pub mod option_scoring;
pub mod options;
mod processors;
pub mod scorer;
pub mod topk;
pub mod trie;

#[cfg(test)]
mod tests;

pub use batch::{beam_search_batch, BatchItem, BatchScorer};
pub use beam::{beam_search, BeamState};
pub use constraints::Constraints;
pub use greedy::greedy;
pub use hypotheses::{BeamHypotheses, Hypothesis};
pub use option_scoring::score_options;
pub use options::{SearchOptions, SearchOverrides, SpecialTokens};
pub use scorer::{Scorer, SequenceScorer};
pub use trie::Trie;

/// A boxed error coming from a model-side scorer.
pub type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while searching or scoring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// A search option is out of range (`beam = 0`, `temperature ≤ 0`, …).
    #[error("invalid search option `{option}`: {value} ({reason})")]
    InvalidOption {
        option: &'static str,
        value: String,
        reason: &'static str,
    },
    /// `min_len` exceeds the maximum length computed for this input (fairseq asserts this).
    #[error("min_len {min_len} exceeds max_len {max_len} (max_len_a·src_len + max_len_b)")]
    MinLenAboveMaxLen { min_len: usize, max_len: usize },
    /// The vocabulary is too small for the beam: fairseq takes `2·beam` candidates and needs
    /// `beam` of them not to be EOS.
    #[error("vocabulary of {vocab} ids is too small for beam {beam} (needs at least 2·beam + 1)")]
    VocabTooSmall { vocab: usize, beam: usize },
    /// The scorer returned logits of the wrong shape.
    #[error("step {step}: scorer returned logits of shape {actual:?}, expected {expected:?}")]
    LogitsShape {
        step: usize,
        expected: (usize, usize),
        actual: (usize, usize),
    },
    /// The full-sequence scorer returned logits of the wrong shape.
    #[error("sequence scorer returned logits of shape {actual:?}, expected {expected:?}")]
    SequenceLogitsShape {
        expected: (usize, usize, usize),
        actual: (usize, usize, usize),
    },
    /// A token id (prefix, trie entry, candidate) is outside `0..vocab`.
    #[error("{what}: token id {token} is outside the vocabulary 0..{vocab}")]
    TokenOutOfRange {
        what: &'static str,
        token: i64,
        vocab: usize,
    },
    /// A forced prefix contains a token fairseq treats specially (PAD = no forcing, EOS =
    /// replicate beam 0); one-sentence searches do not support either.
    #[error("prefix position {position}: token {token} ({kind}) cannot be forced")]
    UnsupportedPrefixToken {
        position: usize,
        token: i64,
        kind: &'static str,
    },
    /// Option scoring was asked to score no candidates.
    #[error("option scoring needs at least one candidate")]
    NoCandidates,
    /// The model-side scorer failed.
    #[error("scorer failed at step {step}")]
    Scorer {
        step: usize,
        #[source]
        source: BoxedError,
    },
}

/// Result alias of this module.
pub type Result<T, E = GenerateError> = std::result::Result<T, E>;
