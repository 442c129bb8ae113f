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

use super::constraints::Constraints;
use super::hypotheses::{BeamHypotheses, Hypothesis};
use super::options::SearchOptions;
use super::processors::{flatten_logits, LogitProcessors};
use super::scorer::Scorer;
use super::topk::{top_k, Candidate};
use super::{GenerateError, Result};

/// Live rows: token history incl. BOS and cumulative scores (one per generated token).
struct Beams {
    tokens: Vec<Vec<i64>>,
    scores: Vec<Vec<f32>>,
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
    opts.validate()?;
    let max_len = opts.max_len(src_len)?;
    let beam = opts.beam;
    let eos = opts.specials.eos;
    let mut live = Beams {
        tokens: vec![vec![opts.specials.bos]],
        scores: vec![Vec::new()],
    };
    let mut finished = BeamHypotheses::new(beam);
    let mut processors: Option<LogitProcessors> = None;
    let mut vocab = None;
    let mut last_tokens = vec![opts.specials.bos];
    let mut cands: Vec<Candidate> = Vec::with_capacity(2 * beam);
    let mut offsets: Vec<f32> = Vec::with_capacity(beam);

    let mut key = Vec::new();
    for step in 0..=max_len {
        // Under the trie (past the prefix) every row is constrained at once, and only its
        // allowed logits are read: the scorer may compute just those.
        let allowed: Option<Vec<&[i64]>> = live
            .tokens
            .iter()
            .map(|h| constraints.allowed_for_row(h, opts.specials.bos, &mut key))
            .collect();
        let logits = match &allowed {
            Some(allowed) => scorer.next_logits_restricted(step, &last_tokens, allowed),
            None => scorer.next_logits(step, &last_tokens),
        }
        .map_err(|e| GenerateError::Scorer {
            step,
            source: Box::new(e),
        })?;
        let (mut lprobs, v) = flatten_logits(logits, step, live.tokens.len(), vocab)?;
        let procs = match &mut processors {
            Some(p) => p,
            None => {
                if v < 2 * beam + 1 {
                    return Err(GenerateError::VocabTooSmall { vocab: v, beam });
                }
                vocab = Some(v);
                processors.insert(LogitProcessors::new(opts, constraints, v, max_len)?)
            }
        };
        procs.apply(step, &mut lprobs, &live.tokens);

        // fairseq: k = min(2·beam, numel − 1) over the flattened rows in play.
        let k = (2 * beam).min(lprobs.len() - 1);
        if step == 0 {
            top_k(&lprobs, v, None, k, &mut cands);
        } else {
            offsets.clear();
            offsets.extend(live.scores.iter().map(|s| s.last().copied().unwrap_or(0.0)));
            top_k(&lprobs, v, Some(&offsets), k, &mut cands);
        }

        let is_final = |c: &Candidate| c.token as i64 == eos && c.score != f32::NEG_INFINITY;
        for c in cands.iter().take(beam).filter(|c| is_final(c)) {
            let row = c.row;
            finished.add(
                &live.tokens[row][1..],
                eos,
                &live.scores[row],
                c.score,
                opts.length_divisor(step + 1),
            );
        }
        if finished.is_full() || step == max_len {
            break;
        }

        let selected: Vec<&Candidate> = cands.iter().filter(|c| !is_final(c)).take(beam).collect();
        if selected.len() < beam {
            return Err(GenerateError::VocabTooSmall { vocab: v, beam });
        }
        let next = Beams {
            tokens: selected
                .iter()
                .map(|c| {
                    let mut t = live.tokens[c.row].clone();
                    t.push(c.token as i64);
                    t
                })
                .collect(),
            scores: selected
                .iter()
                .map(|c| {
                    let mut s = live.scores[c.row].clone();
                    s.push(c.score);
                    s
                })
                .collect(),
        };
        let order: Vec<usize> = selected.iter().map(|c| c.row).collect();
        last_tokens = selected.iter().map(|c| c.token as i64).collect();
        live = next;
        scorer.reorder(&order).map_err(|e| GenerateError::Scorer {
            step,
            source: Box::new(e),
        })?;
    }
    Ok(finished.into_sorted(opts.nbest))
}
