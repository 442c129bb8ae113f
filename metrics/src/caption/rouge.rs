//! ROUGE-L as coco-caption's `Rouge` computes it: per item, the longest common subsequence of
//! the candidate with each reference, maximum precision and maximum recall over references
//! (taken separately), F-measure with β = 1.2, then the mean over items. Tokens come from
//! `split(" ")`, so an empty caption is one empty token (the original's behaviour).

use super::Tokenised;

const BETA: f64 = 1.2;

/// Length of the longest common subsequence of `a` and `b` (one rolling row).
fn lcs_len(a: &[&str], b: &[&str]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        let mut diagonal = 0;
        for (j, y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if x == y {
                diagonal + 1
            } else {
                above.max(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// ROUGE-L of one candidate against its references.
pub(crate) fn rouge_l(candidate: &str, references: &[String]) -> f64 {
    let cand: Vec<&str> = candidate.split(' ').collect();
    let (mut prec_max, mut rec_max) = (0.0f64, 0.0f64);
    for reference in references {
        let refs: Vec<&str> = reference.split(' ').collect();
        let lcs = lcs_len(&refs, &cand) as f64;
        prec_max = prec_max.max(lcs / cand.len() as f64);
        rec_max = rec_max.max(lcs / refs.len() as f64);
    }
    if prec_max == 0.0 || rec_max == 0.0 {
        return 0.0;
    }
    let b2 = BETA * BETA;
    ((1.0 + b2) * prec_max * rec_max) / (rec_max + b2 * prec_max)
}

/// Mean ROUGE-L over items.
pub(crate) fn mean_rouge_l(items: &[Tokenised]) -> f64 {
    let sum: f64 = items
        .iter()
        .map(|i| rouge_l(&i.candidate, &i.references))
        .sum();
    sum / items.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcs_examples() {
        let a: Vec<&str> = "a b c d e".split(' ').collect();
        let b: Vec<&str> = "a c e f".split(' ').collect();
        assert_eq!(lcs_len(&a, &b), 3);
        assert_eq!(lcs_len(&b, &a), 3);
    }

    #[test]
    fn f_measure_with_beta() {
        // cand "a c e f" vs ref "a b c d e": lcs 3, P = 3/4, R = 3/5.
        let s = rouge_l("a c e f", &["a b c d e".into()]);
        let (p, r) = (0.75, 0.6);
        let expected = (1.0 + 1.44) * p * r / (r + 1.44 * p);
        assert!((s - expected).abs() < 1e-12);
    }
}
