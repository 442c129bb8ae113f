//! Beam search's own work per caption (docs/model.md §6.1): 23 steps at beam 5 over the full
//! 59457-token vocabulary, with a fake scorer that hands out fixed logits, so only the search is
//! timed (log-softmax, n-gram blocking, top-k, hypothesis bookkeeping, plus one logits copy per
//! step that a real scorer would hand over too).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::{s, Array2};
use std::convert::Infallible;
use std::hint::black_box;
use unival_runtime::generate::{beam_search, Constraints, Scorer, SearchOptions};

const VOCAB: usize = 59457;
const BEAM: usize = 5;
const STEPS: usize = 23;

/// Fixed pseudo-random logits (xorshift), the same rows every step.
struct FixedLogits(Array2<f32>);

impl FixedLogits {
    fn new() -> Self {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        FixedLogits(Array2::from_shape_fn((BEAM, VOCAB), |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 20.0 - 10.0
        }))
    }
}

impl Scorer for FixedLogits {
    type Error = Infallible;

    fn next_logits(&mut self, _step: usize, last: &[i64]) -> Result<Array2<f32>, Infallible> {
        Ok(self.0.slice(s![..last.len(), ..]).to_owned())
    }

    fn reorder(&mut self, _indices: &[usize]) -> Result<(), Infallible> {
        Ok(())
    }
}

fn search(c: &mut Criterion) {
    let opts = SearchOptions {
        beam: BEAM,
        max_len_a: 0.0,
        max_len_b: STEPS - 1,
        min_len: STEPS - 1,
        no_repeat_ngram_size: 3,
        unnormalized: true,
        ..SearchOptions::default()
    };
    let constraints = Constraints::none();
    let mut scorer = FixedLogits::new();
    let mut group = c.benchmark_group("search");
    group.throughput(Throughput::Elements(STEPS as u64));
    group.bench_function("beam5_vocab59457_23_steps", |b| {
        b.iter(|| {
            let hyps = beam_search(&mut scorer, &opts, &constraints, 10);
            black_box(hyps.map(|h| h.len()).unwrap_or(0))
        })
    });
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
