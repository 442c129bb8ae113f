//! Search tests on fake scorers: rule-by-rule scenarios, a brute-force comparison with a naive
//! second implementation written from the spec's pseudo-code, option scoring, and a timing probe.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod batch;
mod brute_force;
mod option_scoring;
mod perf;
mod reference;
mod rules;

use super::Scorer;
use ndarray::Array2;

/// Failure injected by the fake scorers.
#[derive(Debug, thiserror::Error)]
#[error("fake scorer failure at step {0}")]
pub(super) struct FakeError(pub usize);

/// Logits of a row as a function of its whole token history (BOS included).
pub(super) type LogitsFn = Box<dyn Fn(&[i64]) -> Vec<f32>>;

/// A scorer that tracks each row's token history itself, through `next_logits`' last tokens and
/// `reorder`, and derives logits from that history only: a wrong reorder changes the results.
pub(super) struct FakeScorer {
    pub logits: LogitsFn,
    pub rows: Vec<Vec<i64>>,
    pub row_counts: Vec<usize>,
    pub reorders: Vec<Vec<usize>>,
    pub fail_at: Option<usize>,
    /// Return a wrong vocabulary size at this step.
    pub bad_shape_at: Option<usize>,
}

impl FakeScorer {
    pub fn new(logits: impl Fn(&[i64]) -> Vec<f32> + 'static) -> Self {
        FakeScorer {
            logits: Box::new(logits),
            rows: vec![Vec::new()],
            row_counts: Vec::new(),
            reorders: Vec::new(),
            fail_at: None,
            bad_shape_at: None,
        }
    }
}

impl Scorer for FakeScorer {
    type Error = FakeError;

    fn next_logits(&mut self, step: usize, last_tokens: &[i64]) -> Result<Array2<f32>, FakeError> {
        if self.fail_at == Some(step) {
            return Err(FakeError(step));
        }
        assert_eq!(
            last_tokens.len(),
            self.rows.len(),
            "step {step}: one token per live row"
        );
        self.row_counts.push(self.rows.len());
        let mut out = Vec::new();
        let mut vocab = 0;
        for (row, &t) in self.rows.iter_mut().zip(last_tokens) {
            row.push(t);
            assert_eq!(row.len(), step + 1, "row length must be step + 1");
            let l = (self.logits)(row);
            vocab = l.len();
            out.extend(l);
        }
        if self.bad_shape_at == Some(step) {
            vocab -= 1;
            out.truncate(self.rows.len() * vocab);
        }
        Ok(Array2::from_shape_vec((self.rows.len(), vocab), out).unwrap())
    }

    fn reorder(&mut self, indices: &[usize]) -> Result<(), FakeError> {
        self.rows = indices.iter().map(|&i| self.rows[i].clone()).collect();
        self.reorders.push(indices.to_vec());
        Ok(())
    }
}

/// Deterministic pseudo-random logits in `[-3, 3)` (multiples of 1/16, so ties occur) from a
/// hash of the history and a seed; one in 40 rows gets a NaN.
pub(super) fn hashed_logits(seed: u64, vocab: usize) -> impl Fn(&[i64]) -> Vec<f32> {
    move |history: &[i64]| {
        let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
        for &t in history {
            h = (h ^ t as u64)
                .wrapping_mul(0x1000_0000_01B3)
                .rotate_left(17);
        }
        let nan_row = h % 40 == 7;
        (0..vocab)
            .map(|i| {
                let x = (h ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407))
                    .wrapping_mul(0x9FB2_1C65_1E98_DF25);
                if nan_row && i == 3 {
                    f32::NAN
                } else {
                    ((x >> 40) % 96) as f32 / 16.0 - 3.0
                }
            })
            .collect()
    }
}
