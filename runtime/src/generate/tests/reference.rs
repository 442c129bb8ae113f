//! A naive second implementation of fairseq beam search, written from the spec's pseudo-code
//! (§6.1–6.3) without sharing the search's code paths: `beam` BOS rows at step 0 with only
//! beam 0 used, full stable sorts, n-grams collected in a map, trie answers scanned as a list,
//! masks written out element by element. It shares only the f32 log-softmax, so results must
//! be bit-identical.

use crate::generate::logits::log_softmax;
use crate::generate::{Hypothesis, SearchOptions};
use std::collections::HashMap;

/// Settings of one reference run.
pub(super) struct RefInput<'a> {
    pub opts: &'a SearchOptions,
    pub prefix: &'a [i64],
    /// Full trie paths `[BOS] + answer + [EOS]`, or `None` without a trie.
    pub answers: Option<&'a [Vec<i64>]>,
    pub max_len: usize,
    pub logits: &'a dyn Fn(&[i64]) -> Vec<f32>,
}

fn trie_allowed(paths: &[Vec<i64>], key: &[i64], eos: i64) -> Vec<i64> {
    let matching: Vec<&Vec<i64>> = paths
        .iter()
        .filter(|p| p.len() >= key.len() && p[..key.len()] == *key)
        .collect();
    if matching.is_empty() {
        return vec![eos];
    }
    let mut next: Vec<i64> = matching
        .iter()
        .filter_map(|p| p.get(key.len()).copied())
        .collect();
    next.sort_unstable();
    next.dedup();
    next
}

fn log_probs(inp: &RefInput, history: &[i64]) -> Vec<f32> {
    let o = inp.opts;
    let mut l: Vec<f32> = (inp.logits)(history)
        .iter()
        .map(|&x| x / o.temperature as f32)
        .collect();
    if let Some(paths) = inp.answers {
        if history.len() > inp.prefix.len() {
            let mut key = vec![o.specials.bos];
            key.extend_from_slice(&history[inp.prefix.len() + 1..]);
            let allowed = trie_allowed(paths, &key, o.specials.eos);
            for (t, x) in l.iter_mut().enumerate() {
                if !allowed.contains(&(t as i64)) {
                    *x = f32::NEG_INFINITY;
                }
            }
        }
    }
    log_softmax(&mut l);
    l
}

fn banned_ngrams(history: &[i64], n: usize, step: usize) -> Vec<i64> {
    if n == 0 || step + 2 < n {
        return Vec::new();
    }
    let mut grams: HashMap<Vec<i64>, Vec<i64>> = HashMap::new();
    for w in history.windows(n) {
        grams.entry(w[..n - 1].to_vec()).or_default().push(w[n - 1]);
    }
    grams
        .get(&history[step + 2 - n..=step])
        .cloned()
        .unwrap_or_default()
}

/// Runs the reference search.
pub(super) fn reference_beam_search(inp: &RefInput) -> Vec<Hypothesis> {
    let o = inp.opts;
    let (bos, pad, eos, unk) = (
        o.specials.bos,
        o.specials.pad,
        o.specials.eos,
        o.specials.unk,
    );
    let beam = o.beam;
    let mut tokens: Vec<Vec<i64>> = vec![vec![bos]; beam];
    let mut scores: Vec<Vec<f32>> = vec![Vec::new(); beam];
    let mut done: Vec<Hypothesis> = Vec::new();
    for step in 0..=inp.max_len {
        let mut lp: Vec<Vec<f32>> = tokens.iter().map(|h| log_probs(inp, h)).collect();
        let vocab = lp[0].len();
        if step < inp.prefix.len() && step < inp.max_len {
            let t = inp.prefix[step] as usize;
            let kept: Vec<f32> = lp.iter().map(|r| r[t]).collect();
            let fill = if inp.answers.is_some() {
                f32::NEG_INFINITY
            } else {
                kept.iter().copied().fold(f32::INFINITY, f32::min) - 1.0
            };
            for (r, row) in lp.iter_mut().enumerate() {
                for x in row.iter_mut() {
                    *x = fill;
                }
                row[t] = kept[r];
            }
        } else if step < o.min_len {
            for row in lp.iter_mut() {
                row[eos as usize] = f32::NEG_INFINITY;
            }
        }
        for (r, row) in lp.iter_mut().enumerate() {
            for x in row.iter_mut() {
                if x.is_nan() {
                    *x = f32::NEG_INFINITY;
                }
            }
            row[pad as usize] = f32::NEG_INFINITY;
            row[unk as usize] -= o.unk_penalty as f32;
            if step >= inp.max_len {
                for (t, x) in row.iter_mut().enumerate() {
                    if t as i64 != eos {
                        *x = f32::NEG_INFINITY;
                    }
                }
            }
            for b in banned_ngrams(&tokens[r], o.no_repeat_ngram_size, step) {
                row[b as usize] = f32::NEG_INFINITY;
            }
        }
        // (score, row, token) over beam 0 only at step 0, else all rows plus cumulative scores.
        let rows_used = if step == 0 { 1 } else { beam };
        let mut cands: Vec<(f32, usize, usize)> = Vec::new();
        for (r, row) in lp.iter().enumerate().take(rows_used) {
            for (t, &x) in row.iter().enumerate() {
                let s = if step == 0 {
                    x
                } else {
                    x + *scores[r].last().unwrap()
                };
                cands.push((s, r, t));
            }
        }
        cands.sort_by(|a, b| b.0.total_cmp(&a.0));
        cands.truncate((2 * beam).min(rows_used * vocab - 1));
        let is_eos = |c: &(f32, usize, usize)| c.2 as i64 == eos && c.0 != f32::NEG_INFINITY;
        for c in cands.iter().take(beam) {
            if is_eos(c) && done.len() < beam {
                let mut toks = tokens[c.1][1..].to_vec();
                toks.push(eos);
                let mut cum = scores[c.1].clone();
                cum.push(c.0);
                let pos: Vec<f32> = (0..cum.len())
                    .map(|i| if i == 0 { cum[0] } else { cum[i] - cum[i - 1] })
                    .collect();
                let score = if o.unnormalized {
                    c.0
                } else {
                    c.0 / (((step + 1) as f64).powf(o.lenpen) as f32)
                };
                done.push(Hypothesis {
                    tokens: toks,
                    score,
                    positional_scores: pos,
                });
            }
        }
        if done.len() == beam || step == inp.max_len {
            break;
        }
        let keep: Vec<(f32, usize, usize)> = cands
            .iter()
            .filter(|c| !is_eos(c))
            .take(beam)
            .copied()
            .collect();
        let new_tokens = keep
            .iter()
            .map(|c| [tokens[c.1].clone(), vec![c.2 as i64]].concat())
            .collect();
        let new_scores = keep
            .iter()
            .map(|c| [scores[c.1].clone(), vec![c.0]].concat())
            .collect();
        tokens = new_tokens;
        scores = new_scores;
    }
    done.sort_by(|a, b| b.score.total_cmp(&a.score));
    done.truncate(o.nbest);
    done
}
