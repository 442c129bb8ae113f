//! The batched search against one search per sentence: random batches of sentences with their
//! own options, prefixes, tries and lengths must give bit-identical hypotheses, each sentence
//! leaving the batch at its own step; a bad sentence or a failing scorer fails what it should.

use super::brute_force::{constraints, random_case, Case, Rng};
use super::{hashed_logits, FakeError, FakeScorer};
use crate::generate::Scorer;
use crate::generate::{
    beam_search, beam_search_batch, BatchItem, BatchScorer, Constraints, GenerateError,
    SearchOptions,
};
use ndarray::{concatenate, Array2, Axis};

/// One [`FakeScorer`] per sentence behind the batched interface: rows are split by
/// `row_items`, each sentence's scorer sees only its own rows, and a global reorder is split
/// back into per-sentence ones (a wrong split changes the results).
struct PerSentence {
    scorers: Vec<FakeScorer>,
    /// The sentence of each row of the last step.
    row_items: Vec<usize>,
    /// Rows per step, all sentences together.
    batch_rows: Vec<usize>,
    fail_at: Option<usize>,
}

impl PerSentence {
    fn new(scorers: Vec<FakeScorer>) -> Self {
        PerSentence {
            scorers,
            row_items: Vec::new(),
            batch_rows: Vec::new(),
            fail_at: None,
        }
    }
}

impl BatchScorer for PerSentence {
    type Error = FakeError;

    fn next_logits(
        &mut self,
        step: usize,
        last_tokens: &[i64],
        row_items: &[usize],
        allowed: Option<&[&[i64]]>,
    ) -> Result<Array2<f32>, FakeError> {
        if self.fail_at == Some(step) {
            return Err(FakeError(step));
        }
        assert_eq!(last_tokens.len(), row_items.len());
        assert!(row_items.windows(2).all(|w| w[0] <= w[1]), "{row_items:?}");
        if let Some(a) = allowed {
            assert_eq!(a.len(), row_items.len());
        }
        let mut parts = Vec::new();
        let mut start = 0;
        while start < row_items.len() {
            let item = row_items[start];
            let end = start
                + row_items[start..]
                    .iter()
                    .take_while(|&&i| i == item)
                    .count();
            parts.push(self.scorers[item].next_logits(step, &last_tokens[start..end])?);
            start = end;
        }
        self.row_items = row_items.to_vec();
        self.batch_rows.push(row_items.len());
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        Ok(concatenate(Axis(0), &views).unwrap())
    }

    fn reorder(&mut self, indices: &[usize]) -> Result<(), FakeError> {
        let first = |item: usize| self.row_items.iter().position(|&i| i == item).unwrap();
        let mut start = 0;
        while start < indices.len() {
            let item = self.row_items[indices[start]];
            let end = start
                + indices[start..]
                    .iter()
                    .take_while(|&&r| self.row_items[r] == item)
                    .count();
            let local: Vec<usize> = indices[start..end]
                .iter()
                .map(|r| r - first(item))
                .collect();
            self.scorers[item].reorder(&local)?;
            start = end;
        }
        Ok(())
    }
}

/// `n` random sentences over one vocabulary.
fn random_batch(rng: &mut Rng, n: usize) -> Vec<Case> {
    let vocab = 8;
    let mut cases = Vec::new();
    while cases.len() < n {
        let case = random_case(rng);
        if case.vocab == vocab {
            cases.push(case);
        }
    }
    cases
}

fn items<'a>(cases: &'a [Case], constraints: &'a [Constraints]) -> Vec<BatchItem<'a>> {
    cases
        .iter()
        .zip(constraints)
        .map(|(c, k)| BatchItem {
            opts: &c.opts,
            constraints: k,
            src_len: c.src_len,
        })
        .collect()
}

#[test]
fn a_batch_equals_one_search_per_sentence() {
    let mut rng = Rng(0xBA7C_0000_5EED_0003);
    let mut uneven = 0;
    for batch in 0..400u64 {
        let n = 1 + rng.below(6) as usize;
        let cases = random_batch(&mut rng, n);
        let cons: Vec<Constraints> = cases.iter().map(constraints).collect();
        let seed = |i: usize| batch * 16 + i as u64;
        let scorers = (0..n)
            .map(|i| FakeScorer::new(hashed_logits(seed(i), 8)))
            .collect();
        let mut batched = PerSentence::new(scorers);
        let got = beam_search_batch(&mut batched, &items(&cases, &cons));
        for (i, (case, c)) in cases.iter().zip(&cons).enumerate() {
            let mut alone = FakeScorer::new(hashed_logits(seed(i), 8));
            let want = beam_search(&mut alone, &case.opts, c, case.src_len).unwrap();
            let got = got[i].as_ref().unwrap();
            assert_eq!(got, &want, "batch {batch} sentence {i}: {:?}", case.opts);
            assert_eq!(batched.scorers[i].row_counts, alone.row_counts);
        }
        let steps: Vec<usize> = batched.scorers.iter().map(|s| s.row_counts.len()).collect();
        uneven += usize::from(steps.iter().any(|&s| s != steps[0]));
    }
    assert!(
        uneven > 100,
        "only {uneven} batches had sentences finishing at different steps"
    );
}

#[test]
fn finished_sentences_leave_the_batch() {
    // Sentence 0 stops after 2 steps (max_len 1), sentence 1 runs 6.
    let short = SearchOptions {
        beam: 2,
        max_len_b: 1,
        min_len: 0,
        ..SearchOptions::default()
    };
    let long = SearchOptions {
        max_len_b: 5,
        ..short.clone()
    };
    let none = Constraints::none();
    let items = [
        BatchItem {
            opts: &short,
            constraints: &none,
            src_len: 0,
        },
        BatchItem {
            opts: &long,
            constraints: &none,
            src_len: 0,
        },
    ];
    let never_eos = |_: &[i64]| {
        (0..8)
            .map(|t| if t == 2 { -9.0 } else { t as f32 })
            .collect()
    };
    let scorers = vec![FakeScorer::new(never_eos), FakeScorer::new(never_eos)];
    let mut batched = PerSentence::new(scorers);
    let got = beam_search_batch(&mut batched, &items);
    assert_eq!(got[0].as_ref().unwrap()[0].tokens.len(), 2);
    assert_eq!(got[1].as_ref().unwrap()[0].tokens.len(), 6);
    assert_eq!(batched.batch_rows, [2, 4, 2, 2, 2, 2]);
}

#[test]
fn a_bad_sentence_fails_alone_and_a_scorer_failure_fails_the_rest() {
    let good = SearchOptions {
        beam: 2,
        max_len_b: 4,
        ..SearchOptions::default()
    };
    let bad = SearchOptions {
        min_len: 9,
        ..good.clone()
    };
    let none = Constraints::none();
    let items = [
        BatchItem {
            opts: &good,
            constraints: &none,
            src_len: 0,
        },
        BatchItem {
            opts: &bad,
            constraints: &none,
            src_len: 0,
        },
        BatchItem {
            opts: &good,
            constraints: &none,
            src_len: 0,
        },
    ];
    let make = || {
        (0..3)
            .map(|i| FakeScorer::new(hashed_logits(i, 8)))
            .collect()
    };
    let got = beam_search_batch(&mut PerSentence::new(make()), &items);
    assert!(got[0].is_ok() && got[2].is_ok());
    assert!(matches!(
        got[1],
        Err(GenerateError::MinLenAboveMaxLen { .. })
    ));

    let mut failing = PerSentence::new(make());
    failing.fail_at = Some(1);
    let got = beam_search_batch(&mut failing, &items);
    for i in [0, 2] {
        let err = got[i].as_ref().unwrap_err();
        assert!(
            matches!(err, GenerateError::Scorer { step: 1, .. }),
            "{err}"
        );
        let source = std::error::Error::source(err).unwrap().to_string();
        assert!(source.contains("fake scorer failure at step 1"), "{source}");
    }
    assert!(matches!(
        got[1],
        Err(GenerateError::MinLenAboveMaxLen { .. })
    ));
}
