//! Host-side cost of one beam step at the real vocabulary size. Ignored by default; run with
//! `cargo test -p unival-runtime --release --lib generate::tests::perf -- --ignored --nocapture`.

use super::FakeError;
use crate::generate::{beam_search, Constraints, Scorer, SearchOptions};
use ndarray::Array2;
use std::time::{Duration, Instant};

/// Returns precomputed logits; measures the time spent inside the scorer so it can be subtracted.
struct Canned {
    logits: Array2<f32>,
    inside: Duration,
    steps: usize,
}

impl Scorer for Canned {
    type Error = FakeError;
    fn next_logits(&mut self, _step: usize, last: &[i64]) -> Result<Array2<f32>, FakeError> {
        let t = Instant::now();
        let out = self.logits.slice(ndarray::s![..last.len(), ..]).to_owned();
        self.inside += t.elapsed();
        self.steps += 1;
        Ok(out)
    }
    fn reorder(&mut self, _indices: &[usize]) -> Result<(), FakeError> {
        Ok(())
    }
}

#[test]
#[ignore = "timing probe; run in release"]
fn one_beam_step_at_full_vocabulary() {
    let vocab = 59457;
    let logits = Array2::from_shape_fn((5, vocab), |(r, v)| {
        ((v * 7919 + r * 104729) % 10007) as f32 * 0.004 - 20.0
    });
    let opts = SearchOptions {
        beam: 5,
        max_len_b: 22,
        // EOS is banned until step 22, so every run takes all 23 steps.
        min_len: 22,
        no_repeat_ngram_size: 3,
        ..SearchOptions::default()
    };
    let mut s = Canned {
        logits,
        inside: Duration::ZERO,
        steps: 0,
    };
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        beam_search(&mut s, &opts, &Constraints::none(), 0).unwrap();
    }
    let host = t.elapsed() - s.inside;
    println!(
        "beam 5, V {vocab}: {:.1} µs host time per step over {} steps",
        host.as_secs_f64() * 1e6 / s.steps as f64,
        s.steps
    );
}
