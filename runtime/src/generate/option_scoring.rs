//! Option scoring (docs/model.md §5.4, `utils/eval_utils.py:eval_snli_ve`): score N candidate
//! answers in one batched full-sequence decoder pass and let the caller take the argmax.
//!
//! For candidate `a`: decoder input `[BOS] + prompt + a`, target `prompt + a + [EOS]`. Prompt
//! positions are ignored; at the answer and EOS positions the logits outside the trie (built from
//! all candidates as `[BOS] + a + [EOS]`) are set to −inf before log-softmax, and the score is
//! the f32 sum of the target log-probs there. Shorter candidates are right-padded with PAD and
//! their padded positions ignored. No temperature is applied (the original applies none).

use super::constraints::check_token;
use super::logits::log_softmax;
use super::options::SpecialTokens;
use super::scorer::SequenceScorer;
use super::trie::Trie;
use super::{GenerateError, Result};
use ndarray::Array2;

/// Scores every candidate continuation of `prompt` (decoder prompt without BOS, e.g. the source
/// text without BOS/EOS) and returns one summed log-prob per candidate, in input order.
///
/// Fails when `candidates` is empty, the scorer fails or returns a shape other than
/// `[N, 1 + prompt + longest, vocab]`, or an id is outside the vocabulary.
pub fn score_options<S: SequenceScorer>(
    scorer: &mut S,
    prompt: &[i64],
    candidates: &[Vec<i64>],
    specials: &SpecialTokens,
) -> Result<Vec<f64>> {
    if candidates.is_empty() {
        return Err(GenerateError::NoCandidates);
    }
    let mut trie = Trie::new(specials.eos);
    for c in candidates {
        let mut path = Vec::with_capacity(c.len() + 2);
        path.push(specials.bos);
        path.extend_from_slice(c);
        path.push(specials.eos);
        trie.insert(&path);
    }
    let p = prompt.len();
    let longest = candidates.iter().map(Vec::len).max().unwrap_or(0);
    let t = 1 + p + longest;
    let mut input = Array2::from_elem((candidates.len(), t), specials.pad);
    for (i, c) in candidates.iter().enumerate() {
        input[[i, 0]] = specials.bos;
        for (j, &tok) in prompt.iter().chain(c).enumerate() {
            input[[i, 1 + j]] = tok;
        }
    }
    let logits = scorer
        .full_logits(&input)
        .map_err(|e| GenerateError::Scorer {
            step: 0,
            source: Box::new(e),
        })?;
    let (n, tt, vocab) = logits.dim();
    if n != candidates.len() || tt != t || vocab == 0 {
        return Err(GenerateError::SequenceLogitsShape {
            expected: (candidates.len(), t, vocab),
            actual: (n, tt, vocab),
        });
    }
    for &tok in prompt.iter().chain(candidates.iter().flatten()) {
        check_token("option scoring input", tok, vocab)?;
    }
    check_token("special token", specials.eos, vocab)?;

    let mut key = Vec::with_capacity(longest + 1);
    let mut values = Vec::new();
    let mut scores = Vec::with_capacity(n);
    for (i, c) in candidates.iter().enumerate() {
        let mut sum = 0f32;
        // Position p + j predicts c[j] (or EOS when j == c.len()).
        for j in 0..=c.len() {
            let target = c.get(j).copied().unwrap_or(specials.eos);
            key.clear();
            key.push(specials.bos);
            key.extend_from_slice(&c[..j]);
            let allowed = trie.allowed_next(&key);
            let row = logits.slice(ndarray::s![i, p + j, ..]);
            values.clear();
            values.extend(allowed.iter().map(|&a| row[a as usize]));
            log_softmax(&mut values);
            let lp = allowed
                .iter()
                .position(|&a| a == target)
                .map_or(f32::NEG_INFINITY, |k| values[k]);
            sum += lp;
        }
        scores.push(sum as f64);
    }
    Ok(scores)
}
