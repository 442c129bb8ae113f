//! One scenario per rule of docs/model.md §6, on scripted fake logits.

use super::{hashed_logits, FakeError, FakeScorer};
use crate::generate::logits::log_softmax;
use crate::generate::Scorer;
use crate::generate::{
    beam_search, greedy, Constraints, GenerateError, Hypothesis, SearchOptions, Trie,
};
use ndarray::Array2;

const V: usize = 12;

/// Logits −5 everywhere except the `(token, logit)` pairs `rule` returns for a history.
fn scripted(rule: impl Fn(&[i64]) -> Vec<(usize, f32)> + 'static) -> FakeScorer {
    FakeScorer::new(move |h| {
        let mut l = vec![-5.0; V];
        for (t, x) in rule(h) {
            l[t] = x;
        }
        l
    })
}

fn opts(beam: usize, min_len: usize, max_len: usize) -> SearchOptions {
    SearchOptions {
        beam,
        nbest: beam,
        min_len,
        max_len_b: max_len,
        ..SearchOptions::default()
    }
}

fn tokens(h: &[Hypothesis]) -> Vec<Vec<i64>> {
    h.iter().map(|x| x.tokens.clone()).collect()
}

fn full_log_probs(f: &dyn Fn(&[i64]) -> Vec<f32>, history: &[i64]) -> Vec<f32> {
    let mut l = f(history);
    log_softmax(&mut l);
    l
}

#[test]
fn step_zero_scores_one_row_and_expands_it_to_the_beam() {
    let mut s = FakeScorer::new(hashed_logits(3, V));
    beam_search(&mut s, &opts(3, 1, 4), &Constraints::none(), 0).unwrap();
    assert_eq!(s.row_counts[0], 1);
    assert_eq!(s.reorders[0], vec![0, 0, 0]);
    assert!(s.row_counts[1..].iter().all(|&r| r == 3));
}

#[test]
fn min_len_forbids_eos_before_step_min_len() {
    let eos_loving = |_: &[i64]| vec![(2, 5.0), (4, 1.0)];
    let got = beam_search(
        &mut scripted(eos_loving),
        &opts(2, 3, 10),
        &Constraints::none(),
        0,
    )
    .unwrap();
    // EOS is first possible at step 3; the second beam (a −5 token at step 0) ends later.
    assert_eq!(tokens(&got), vec![vec![4, 4, 4, 2], vec![4, 4, 4, 4, 2]]);
    let free = beam_search(
        &mut scripted(eos_loving),
        &opts(2, 0, 10),
        &Constraints::none(),
        0,
    )
    .unwrap();
    assert_eq!(free[0].tokens, vec![2]);
}

#[test]
fn max_len_forces_eos_with_its_full_vocabulary_log_prob() {
    let f = |h: &[i64]| {
        let mut l = hashed_logits(9, V)(h);
        l[2] = -10.0;
        l
    };
    let got = beam_search(
        &mut FakeScorer::new(f),
        &opts(2, 0, 3),
        &Constraints::none(),
        0,
    )
    .unwrap();
    assert_eq!(got.len(), 2);
    for h in &got {
        assert_eq!(h.tokens.len(), 4);
        let mut history = vec![0];
        history.extend_from_slice(&h.tokens[..3]);
        let want = full_log_probs(&f, &history)[2];
        // Positional scores are differences of f32 cumulative scores: equal up to rounding.
        assert!((*h.positional_scores.last().unwrap() - want).abs() < 1e-5);
        assert!(want < -5.0);
    }
}

#[test]
fn max_len_a_scales_with_the_source_length() {
    let o = SearchOptions {
        max_len_a: 1.0,
        max_len_b: 1,
        ..opts(1, 0, 1)
    };
    let never_eos = |_: &[i64]| vec![(2, -20.0), (4, 1.0), (5, 0.5)];
    let got = beam_search(&mut scripted(never_eos), &o, &Constraints::none(), 3).unwrap();
    assert_eq!(got[0].tokens.len(), 5); // max_len = 1·3 + 1 = 4 tokens, then EOS
}

#[test]
fn ngram_blocking_counts_the_bos() {
    let rule = |h: &[i64]| match h {
        [0] => vec![(5, 5.0)],
        [0, 5] => vec![(0, 5.0)],
        [0, 5, 0] => vec![(5, 5.0), (6, 3.0)],
        _ => vec![(2, 5.0)],
    };
    let blocked = SearchOptions {
        no_repeat_ngram_size: 2,
        ..opts(1, 0, 8)
    };
    let got = beam_search(&mut scripted(rule), &blocked, &Constraints::none(), 0).unwrap();
    // The bigram (BOS, 5) already occurred, so 5 may not follow the generated 0.
    assert_eq!(got[0].tokens, vec![5, 0, 6, 2]);
    let got = beam_search(&mut scripted(rule), &opts(1, 0, 8), &Constraints::none(), 0).unwrap();
    assert_eq!(got[0].tokens, vec![5, 0, 5, 2]);
}

fn vqa_constraints() -> Constraints {
    let mut trie = Trie::new(2);
    for a in [&[7][..], &[7, 8], &[9]] {
        trie.insert(&[&[0][..], a, &[2]].concat());
    }
    Constraints {
        strict_prefix: false,
        prefix: vec![5, 6],
        trie: Some(trie),
    }
}

#[test]
fn prefix_with_trie_forces_the_question_and_constrains_the_answer() {
    let f = hashed_logits(21, V);
    let got = beam_search(
        &mut FakeScorer::new(hashed_logits(21, V)),
        &opts(3, 1, 20),
        &vqa_constraints(),
        0,
    )
    .unwrap();
    let mut toks = tokens(&got);
    toks.sort();
    assert_eq!(
        toks,
        vec![vec![5, 6, 7, 2], vec![5, 6, 7, 8, 2], vec![5, 6, 9, 2]]
    );
    for h in &got {
        // Prefix tokens keep their full-vocabulary log-probs.
        assert_eq!(h.positional_scores[0], full_log_probs(&f, &[0])[5]);
        let second = full_log_probs(&f, &[0, 5])[6];
        assert!((h.positional_scores[1] - second).abs() < 1e-5);
        // After a complete answer with no longer continuation only EOS is allowed: log-prob 0.
        if h.tokens[2] == 9 || h.tokens.len() == 5 {
            assert_eq!(*h.positional_scores.last().unwrap(), 0.0);
        }
        // Unnormalized would be the sum; normalized divides by the length incl. prefix.
        let sum = h.positional_scores.iter().fold(0f32, |a, &b| a + b);
        assert_eq!(h.score, sum / h.tokens.len() as f32);
    }
    // After the answer 7, EOS and 8 were both allowed (a longer answer shares the prefix).
    assert!(toks.contains(&vec![5, 6, 7, 2]) && toks.contains(&vec![5, 6, 7, 8, 2]));
}

/// Answers restricted steps with junk (a huge logit) outside the allowed ids: the search must
/// read only the allowed ones.
struct JunkOutsideAllowed {
    inner: FakeScorer,
    restricted_steps: Vec<usize>,
}

impl Scorer for JunkOutsideAllowed {
    type Error = FakeError;
    fn next_logits(&mut self, step: usize, last: &[i64]) -> Result<Array2<f32>, FakeError> {
        self.inner.next_logits(step, last)
    }
    fn next_logits_restricted(
        &mut self,
        step: usize,
        last: &[i64],
        allowed: &[&[i64]],
    ) -> Result<Array2<f32>, FakeError> {
        self.restricted_steps.push(step);
        let mut l = self.inner.next_logits(step, last)?;
        for (mut row, ids) in l.rows_mut().into_iter().zip(allowed) {
            for (t, x) in row.iter_mut().enumerate() {
                if !ids.contains(&(t as i64)) {
                    *x = 1e3;
                }
            }
        }
        Ok(l)
    }
    fn reorder(&mut self, indices: &[usize]) -> Result<(), FakeError> {
        self.inner.reorder(indices)
    }
}

#[test]
fn trie_steps_ask_only_for_the_allowed_logits() {
    let full = beam_search(
        &mut FakeScorer::new(hashed_logits(21, V)),
        &opts(3, 1, 20),
        &vqa_constraints(),
        0,
    )
    .unwrap();
    let mut junk = JunkOutsideAllowed {
        inner: FakeScorer::new(hashed_logits(21, V)),
        restricted_steps: Vec::new(),
    };
    let got = beam_search(&mut junk, &opts(3, 1, 20), &vqa_constraints(), 0).unwrap();
    assert_eq!(got, full);
    // Steps 0 and 1 force the two prefix tokens with full-vocabulary log-probs; the answer
    // steps (2, 3, 4) are restricted.
    assert_eq!(junk.restricted_steps, vec![2, 3, 4]);
}

#[test]
fn prefix_without_trie_keeps_the_prefix_log_prob_and_suspends_min_len() {
    // Prefix longer than min_len: EOS is allowed right after the prefix (elif rule).
    let rule = |h: &[i64]| {
        if h.len() >= 3 {
            vec![(2, 6.0)]
        } else {
            vec![(5, 1.0), (6, 1.0)]
        }
    };
    let c = Constraints {
        strict_prefix: false,
        prefix: vec![5, 6],
        trie: None,
    };
    let got = beam_search(&mut scripted(rule), &opts(1, 2, 10), &c, 0).unwrap();
    assert_eq!(got[0].tokens, vec![5, 6, 2]);
    let lp = |h: &[i64], t: usize| {
        let mut l = vec![-5.0; V];
        for (k, x) in rule(h) {
            l[k] = x;
        }
        log_softmax(&mut l);
        l[t]
    };
    assert_eq!(got[0].positional_scores[0], lp(&[0], 5));
    assert!((got[0].positional_scores[1] - lp(&[0, 5], 6)).abs() < 1e-6);
}

#[test]
fn eos_ranked_at_or_beyond_beam_is_dropped_not_kept() {
    let rule = |h: &[i64]| match h {
        [0] => vec![(4, 3.0), (5, 2.0), (2, 1.0), (6, 0.5)],
        _ => vec![(2, 5.0)],
    };
    let mut s = scripted(rule);
    let got = beam_search(&mut s, &opts(2, 0, 5), &Constraints::none(), 0).unwrap();
    let mut toks = tokens(&got);
    toks.sort();
    assert_eq!(toks, vec![vec![4, 2], vec![5, 2]]);
    assert_eq!(s.reorders, vec![vec![0, 0]]);
}

#[test]
fn eos_in_the_first_beam_candidates_is_finalized_and_skipped_for_selection() {
    let rule = |h: &[i64]| match h {
        [0] => vec![(4, 3.0), (2, 2.0), (5, 1.0)],
        _ => vec![(2, 5.0)],
    };
    let mut s = scripted(rule);
    let got = beam_search(&mut s, &opts(2, 0, 5), &Constraints::none(), 0).unwrap();
    assert_eq!(tokens(&got), vec![vec![4, 2], vec![2]]);
    assert_eq!(s.reorders.len(), 1);
    assert_eq!(s.rows, vec![vec![0, 4], vec![0, 5]]);
}

#[test]
fn search_stops_once_beam_hypotheses_finish_even_if_live_beams_could_win() {
    // At step 1 both rows' EOS rank first and second, so the search stops. The live
    // continuation [4, 7] would end with a certain EOS at a normalized score of about
    // (−0.69 − 0.74 + 0)/3 ≈ −0.48, better than the finished ≈ (−0.69 − 0.64)/2 ≈ −0.67.
    let rule = |h: &[i64]| match h {
        [0] => vec![(4, 3.0), (5, 2.99)],
        [0, _] => vec![(2, 4.0), (7, 3.9)],
        _ => vec![(2, 30.0)],
    };
    let mut s = scripted(rule);
    let got = beam_search(&mut s, &opts(2, 0, 10), &Constraints::none(), 0).unwrap();
    assert_eq!(s.row_counts.len(), 2);
    let mut toks = tokens(&got);
    toks.sort();
    assert_eq!(toks, vec![vec![4, 2], vec![5, 2]]);
    assert!(got[0].score < -0.6, "{}", got[0].score);
}

#[test]
fn lenpen_and_unnormalized_scores() {
    let fixed = |lenpen: f64, unnormalized: bool| {
        let o = SearchOptions {
            lenpen,
            unnormalized,
            ..opts(1, 4, 4)
        };
        beam_search(
            &mut FakeScorer::new(hashed_logits(5, V)),
            &o,
            &Constraints::none(),
            0,
        )
        .unwrap()
    };
    let raw = fixed(1.0, true).remove(0);
    let sum = raw.positional_scores.iter().fold(0f32, |a, &b| a + b);
    assert_eq!(raw.tokens.len(), 5);
    assert_eq!(raw.score, sum);
    assert_eq!(fixed(2.0, false)[0].score, sum / 25.0);
    assert_eq!(fixed(1.0, false)[0].score, sum / 5.0);
    assert_eq!(fixed(0.0, false)[0].score, sum);
}

#[test]
fn temperature_divides_logits_before_log_softmax() {
    let f = hashed_logits(8, V);
    let o = SearchOptions {
        temperature: 2.0,
        ..opts(1, 1, 3)
    };
    let got = beam_search(
        &mut FakeScorer::new(hashed_logits(8, V)),
        &o,
        &Constraints::none(),
        0,
    )
    .unwrap();
    let mut l: Vec<f32> = f(&[0]).iter().map(|x| x / 2.0).collect();
    log_softmax(&mut l);
    assert_eq!(got[0].positional_scores[0], l[got[0].tokens[0] as usize]);
}

#[test]
fn nbest_truncates_the_sorted_hypotheses() {
    let run = |nbest| {
        let o = SearchOptions {
            nbest,
            ..opts(3, 1, 6)
        };
        beam_search(
            &mut FakeScorer::new(hashed_logits(11, V)),
            &o,
            &Constraints::none(),
            0,
        )
        .unwrap()
    };
    let all = run(3);
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(run(2), all[..2].to_vec());
}

#[test]
fn greedy_returns_the_argmax_path() {
    let rule = |h: &[i64]| match h.len() {
        1 => vec![(4, 2.0), (5, 1.0)],
        2 => vec![(6, 2.0)],
        _ => vec![(2, 2.0)],
    };
    let got = greedy(&mut scripted(rule), &opts(5, 1, 9), &Constraints::none(), 0)
        .unwrap()
        .unwrap();
    assert_eq!(got.tokens, vec![4, 6, 2]);
}

#[test]
fn errors_are_typed_and_carry_context() {
    let mut s = FakeScorer::new(hashed_logits(1, V));
    s.fail_at = Some(2);
    let e = beam_search(&mut s, &opts(2, 0, 6), &Constraints::none(), 0).unwrap_err();
    assert!(matches!(e, GenerateError::Scorer { step: 2, .. }), "{e}");

    let mut s = FakeScorer::new(hashed_logits(1, V));
    s.bad_shape_at = Some(1);
    let e = beam_search(&mut s, &opts(2, 0, 6), &Constraints::none(), 0).unwrap_err();
    assert!(
        matches!(
            e,
            GenerateError::LogitsShape {
                step: 1,
                expected: (2, V),
                actual: (2, 11)
            }
        ),
        "{e}"
    );

    let e = beam_search(
        &mut FakeScorer::new(hashed_logits(1, 4)),
        &opts(2, 0, 6),
        &Constraints::none(),
        0,
    );
    assert!(matches!(
        e,
        Err(GenerateError::VocabTooSmall { vocab: 4, beam: 2 })
    ));

    let e = beam_search(
        &mut FakeScorer::new(hashed_logits(1, V)),
        &opts(2, 7, 6),
        &Constraints::none(),
        0,
    );
    assert!(matches!(
        e,
        Err(GenerateError::MinLenAboveMaxLen {
            min_len: 7,
            max_len: 6
        })
    ));

    let c = Constraints {
        strict_prefix: false,
        prefix: vec![V as i64],
        trie: None,
    };
    let e = beam_search(
        &mut FakeScorer::new(hashed_logits(1, V)),
        &opts(2, 0, 6),
        &c,
        0,
    );
    assert!(matches!(
        e,
        Err(GenerateError::TokenOutOfRange { what: "prefix", .. })
    ));

    let e = greedy(
        &mut FakeScorer::new(hashed_logits(1, V)),
        &SearchOptions {
            temperature: -1.0,
            ..opts(1, 0, 3)
        },
        &Constraints::none(),
        0,
    );
    assert!(matches!(
        e,
        Err(GenerateError::InvalidOption {
            option: "temperature",
            ..
        })
    ));
}
