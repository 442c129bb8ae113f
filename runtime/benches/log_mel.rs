//! The audio front end (docs/model.md §2.4): log-mel of 10 s at 48 kHz (480 000 samples → 2401
//! frames × 64 bands) through the checkpoint-style DFT kernels, with the default f64 products.

use criterion::{criterion_group, criterion_main, Criterion};
use std::f64::consts::PI;
use std::hint::black_box;
use unival_runtime::audio::{LogMel, LogMelConfig};

/// Hann-windowed DFT kernels `[n_fft/2+1, n_fft]`, as the checkpoint's STFT convolution holds.
fn kernels(n_fft: usize) -> (Vec<f32>, Vec<f32>) {
    let bins = n_fft / 2 + 1;
    let mut re = Vec::with_capacity(bins * n_fft);
    let mut im = Vec::with_capacity(bins * n_fft);
    for k in 0..bins {
        for n in 0..n_fft {
            let w = 0.5 - 0.5 * (2.0 * PI * n as f64 / n_fft as f64).cos();
            let a = 2.0 * PI * (k * n) as f64 / n_fft as f64;
            re.push((w * a.cos()) as f32);
            im.push((-w * a.sin()) as f32);
        }
    }
    (re, im)
}

fn log_mel(c: &mut Criterion) {
    let cfg = LogMelConfig::default();
    let (re, im) = kernels(cfg.n_fft);
    let Ok(front) = LogMel::new(re, im, cfg) else {
        return;
    };
    let wave: Vec<f32> = (0..480_000)
        .map(|i| (2.0 * PI * 440.0 * i as f64 / 48_000.0).sin() as f32 * 0.3)
        .collect();
    let mut group = c.benchmark_group("audio");
    group.sample_size(10);
    group.bench_function("log_mel_10s_48khz", |b| {
        b.iter(|| {
            black_box(
                front
                    .compute(black_box(&wave))
                    .map(|m| m.len())
                    .unwrap_or(0),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, log_mel);
criterion_main!(benches);
