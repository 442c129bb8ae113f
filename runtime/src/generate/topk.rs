//! Partial top-k over the flattened `[rows × vocab]` candidate scores (fairseq `BeamSearch.step`:
//! `torch.topk(lprobs.view(bsz, -1), k)` after adding each row's cumulative score).
//!
//! One pass keeps a sorted buffer of the best `k`; an element enters only when it beats the
//! current k-th, so the cost is one compare per element (no sort of the vocabulary).
//!
//! Ties: equal scores are ordered by flat index `row · vocab + token`, lowest first. torch's CPU
//! `topk` does not specify tie order (it uses a partial sort); with real logits exact ties among
//! selected finite candidates do not occur, except in two places documented where they arise:
//! −inf fillers (harmless: they never finalize or win) and prefix forcing without a trie
//! ([`super::constraints::PrefixFiller::MinMinusOne`]).

/// One candidate continuation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Cumulative score after appending `token` (f32, as torch adds).
    pub score: f32,
    /// Row (beam) it extends.
    pub row: usize,
    /// Token id.
    pub token: usize,
}

/// Writes into `out` the `k` best `lprobs[r, t] + offsets[r]` (no offset when `offsets` is
/// `None`), sorted by score descending then flat index ascending. `lprobs` is `[rows × vocab]`
/// flattened; `offsets.len()` must equal the row count when given.
pub fn top_k(
    lprobs: &[f32],
    vocab: usize,
    offsets: Option<&[f32]>,
    k: usize,
    out: &mut Vec<Candidate>,
) {
    out.clear();
    if k == 0 || vocab == 0 {
        return;
    }
    for (row, values) in lprobs.chunks_exact(vocab).enumerate() {
        let off = offsets.and_then(|o| o.get(row).copied());
        let mut token = 0;
        while token < values.len() {
            // Fill phase: take elements until the buffer is full.
            if out.len() < k {
                let score = off.map_or(values[token], |o| values[token] + o);
                insert(out, Candidate { score, row, token }, k);
                token += 1;
                continue;
            }
            // Scan phase: only elements strictly above the current k-th can enter (an equal
            // score has a larger flat index and loses the tie).
            let threshold = out[k - 1].score;
            let Some(i) = find_above(&values[token..], off, threshold) else {
                break;
            };
            let t = token + i;
            let score = off.map_or(values[t], |o| values[t] + o);
            insert(
                out,
                Candidate {
                    score,
                    row,
                    token: t,
                },
                k,
            );
            token = t + 1;
        }
    }
}

/// Index of the first `v` with `v + off > threshold` (`v > threshold` without an offset).
/// Chunks of 16 are tested as a whole first.
fn find_above(values: &[f32], off: Option<f32>, threshold: f32) -> Option<usize> {
    const CHUNK: usize = 16;
    let o = off.unwrap_or(0.0);
    // `v + 0.0 == v` for every v the search produces (no −0.0 matters in a comparison).
    let qualifies = |v: f32| v + o > threshold;
    let mut base = 0;
    for c in values.chunks(CHUNK) {
        // No early exit inside a chunk, so this vectorises.
        if c.iter().fold(false, |any, &v| any | qualifies(v)) {
            return c.iter().position(|&v| qualifies(v)).map(|i| base + i);
        }
        base += c.len();
    }
    None
}

/// Inserts after every element with a score ≥ `c.score` (earlier flat indices win ties), keeping
/// at most `k` elements.
fn insert(out: &mut Vec<Candidate>, c: Candidate, k: usize) {
    let pos = out
        .iter()
        .position(|x| x.score < c.score)
        .unwrap_or(out.len());
    if pos < k {
        if out.len() == k {
            out.pop();
        }
        out.insert(pos, c);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn naive(lprobs: &[f32], vocab: usize, offsets: Option<&[f32]>, k: usize) -> Vec<Candidate> {
        let mut all: Vec<Candidate> = lprobs
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let row = i / vocab;
                let score = offsets.map_or(v, |o| v + o[row]);
                Candidate {
                    score,
                    row,
                    token: i % vocab,
                }
            })
            .collect();
        // Stable sort keeps flat-index order among ties.
        all.sort_by(|a, b| b.score.total_cmp(&a.score));
        all.truncate(k);
        all
    }

    #[test]
    fn picks_the_best_k_with_offsets_and_breaks_ties_by_index() {
        let lp = vec![-1.0, -3.0, -2.0, -1.0, f32::NEG_INFINITY, -0.5];
        let mut out = Vec::new();
        top_k(&lp, 3, Some(&[0.0, -1.0]), 4, &mut out);
        let got: Vec<(usize, usize)> = out.iter().map(|c| (c.row, c.token)).collect();
        // Scores: (0,0)=-1 (0,1)=-3 (0,2)=-2 (1,0)=-2 (1,1)=-inf (1,2)=-1.5
        assert_eq!(got, vec![(0, 0), (1, 2), (0, 2), (1, 0)]);
        assert_eq!(out[1].score, -1.5);
    }

    #[test]
    fn agrees_with_a_stable_full_sort_including_ties_and_neg_inf() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        for case in 0..200 {
            let vocab = 1 + (next() % 60) as usize;
            let rows = 1 + (next() % 4) as usize;
            let lp: Vec<f32> = (0..rows * vocab)
                .map(|_| match next() % 5 {
                    0 => f32::NEG_INFINITY,
                    r => -((r + next() % 3) as f32),
                })
                .collect();
            let offs: Vec<f32> = (0..rows).map(|_| -((next() % 3) as f32)).collect();
            let k = 1 + (next() % 8) as usize;
            let offsets = (case % 2 == 0).then_some(&offs[..]);
            let mut out = Vec::new();
            top_k(&lp, vocab, offsets, k, &mut out);
            assert_eq!(out, naive(&lp, vocab, offsets, k), "case {case}");
        }
    }
}
