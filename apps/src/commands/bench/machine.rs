//! What this machine can do at best, measured inside the bench: memory read bandwidth (a
//! multi-threaded sum over an array far larger than the caches) and matrix-product throughput
//! (ONNX Runtime's own MatMul on a 1024³ product, built in memory with the exporter's
//! [`GraphBuilder`] and run through the same session options as the model). Also the process's
//! peak resident memory.

use anyhow::{anyhow, Context};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Instant;
use unival_export::onnx::{write::write_model, GraphBuilder};
use unival_manifest::{DType, Dim, GraphSpec};
use unival_runtime::{GraphSession, Input, SessionOptions};

/// Measured peak figures of the machine.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    /// Read bandwidth, GB/s (10⁹ bytes).
    pub bandwidth_gbs: f64,
    /// fp32 matrix-product throughput, GFLOP/s.
    pub gflops: f64,
    /// Cores the bandwidth loop ran on.
    pub cores: usize,
}

impl Machine {
    /// The `machine` object of the JSON report.
    pub fn to_json(self) -> Value {
        json!({
            "bandwidth_gbs": self.bandwidth_gbs,
            "gflops": self.gflops,
            "cores": self.cores,
            "bandwidth_method": "best of 5 multi-threaded f32 sums over 256 MiB",
            "gflops_method": "best of 8 ONNX Runtime MatMul runs, [1024×1024]·[1024×1024] fp32",
        })
    }
}

/// Measures bandwidth and GFLOP/s with the bench's session options.
pub fn measure(opts: &SessionOptions) -> anyhow::Result<Machine> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Ok(Machine {
        bandwidth_gbs: read_bandwidth(cores, 64 << 20, 5),
        gflops: matmul_gflops(opts, 1024, 8)?,
        cores,
    })
}

/// Sums `len` f32 values split over `threads` threads, `repeats` times; best GB/s.
fn read_bandwidth(threads: usize, len: usize, repeats: usize) -> f64 {
    // Non-constant contents so nothing can be folded away.
    let data: Vec<f32> = (0..len).map(|i| (i % 251) as f32).collect();
    let chunk = len.div_ceil(threads.max(1));
    let mut best = 0.0f64;
    for _ in 0..repeats {
        let t = Instant::now();
        std::thread::scope(|s| {
            for part in data.chunks(chunk) {
                s.spawn(move || black_box(sum(part)));
            }
        });
        let secs = t.elapsed().as_secs_f64();
        best = best.max((len * 4) as f64 / secs / 1e9);
    }
    best
}

/// Eight independent accumulators so the loop vectorises and is bound by loads, not adds.
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Best GFLOP/s of ONNX Runtime's MatMul on an `n×n` by `n×n` fp32 product.
fn matmul_gflops(opts: &SessionOptions, n: usize, runs: usize) -> anyhow::Result<f64> {
    let mut b = GraphBuilder::new("bench_matmul", DType::F32);
    let fixed = |d: usize| Dim::Fixed(i64::try_from(d).unwrap_or(i64::MAX));
    let a = b.input("a", DType::F32, vec![fixed(n), fixed(n)]);
    let w: Vec<f32> = (0..n * n).map(|i| ((i % 17) as f32 - 8.0) / 64.0).collect();
    let w = b.weight("w", &[n, n], &w);
    let y = b.node("MatMul", "y", &[a, w], &[]);
    b.output("y", y, DType::F32, vec![fixed(n), fixed(n)]);
    let (inputs, outputs) = b.specs();
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let path = dir.path().join("matmul.onnx");
    write_model(b.finish(env!("CARGO_PKG_VERSION")), &path, false)?;
    let spec = GraphSpec {
        file: "matmul.onnx".into(),
        external_data: None,
        inputs,
        outputs,
    };
    // The probe is not worth caching.
    let opts = SessionOptions {
        optimized_cache: None,
        profile_dir: None,
        ..opts.clone()
    };
    let mut session = GraphSession::load("bench_matmul", &path, &spec, &opts)?;
    let x = ndarray::Array2::<f32>::from_shape_fn((n, n), |(i, j)| ((i + j) % 13) as f32 / 13.0);
    let flops = 2.0 * (n * n * n) as f64;
    let mut best = 0.0f64;
    for i in 0..runs + 2 {
        let t = Instant::now();
        let out = session.run(&[("a", Input::from(&x))])?;
        let secs = t.elapsed().as_secs_f64();
        black_box(out);
        // The first two runs warm the session up.
        if i >= 2 {
            best = best.max(flops / secs / 1e9);
        }
    }
    Ok(best)
}

/// The process's peak resident set (`VmHWM` of `/proc/self/status`), bytes.
pub fn peak_rss_bytes() -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or_else(|| anyhow!("/proc/self/status has no VmHWM line"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("/proc/self/status: unreadable `{line}`"))?;
    Ok(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_matches_a_plain_sum() {
        let xs: Vec<f32> = (0..1003).map(|i| (i % 7) as f32).collect();
        let plain: f32 = xs.iter().sum();
        assert_eq!(sum(&xs), plain);
    }

    #[test]
    fn bandwidth_and_rss_are_positive() {
        assert!(read_bandwidth(2, 1 << 16, 2) > 0.0);
        assert!(peak_rss_bytes().unwrap() > 1 << 20);
    }
}
