//! Timing probe for the decoder step on real bundles (ignored; run in release):
//!
//! ```text
//! UNIVAL_DECODER_PROBE=/tmp/a,/tmp/b cargo test --release -p unival-runtime --lib \
//!     model::probe -- --ignored --nocapture
//! ```
//!
//! Opens every bundle listed, encodes one synthetic 480² image, then interleaves (so a busy
//! machine slows all alike) a 23-step beam-5 caption decode and a VQA decode (a 10-token
//! forced prefix, then an answer trie of 3000 synthetic answers), the VQA decode twice: trie steps
//! computing only the allowed rows of the output projection, and trie steps computing all of
//! it (what every bundle without `vocab_rows` does). Prints the minimum and median per-step
//! times of unconstrained and both kinds of trie steps for each bundle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{Model, PerceptionInput};
use crate::engine::ep::SessionOptions;
use crate::generate::{beam_search, Constraints, Scorer, SearchOptions, Trie};
use ndarray::{Array2, Array4};
use std::path::Path;
use std::time::{Duration, Instant};

/// Times every step of the scorer it wraps, split by kind.
struct Timed<'s, S> {
    inner: &'s mut S,
    full: Vec<Duration>,
    restricted: Vec<Duration>,
    /// Serve trie steps with the full logits (the scorer's restricted path bypassed).
    full_trie: bool,
}

impl<S: Scorer> Scorer for Timed<'_, S> {
    type Error = S::Error;
    fn next_logits(&mut self, step: usize, last: &[i64]) -> Result<Array2<f32>, S::Error> {
        let t = Instant::now();
        let r = self.inner.next_logits(step, last);
        if step > 0 {
            self.full.push(t.elapsed());
        }
        r
    }
    fn next_logits_restricted(
        &mut self,
        step: usize,
        last: &[i64],
        allowed: &[&[i64]],
    ) -> Result<Array2<f32>, S::Error> {
        let t = Instant::now();
        let r = if self.full_trie {
            self.inner.next_logits(step, last)
        } else {
            self.inner.next_logits_restricted(step, last, allowed)
        };
        self.restricted.push(t.elapsed());
        r
    }
    fn reorder(&mut self, indices: &[usize]) -> Result<(), S::Error> {
        let t = Instant::now();
        let r = self.inner.reorder(indices);
        // Reordering belongs to the step that follows it.
        if let Some(last) = self.full.last_mut() {
            *last += t.elapsed();
        }
        r
    }
}

fn ms(d: &mut [Duration]) -> String {
    if d.is_empty() {
        return "-".into();
    }
    d.sort();
    let f = |x: Duration| x.as_secs_f64() * 1e3;
    format!(
        "min {:.1} med {:.1} (n={})",
        f(d[0]),
        f(d[d.len() / 2]),
        d.len()
    )
}

fn answers_trie(eos: i64) -> Trie {
    let mut trie = Trie::new(eos);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    for _ in 0..3000 {
        let len = 1 + next(3) as usize;
        let mut path = vec![0i64];
        // Answers start with one of ~1500 common tokens, like a real answer list.
        path.push(4 + next(1500) as i64 * 7);
        for _ in 1..len {
            path.push(4 + next(50_000) as i64);
        }
        path.push(eos);
        trie.insert(&path);
    }
    trie
}

#[test]
#[ignore = "timing probe on real bundles; set UNIVAL_DECODER_PROBE"]
fn decoder_step_timings() {
    let Ok(dirs) = std::env::var("UNIVAL_DECODER_PROBE") else {
        return;
    };
    let reps: usize = std::env::var("UNIVAL_PROBE_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let mut models: Vec<_> = dirs
        .split(',')
        .map(|d| {
            let mut m = Model::open(Path::new(d), &SessionOptions::default()).unwrap();
            let px = Array4::<f32>::from_shape_fn((1, 3, 480, 480), |(_, c, y, x)| {
                ((c * 7 + y * 3 + x) % 17) as f32 / 17.0 - 0.5
            });
            let enc = m
                .encode_input(PerceptionInput::Image(px.view()), &[0, 9, 10, 11, 12, 2])
                .unwrap();
            (d.to_string(), m, enc, [(); 4].map(|_| Vec::new()))
        })
        .collect();
    let caption = SearchOptions {
        beam: 5,
        min_len: 22,
        max_len_b: 22,
        no_repeat_ngram_size: 3,
        ..SearchOptions::default()
    };
    let vqa = SearchOptions {
        beam: 5,
        max_len_a: 0.0,
        max_len_b: 200,
        unnormalized: true,
        ..SearchOptions::default()
    };
    let trie = answers_trie(caption.specials.eos);
    let vqa_constraints = Constraints {
        prefix: (100..110).collect(),
        trie: Some(trie),
        strict_prefix: true,
    };
    for _ in 0..reps {
        for (_, m, enc, times) in &mut models {
            for (opts, cons, full_trie) in [
                (&caption, Constraints::none(), false),
                (&vqa, vqa_constraints.clone(), false),
                (&vqa, vqa_constraints.clone(), true),
            ] {
                let mut dec = m.decoder(enc);
                let mut timed = Timed {
                    inner: &mut dec,
                    full: Vec::new(),
                    restricted: Vec::new(),
                    full_trie,
                };
                let t = Instant::now();
                beam_search(&mut timed, opts, &cons, enc.src_len).unwrap();
                let total = t.elapsed();
                if cons.trie.is_none() {
                    times[0].extend(timed.full);
                    times[2].push(total);
                } else {
                    times[if full_trie { 3 } else { 1 }].extend(timed.restricted);
                }
            }
        }
    }
    for (d, _, _, times) in &mut models {
        println!(
            "{d}: caption step {} | trie step {} | trie step, full projection {} | caption decode {}",
            ms(&mut times[0]),
            ms(&mut times[1]),
            ms(&mut times[3]),
            ms(&mut times[2])
        );
    }
}
