//! CIDEr-D as coco-caption's `CiderScorer` computes it: n-grams n = 1…4 weighted by TF-IDF with
//! document frequencies counted over the evaluated items' references (`log(max(1, df))`, the
//! corpus size `log(#items)`), the candidate's vector clipped by each reference's
//! (`min(hyp, ref) * ref`), cosine per n, a Gaussian length penalty with σ = 6, averaged over n
//! and references, ×10, then the mean over items. As in the original, the "length" in the
//! penalty is the number of **bigrams** (its `if n == 1: length += tf` counts index 1).

use super::bleu::ngram_counts;
use super::Tokenised;
use indexmap::IndexMap;
use std::collections::HashMap;

const MAX_N: usize = 4;
const SIGMA: f64 = 6.0;

type Counts<'a> = IndexMap<Vec<&'a str>, usize>;

/// A caption's TF-IDF vector per n (in n-gram order, as the original's dicts), its norms and
/// its bigram count.
struct Vector<'a> {
    weights: [IndexMap<Vec<&'a str>, f64>; MAX_N],
    norms: [f64; MAX_N],
    length: f64,
}

fn counts_of(caption: &str) -> Counts<'_> {
    let words: Vec<&str> = caption.split_whitespace().collect();
    ngram_counts(&words, MAX_N)
}

fn to_vector<'a>(counts: &Counts<'a>, df: &HashMap<Vec<&'a str>, usize>, log_n: f64) -> Vector<'a> {
    let mut v = Vector {
        weights: Default::default(),
        norms: [0.0; MAX_N],
        length: 0.0,
    };
    for (gram, &tf) in counts {
        let n = gram.len() - 1;
        let doc_freq = df.get(gram).copied().unwrap_or(0).max(1) as f64;
        let w = tf as f64 * (log_n - doc_freq.ln());
        v.weights[n].insert(gram.clone(), w);
        v.norms[n] += w * w;
        if n == 1 {
            v.length += tf as f64;
        }
    }
    v.norms.iter_mut().for_each(|x| *x = x.sqrt());
    v
}

/// Mean over n of the clipped, length-penalised cosine of `hyp` with `reference`.
fn similarity(hyp: &Vector, reference: &Vector) -> f64 {
    let delta = hyp.length - reference.length;
    let penalty = (-(delta * delta) / (2.0 * SIGMA * SIGMA)).exp();
    let mut total = 0.0;
    for n in 0..MAX_N {
        let mut val = 0.0;
        for (gram, &h) in &hyp.weights[n] {
            let r = reference.weights[n].get(gram).copied().unwrap_or(0.0);
            val += h.min(r) * r;
        }
        if hyp.norms[n] != 0.0 && reference.norms[n] != 0.0 {
            val /= hyp.norms[n] * reference.norms[n];
        }
        total += val * penalty;
    }
    total / MAX_N as f64
}

/// Mean CIDEr-D over items, and each item's score.
pub(crate) fn cider_d_scores(items: &[Tokenised]) -> Vec<f64> {
    let refs: Vec<Vec<Counts>> = items
        .iter()
        .map(|i| i.references.iter().map(|r| counts_of(r)).collect())
        .collect();
    let mut df: HashMap<Vec<&str>, usize> = HashMap::new();
    for item_refs in &refs {
        let mut seen: Vec<&Vec<&str>> = item_refs.iter().flat_map(|c| c.keys()).collect();
        seen.sort();
        seen.dedup();
        for gram in seen {
            *df.entry(gram.clone()).or_insert(0) += 1;
        }
    }
    let log_n = (items.len() as f64).ln();
    items
        .iter()
        .zip(&refs)
        .map(|(item, item_refs)| {
            let hyp = to_vector(&counts_of(&item.candidate), &df, log_n);
            let sum: f64 = item_refs
                .iter()
                .map(|r| similarity(&hyp, &to_vector(r, &df, log_n)))
                .sum();
            sum / item_refs.len() as f64 * 10.0
        })
        .collect()
}

/// Mean CIDEr-D over items.
pub(crate) fn mean_cider_d(items: &[Tokenised]) -> f64 {
    let scores = cider_d_scores(items);
    scores.iter().sum::<f64>() / scores.len().max(1) as f64
}
