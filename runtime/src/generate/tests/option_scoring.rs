//! Option scoring against hand-computed log-probs.

use super::FakeError;
use crate::generate::logits::log_softmax;
use crate::generate::{score_options, GenerateError, SequenceScorer, SpecialTokens};
use ndarray::{Array2, Array3};

/// Logits `[N, T, V]` where position `j` of row `i` depends on the row's tokens `0..=j`;
/// positions whose input is PAD get NaN, so reading them would poison the sums.
struct FullFake {
    vocab: usize,
    seen: Option<Array2<i64>>,
}

fn position_logits(prefix: &[i64], vocab: usize) -> Vec<f32> {
    let h = prefix.iter().fold(7i64, |a, &t| (a * 31 + t) % 1009);
    (0..vocab)
        .map(|v| (((h + 13 * v as i64) % 29) as f32) * 0.25 - 3.0)
        .collect()
}

impl SequenceScorer for FullFake {
    type Error = FakeError;
    fn full_logits(&mut self, input: &Array2<i64>) -> Result<Array3<f32>, FakeError> {
        let (n, t) = input.dim();
        let mut out = Array3::zeros((n, t, self.vocab));
        for i in 0..n {
            let row: Vec<i64> = input.row(i).to_vec();
            for j in 0..t {
                let l = if row[j] == 1 {
                    vec![f32::NAN; self.vocab]
                } else {
                    position_logits(&row[..=j], self.vocab)
                };
                for (v, x) in l.into_iter().enumerate() {
                    out[[i, j, v]] = x;
                }
            }
        }
        self.seen = Some(input.clone());
        Ok(out)
    }
}

#[test]
fn scores_sum_trie_masked_log_probs_over_answer_and_eos_positions() {
    let prompt = [5, 6];
    let cands = vec![vec![7], vec![8, 9], vec![8]];
    let mut fake = FullFake {
        vocab: 12,
        seen: None,
    };
    let got = score_options(&mut fake, &prompt, &cands, &SpecialTokens::default()).unwrap();

    // Batched input: [BOS] + prompt + candidate, PAD on the right.
    let seen = fake.seen.unwrap();
    assert_eq!(seen.row(0).to_vec(), vec![0, 5, 6, 7, 1]);
    assert_eq!(seen.row(1).to_vec(), vec![0, 5, 6, 8, 9]);

    // By hand: renormalise over the trie's allowed ids at each answer/EOS position.
    let lp = |ctx: &[i64], allowed: &[usize], target: usize| -> f32 {
        let l = position_logits(ctx, 12);
        let mut v: Vec<f32> = allowed.iter().map(|&a| l[a]).collect();
        log_softmax(&mut v);
        v[allowed.iter().position(|&a| a == target).unwrap()]
    };
    let first = [7, 8]; // children of the root: 7 and 8
    let want0 = lp(&[0, 5, 6], &first, 7) + lp(&[0, 5, 6, 7], &[2], 2);
    let want1 =
        lp(&[0, 5, 6], &first, 8) + lp(&[0, 5, 6, 8], &[2, 9], 9) + lp(&[0, 5, 6, 8, 9], &[2], 2);
    let want2 = lp(&[0, 5, 6], &first, 8) + lp(&[0, 5, 6, 8], &[2, 9], 2);
    assert_eq!(got, vec![want0 as f64, want1 as f64, want2 as f64]);
    // A position where only EOS is allowed contributes exactly 0.
    assert_eq!(lp(&[0, 5, 6, 7], &[2], 2), 0.0);
    assert!(got.iter().all(|s| s.is_finite()));
}

#[test]
fn single_token_options_reduce_to_a_softmax_over_their_logits() {
    let mut fake = FullFake {
        vocab: 10,
        seen: None,
    };
    let cands = vec![vec![3], vec![4], vec![5]];
    let got = score_options(&mut fake, &[6], &cands, &SpecialTokens::default()).unwrap();
    let l = position_logits(&[0, 6], 10);
    let mut v = vec![l[3], l[4], l[5]];
    log_softmax(&mut v);
    assert_eq!(got, v.iter().map(|&x| x as f64).collect::<Vec<_>>());
}

#[test]
fn option_scoring_errors() {
    let mut fake = FullFake {
        vocab: 10,
        seen: None,
    };
    let s = SpecialTokens::default();
    assert!(matches!(
        score_options(&mut fake, &[6], &[], &s),
        Err(GenerateError::NoCandidates)
    ));
    assert!(matches!(
        score_options(&mut fake, &[6], &[vec![10]], &s),
        Err(GenerateError::TokenOutOfRange { token: 10, .. })
    ));
}
