//! Deterministic values for synthetic tensors, streamed as little-endian bytes.
//!
//! Every tensor draws from its own ChaCha8 stream seeded by (seed, key name), so values do not
//! depend on write order and tied copies are bit-identical. EMA copies add a small perturbation
//! from a second stream, so they differ from the raw weights like a real EMA does.

use std::io::{self, Write};

use half::f16;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::arch::{Init, ParamSpec};
use super::buckets;
use crate::checkpoint::StorageType;

/// FNV-1a of a key name, to derive per-tensor seeds.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Standard normal pairs by Box–Muller.
struct Gauss {
    rng: ChaCha8Rng,
    spare: Option<f32>,
}

impl Gauss {
    fn new(seed: u64) -> Gauss {
        Gauss {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    fn next(&mut self) -> f32 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        let bits = self.rng.next_u64();
        // Two 24-bit uniforms; u1 in (0, 1] so ln(u1) is finite.
        let u1 = ((bits >> 40) as f32 + 1.0) * (1.0 / (1u32 << 24) as f32);
        let u2 = ((bits & 0xff_ffff) as f32) * (1.0 / (1u32 << 24) as f32);
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f32::consts::TAU * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }

    /// `v = center + scale · N(0, 1)` for every element.
    fn fill(&mut self, vals: &mut [f32], scale: f32, center: f32) {
        vals.iter_mut()
            .for_each(|v| *v = center + scale * self.next());
    }

    /// `v += std · N(0, 1)` for every element.
    fn add(&mut self, vals: &mut [f32], std: f32) {
        vals.iter_mut().for_each(|v| *v += std * self.next());
    }
}

/// Writes the values of `spec` (named `rng_name` for seeding) as `dtype` bytes.
///
/// `ema` adds N(0, (0.1·std)²) to normal-initialised weights and N(0, 0.01²) to the weights
/// centred on a constant; buffers are never perturbed.
pub(crate) fn write_values(
    spec: &ParamSpec,
    rng_name: &str,
    seed: u64,
    ema: bool,
    dtype: StorageType,
    out: &mut dyn Write,
) -> io::Result<()> {
    let n: usize = spec.shape.iter().product();
    let base = seed ^ fnv(rng_name);
    match spec.init {
        Init::Counter => return out.write_all(&0i64.to_le_bytes()),
        Init::TokenBuckets(b, max) => return write_i64(out, &buckets::token_bucket_table(b, max)),
        Init::ImageBuckets(b) => return write_i64(out, &buckets::image_bucket_table(b)),
        Init::ImagePositionIdx(b, code) => {
            return write_i64(out, &buckets::image_position_idx(b, code))
        }
        _ => {}
    }
    let mut g = Gauss::new(base);
    let mut uni = ChaCha8Rng::seed_from_u64(base.rotate_left(17));
    let mut perturb = Gauss::new(base ^ 0x5EED_E4A0_0000_0001);
    let (scale, center, perturb_std) = match spec.init {
        Init::Normal(std) => (std, 0.0, 0.1 * std),
        Init::HeNormal(fan_in) => {
            let std = (2.0 / fan_in.max(1) as f32).sqrt();
            (std, 0.0, 0.1 * std)
        }
        Init::Around(c, noise) => (noise, c, 0.01),
        Init::RunningMean => (0.1, 0.0, 0.0),
        _ => (0.0, 0.0, 0.0),
    };
    let ema_std = if ema { perturb_std } else { 0.0 };
    let mut vals = vec![0f32; n.min(1 << 16)];
    let mut buf = Vec::with_capacity(vals.len() * 4);
    let mut left = n;
    while left > 0 {
        let chunk = left.min(vals.len());
        let vals = &mut vals[..chunk];
        match spec.init {
            Init::RunningVar => vals
                .iter_mut()
                .for_each(|v| *v = uni.gen_range(0.5f32..1.5)),
            Init::Version => vals.iter_mut().for_each(|v| *v = 3.0),
            _ => g.fill(vals, scale, center),
        }
        if ema_std > 0.0 {
            perturb.add(vals, ema_std);
        }
        buf.clear();
        match dtype {
            StorageType::F16 => vals
                .iter()
                .for_each(|v| buf.extend_from_slice(&f16::from_f32(*v).to_le_bytes())),
            _ => vals
                .iter()
                .for_each(|v| buf.extend_from_slice(&v.to_le_bytes())),
        }
        out.write_all(&buf)?;
        left -= chunk;
    }
    Ok(())
}

fn write_i64(out: &mut dyn Write, v: &[i64]) -> io::Result<()> {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    out.write_all(&bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn values(init: Init, n: usize, ema: bool) -> Vec<f32> {
        let spec = ParamSpec {
            name: "x".into(),
            shape: vec![n],
            init,
        };
        let mut out = Vec::new();
        write_values(&spec, "x", 1, ema, StorageType::F32, &mut out).unwrap();
        out.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    #[test]
    fn normal_has_requested_moments_and_is_deterministic() {
        let v = values(Init::Normal(0.5), 100_000, false);
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var.sqrt() - 0.5).abs() < 0.01, "{var}");
        assert_eq!(v, values(Init::Normal(0.5), 100_000, false));
    }

    #[test]
    fn ema_perturbs_parameters_only() {
        let a = values(Init::Around(1.0, 0.02), 64, false);
        let b = values(Init::Around(1.0, 0.02), 64, true);
        assert_ne!(a, b);
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 0.1));
        assert_eq!(
            values(Init::RunningVar, 64, false),
            values(Init::RunningVar, 64, true)
        );
        assert!(values(Init::RunningVar, 64, false)
            .iter()
            .all(|v| (0.5..1.5).contains(v)));
        assert_eq!(values(Init::Version, 1, true), vec![3.0]);
    }
}
