//! Greedy decoding: fairseq beam search with beam 1 (docs/model.md §6.1) without the top-k
//! machinery.
//!
//! With one beam fairseq takes the top 2 candidates; if the best is EOS with a finite score it is
//! finalized and the search stops, otherwise the best continues. That is argmax decoding with
//! the same logits processors, which is what this does (argmax of the f32 cumulative scores,
//! ties: lowest token id, as in [`super::topk`]).

use super::constraints::Constraints;
use super::hypotheses::{BeamHypotheses, Hypothesis};
use super::options::SearchOptions;
use super::processors::{flatten_logits, LogitProcessors};
use super::scorer::Scorer;
use super::{GenerateError, Result};

/// Greedy search for one sentence (`opts.beam` and `opts.nbest` are ignored). Never calls
/// `reorder`: the scorer keeps a single row throughout.
///
/// Returns `None` when no hypothesis could end with a finite score (e.g. n-gram blocking bans
/// EOS at `max_len`). Fails like [`super::beam_search`].
pub fn greedy<S: Scorer>(
    scorer: &mut S,
    opts: &SearchOptions,
    constraints: &Constraints,
    src_len: usize,
) -> Result<Option<Hypothesis>> {
    let opts = SearchOptions {
        beam: 1,
        nbest: 1,
        ..opts.clone()
    };
    opts.validate()?;
    let max_len = opts.max_len(src_len)?;
    let eos = opts.specials.eos;
    let mut history = vec![vec![opts.specials.bos]];
    let mut scores: Vec<f32> = Vec::new();
    let mut processors: Option<LogitProcessors> = None;
    let mut vocab = None;
    for step in 0..=max_len {
        let last = history[0].last().copied().unwrap_or(opts.specials.bos);
        let logits = scorer
            .next_logits(step, &[last])
            .map_err(|e| GenerateError::Scorer {
                step,
                source: Box::new(e),
            })?;
        let (mut lprobs, v) = flatten_logits(logits, step, 1, vocab)?;
        let procs = match &mut processors {
            Some(p) => p,
            None => {
                if v < 3 {
                    return Err(GenerateError::VocabTooSmall { vocab: v, beam: 1 });
                }
                vocab = Some(v);
                processors.insert(LogitProcessors::new(&opts, constraints, v, max_len)?)
            }
        };
        procs.apply(step, &mut lprobs, &history);
        // Argmax of the cumulative scores (f32 sums, as beam search compares them).
        if let Some(&prev) = scores.last() {
            lprobs.iter_mut().for_each(|x| *x += prev);
        }
        let (token, cum) = argmax(&lprobs);
        if token as i64 == eos && cum != f32::NEG_INFINITY {
            let mut done = BeamHypotheses::new(1);
            done.add(
                &history[0][1..],
                eos,
                &scores,
                cum,
                opts.length_divisor(step + 1),
            );
            return Ok(done.into_sorted(1).pop());
        }
        if step == max_len {
            break;
        }
        history[0].push(token as i64);
        scores.push(cum);
    }
    Ok(None)
}

/// First index of the maximum (−inf rows give index 0).
fn argmax(v: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &x) in v.iter().enumerate() {
        if x > best.1 {
            best = (i, x);
        }
    }
    if best.1 == f32::NEG_INFINITY {
        best = (0, v.first().copied().unwrap_or(f32::NEG_INFINITY));
    }
    best
}
