//! Beam search for one input sentence, exactly as fairseq's `SequenceGenerator._generate` with
//! `search.BeamSearch` (docs/model.md §6.1 with the selection rule of §0.1 item 1).
//!
//! Per step: log-probs through the processors (temperature, trie mask, log-softmax, prefix or
//! min-length, NaN/PAD/UNK, max-length, n-gram) → top `2·beam` of the flattened
//! `[beam × vocab]` cumulative scores (step 0: beam 0 only) → EOS candidates with a finite score
//! among the first `beam` are finalized → stop when `beam` hypotheses are finished or
//! `step == max_len` → the new beams are the first `beam` candidates, in top-k order, that are
//! not finite-score EOS (EOS ranked ≥ beam is dropped) → caches reordered.
//!
//! Step 0 scores a single row: fairseq scores `beam` identical BOS rows and then uses only beam
//! 0, so scoring one row and expanding it with `reorder(&[0; beam])` (the selected candidates all
//! come from row 0) gives the same result for a fifth of the work.
//!
//! The search of one sentence is a [`BeamState`] advanced one step at a time by the logits of its
//! rows: [`beam_search`] drives one with a [`Scorer`], [`super::batch::beam_search_batch`] drives
//! many at once over one batched decoder, so both run the same rules.

use super::constraints::Constraints;
use super::hypotheses::{BeamHypotheses, Hypothesis};
use super::options::SearchOptions;
use super::processors::{flatten_logits, LogitProcessors};
use super::scorer::Scorer;
use super::topk::{top_k, Candidate};
use super::{GenerateError, Result};
use ndarray::Array2;

/// Live rows: token history incl. BOS and cumulative scores (one per generated token).
struct Beams {
    tokens: Vec<Vec<i64>>,
    scores: Vec<Vec<f32>>,
}

/// The search state of one sentence between steps: its live rows, finished hypotheses and
/// processors (n-gram blocking, prefix forcing, trie, min/max length).
pub struct BeamState<'a> {
    opts: &'a SearchOptions,
    constraints: &'a Constraints,
    max_len: usize,
    step: usize,
    live: Beams,
    last_tokens: Vec<i64>,
    finished: BeamHypotheses,
    processors: Option<LogitProcessors<'a>>,
    vocab: Option<usize>,
    cands: Vec<Candidate>,
    offsets: Vec<f32>,
    key: Vec<i64>,
}

impl<'a> BeamState<'a> {
    /// A search over a source text of `src_len` tokens (`max_len = int(max_len_a · src_len +
    /// max_len_b)`), before its first step. Fails on invalid options.
    pub fn new(
        opts: &'a SearchOptions,
        constraints: &'a Constraints,
        src_len: usize,
    ) -> Result<Self> {
        opts.validate()?;
        let max_len = opts.max_len(src_len)?;
        Ok(BeamState {
            opts,
            constraints,
            max_len,
            step: 0,
            live: Beams {
                tokens: vec![vec![opts.specials.bos]],
                scores: vec![Vec::new()],
            },
            last_tokens: vec![opts.specials.bos],
            finished: BeamHypotheses::new(opts.beam),
            processors: None,
            vocab: None,
            cands: Vec::with_capacity(2 * opts.beam),
            offsets: Vec::with_capacity(opts.beam),
            key: Vec::new(),
        })
    }

    /// The step the next logits are for (0-based).
    pub fn step(&self) -> usize {
        self.step
    }

    /// The token each live row appended last: the scorer's input of the next step (one per
    /// row: 1 at step 0, `beam` later).
    pub fn last_tokens(&self) -> &[i64] {
        &self.last_tokens
    }

    /// Under the trie (past the prefix) every row is constrained at once, and only its allowed
    /// logits are read: the ids each row may take (the scorer may compute just those), or
    /// `None` when some row is free.
    pub fn allowed(&mut self) -> Option<Vec<&'a [i64]>> {
        let (constraints, bos, key) = (self.constraints, self.opts.specials.bos, &mut self.key);
        self.live
            .tokens
            .iter()
            .map(|h| constraints.allowed_for_row(h, bos, key))
            .collect()
    }

    /// Takes the step's logits `[rows, vocab]`: finalizes, selects the new beams and returns
    /// the reorder the scorer must apply (new row `i` continues old row `order[i]`), or `None`
    /// when the search is over.
    pub fn advance(&mut self, logits: Array2<f32>) -> Result<Option<Vec<usize>>> {
        let (step, beam) = (self.step, self.opts.beam);
        let (mut lprobs, v) = flatten_logits(logits, step, self.live.tokens.len(), self.vocab)?;
        let procs = match &mut self.processors {
            Some(p) => p,
            None => {
                if v < 2 * beam + 1 {
                    return Err(GenerateError::VocabTooSmall { vocab: v, beam });
                }
                self.vocab = Some(v);
                let p = LogitProcessors::new(self.opts, self.constraints, v, self.max_len)?;
                self.processors.insert(p)
            }
        };
        procs.apply(step, &mut lprobs, &self.live.tokens);

        // fairseq: k = min(2·beam, numel − 1) over the flattened rows in play.
        let k = (2 * beam).min(lprobs.len() - 1);
        if step == 0 {
            top_k(&lprobs, v, None, k, &mut self.cands);
        } else {
            self.offsets.clear();
            let last = self.live.scores.iter();
            self.offsets
                .extend(last.map(|s| s.last().copied().unwrap_or(0.0)));
            top_k(&lprobs, v, Some(&self.offsets), k, &mut self.cands);
        }
        self.finalize(step);
        if self.finished.is_full() || step == self.max_len {
            return Ok(None);
        }
        self.select(v).map(Some)
    }

    /// EOS candidates with a finite score among the first `beam` become hypotheses.
    fn finalize(&mut self, step: usize) {
        let eos = self.opts.specials.eos;
        let final_cands = self.cands.iter().take(self.opts.beam);
        for c in final_cands.filter(|c| is_final(c, eos)) {
            let row = c.row;
            self.finished.add(
                &self.live.tokens[row][1..],
                eos,
                &self.live.scores[row],
                c.score,
                self.opts.length_divisor(step + 1),
            );
        }
    }

    /// The new beams: the first `beam` candidates that are not finalized EOS.
    fn select(&mut self, v: usize) -> Result<Vec<usize>> {
        let (beam, eos) = (self.opts.beam, self.opts.specials.eos);
        let selected: Vec<&Candidate> = self
            .cands
            .iter()
            .filter(|c| !is_final(c, eos))
            .take(beam)
            .collect();
        if selected.len() < beam {
            return Err(GenerateError::VocabTooSmall { vocab: v, beam });
        }
        let next = Beams {
            tokens: selected
                .iter()
                .map(|c| extend(&self.live.tokens, c, c.token as i64))
                .collect(),
            scores: selected
                .iter()
                .map(|c| extend(&self.live.scores, c, c.score))
                .collect(),
        };
        let order: Vec<usize> = selected.iter().map(|c| c.row).collect();
        self.last_tokens = selected.iter().map(|c| c.token as i64).collect();
        self.live = next;
        self.step += 1;
        Ok(order)
    }

    /// Up to `opts.nbest` finished hypotheses sorted by score descending.
    pub fn into_hypotheses(self) -> Vec<Hypothesis> {
        self.finished.into_sorted(self.opts.nbest)
    }
}

/// Row `c.row` of `rows` with `x` appended.
fn extend<T: Clone>(rows: &[Vec<T>], c: &Candidate, x: T) -> Vec<T> {
    let mut r = rows[c.row].clone();
    r.push(x);
    r
}

fn is_final(c: &Candidate, eos: i64) -> bool {
    c.token as i64 == eos && c.score != f32::NEG_INFINITY
}

/// Runs beam search for one sentence whose padded source text has `src_len` tokens
/// (`max_len = int(max_len_a · src_len + max_len_b)`).
///
/// Returns up to `opts.nbest` finished hypotheses sorted by score descending (fewer, possibly
/// none, when fewer rows could end with a finite score). Fails on invalid options, a
/// vocabulary smaller than `2·beam + 1`, logits of the wrong shape, out-of-range constraint ids,
/// or a scorer error.
pub fn beam_search<S: Scorer>(
    scorer: &mut S,
    opts: &SearchOptions,
    constraints: &Constraints,
    src_len: usize,
) -> Result<Vec<Hypothesis>> {
    let mut state = BeamState::new(opts, constraints, src_len)?;
    loop {
        let step = state.step();
        let scorer_error = |e: S::Error| GenerateError::Scorer {
            step,
            source: Box::new(e),
        };
        let logits = match state.allowed() {
            Some(allowed) => scorer.next_logits_restricted(step, state.last_tokens(), &allowed),
            None => scorer.next_logits(step, state.last_tokens()),
        }
        .map_err(scorer_error)?;
        match state.advance(logits)? {
            Some(order) => scorer.reorder(&order).map_err(scorer_error)?,
            None => break,
        }
    }
    Ok(state.into_hypotheses())
}
