//! BLEU-1…4 as coco-caption's `BleuScorer` computes it with `option='closest'`: clipped n-gram
//! counts against the per-n-gram maximum over references, the reference length closest to the
//! candidate's (ties to the shorter), statistics summed over the corpus, and its smoothing
//! constants (`tiny` = 1e-15 on matches, `small` = 1e-9 on guesses).

use super::Tokenised;
use indexmap::IndexMap;
use std::collections::HashMap;

const MAX_N: usize = 4;
const TINY: f64 = 1e-15;
const SMALL: f64 = 1e-9;

/// Counts of every n-gram (n = 1…4) of `words`, in the order coco-caption's `precook` first
/// meets them (all unigrams, then bigrams, …): CIDEr-D sums its weights in this order, so the
/// score is the same in every run.
pub(crate) fn ngram_counts<'a>(words: &[&'a str], max_n: usize) -> IndexMap<Vec<&'a str>, usize> {
    let mut counts = IndexMap::new();
    for n in 1..=max_n {
        for gram in words.windows(n) {
            *counts.entry(gram.to_vec()).or_insert(0) += 1;
        }
    }
    counts
}

/// Summed statistics of the corpus.
#[derive(Debug, Default)]
struct Totals {
    test_len: usize,
    ref_len: usize,
    guess: [usize; MAX_N],
    correct: [usize; MAX_N],
}

/// The reference length closest to `test_len`, the shorter one on a tie.
fn closest_ref_len(ref_lens: &[usize], test_len: usize) -> usize {
    ref_lens
        .iter()
        .map(|&l| (l.abs_diff(test_len), l))
        .min()
        .map_or(0, |(_, l)| l)
}

fn add_item(totals: &mut Totals, item: &Tokenised) {
    let test: Vec<&str> = item.candidate.split_whitespace().collect();
    let mut max_ref: HashMap<Vec<&str>, usize> = HashMap::new();
    let mut ref_lens = Vec::with_capacity(item.references.len());
    for reference in &item.references {
        let words: Vec<&str> = reference.split_whitespace().collect();
        ref_lens.push(words.len());
        for (gram, count) in ngram_counts(&words, MAX_N) {
            let slot = max_ref.entry(gram).or_insert(0);
            *slot = (*slot).max(count);
        }
    }
    totals.test_len += test.len();
    totals.ref_len += closest_ref_len(&ref_lens, test.len());
    for k in 0..MAX_N {
        totals.guess[k] += (test.len() + 1).saturating_sub(k + 1);
    }
    for (gram, count) in ngram_counts(&test, MAX_N) {
        let clipped = count.min(max_ref.get(&gram).copied().unwrap_or(0));
        totals.correct[gram.len() - 1] += clipped;
    }
}

/// Corpus BLEU-1…4 of tokenised items.
pub(crate) fn corpus_bleu(items: &[Tokenised]) -> [f64; 4] {
    let mut totals = Totals::default();
    for item in items {
        add_item(&mut totals, item);
    }
    let mut bleus = [0.0; MAX_N];
    let mut product = 1.0;
    for (k, bleu) in bleus.iter_mut().enumerate() {
        product *= (totals.correct[k] as f64 + TINY) / (totals.guess[k] as f64 + SMALL);
        *bleu = product.powf(1.0 / (k as f64 + 1.0));
    }
    let ratio = (totals.test_len as f64 + TINY) / (totals.ref_len as f64 + SMALL);
    if ratio < 1.0 {
        let penalty = (1.0 - 1.0 / ratio).exp();
        bleus.iter_mut().for_each(|b| *b *= penalty);
    }
    bleus
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(c: &str, refs: &[&str]) -> Tokenised {
        Tokenised {
            candidate: c.into(),
            references: refs.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn identical_caption_scores_one() {
        let b = corpus_bleu(&[item(
            "a dog runs on the grass",
            &["a dog runs on the grass"],
        )]);
        for v in b {
            assert!((v - 1.0).abs() < 1e-9, "{b:?}");
        }
    }

    #[test]
    fn closest_length_ties_to_shorter() {
        assert_eq!(closest_ref_len(&[4, 6], 5), 4);
        assert_eq!(closest_ref_len(&[7, 3], 6), 7);
    }

    #[test]
    fn clipping_and_brevity() {
        // "the the the" vs "the cat": unigram matches clipped to 1 of 3; no brevity penalty.
        let b = corpus_bleu(&[item("the the the", &["the cat"])]);
        assert!((b[0] - (1.0 + TINY) / (3.0 + SMALL)).abs() < 1e-12);
    }
}
