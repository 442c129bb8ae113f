//! Sample-rate conversion to the model rate (48 kHz), reproducing
//! `torchaudio.transforms.Resample(orig, 48000)` of torchaudio 2.1.2 with its defaults
//! (`sinc_interp_hann`, `lowpass_filter_width` 6, `rolloff` 0.99) on a `float32` tensor: the
//! resampler of the original's chain (issue 11 / docs/model.md §5.7: `soundfile` → channel mean →
//! `Resample` → int16 round trip). The training data were pre-converted to 48 kHz, so this only
//! runs for other inputs.
//!
//! Why this and not a general-purpose crate (e.g. rubato): it is what the original used, and
//! reproducing its `f32` arithmetic gives its very samples (below); it is a whole-signal,
//! zero-delay polyphase FIR with no dependency.
//!
//! With `g = gcd(from, to)`, `orig = from/g`, `new = to/g`, `base = min(orig, new)·0.99` and
//! `width = ⌈6·orig/base⌉`, output sample `i = b·new + j` is
//! `y[i] = Σ_k x[b·orig + k] · K_j(k)` over `k ∈ [−width, width + orig)`, with
//! `t = (k/orig + f32(−j/new))·base` clamped to `±6`, `K_j(k) = sinc(πt)·(cos²(πt/12)·base/orig)`,
//! and `x` zero outside the signal; the output has `⌈new·len/orig⌉` samples. Exactly as
//! torchaudio: `−j/new` is computed in `float32` (its `torch.arange(0, -new, -1) / new` has the
//! default dtype) before joining the `float64` kernel arithmetic, and the kernel is rounded to
//! `float32`. Taps where `|t| ≥ 6` are exactly zero in `float32` and skipped.
//!
//! The sum: PyTorch's CPU `conv1d` (stride `orig`) accumulates each output in `float32` over the
//! taps in order with fused multiply-adds; this does the same (`f32::mul_add`, tap order).
//! Measured against torchaudio 2.1.2 on this project's x86-64 CPU: every upsampling rate tested
//! (8, 11.025, 16, 22.05, 32, 44.1 kHz) gives bit-identical `float32` output; downsampling
//! (96 kHz) runs through another PyTorch kernel whose summation order is not reproduced: ~1/3 of
//! the samples are bit-identical, the rest differ by ≤ 1.5e-7, at most 1 int16 code after the
//! round trip (see `tests.rs`, `resampled_files_match_torchaudio`).

use super::error::AudioError;
use std::f64::consts::PI;

/// Zero crossings of the sinc on each side (torchaudio `lowpass_filter_width`).
const LOWPASS_FILTER_WIDTH: f64 = 6.0;
/// Cut-off as a fraction of the lower Nyquist frequency (torchaudio `rolloff`).
const ROLLOFF: f64 = 0.99;
/// Above this many stored taps (all phases together) kernels are computed per output sample
/// instead of tabulated; only unusual rate pairs (tiny gcd with a large ratio) get there.
const MAX_TABLE_TAPS: usize = 1 << 22;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The polyphase filter of one rate pair.
struct Polyphase {
    orig: u64,
    new: u64,
    base: f64,
    /// Phase `j`: first tap offset and the non-zero `f32` taps.
    table: Option<Vec<(i64, Vec<f32>)>>,
}

impl Polyphase {
    fn new(from: u32, to: u32) -> Self {
        let g = gcd(u64::from(from), u64::from(to));
        let (orig, new) = (u64::from(from) / g, u64::from(to) / g);
        let base = orig.min(new) as f64 * ROLLOFF;
        let mut filter = Polyphase {
            orig,
            new,
            base,
            table: None,
        };
        let taps_per_phase = (2.0 * LOWPASS_FILTER_WIDTH * orig as f64 / base).ceil() as usize + 2;
        if taps_per_phase.saturating_mul(new as usize) <= MAX_TABLE_TAPS {
            filter.table = Some((0..new).map(|j| filter.phase(j)).collect());
        }
        filter
    }

    /// Kernel of phase `j`: first tap offset and the (non-zero) taps.
    fn phase(&self, j: u64) -> (i64, Vec<f32>) {
        let orig = self.orig as f64;
        let width = (LOWPASS_FILTER_WIDTH * orig / self.base).ceil() as i64;
        let scale = self.base / orig;
        // torchaudio: `torch.arange(0, -new, -1)[:, None, None] / new`, a float32 tensor.
        let phase_offset = f64::from(-(j as f32) / self.new as f32);
        let mut first = None;
        let mut taps = Vec::new();
        for k in -width..width + self.orig as i64 {
            let t = (phase_offset + k as f64 / orig) * self.base;
            if t.abs() >= LOWPASS_FILTER_WIDTH {
                if first.is_some() {
                    break;
                }
                continue;
            }
            first.get_or_insert(k);
            let window = (t * PI / LOWPASS_FILTER_WIDTH / 2.0).cos().powi(2);
            let tp = t * PI;
            let sinc = if tp == 0.0 { 1.0 } else { tp.sin() / tp };
            taps.push((sinc * (window * scale)) as f32);
        }
        (first.unwrap_or(0), taps)
    }

    fn run(&self, x: &[f32]) -> Vec<f32> {
        let len = x.len() as u128;
        let out_len = (u128::from(self.new) * len).div_ceil(u128::from(self.orig)) as usize;
        let mut out = Vec::with_capacity(out_len);
        let mut scratch;
        for i in 0..out_len as u64 {
            let (b, j) = (i / self.new, i % self.new);
            let (k_lo, taps) = match &self.table {
                Some(t) => (t[j as usize].0, &t[j as usize].1),
                None => {
                    scratch = self.phase(j);
                    (scratch.0, &scratch.1)
                }
            };
            let start = (b * self.orig) as i64 + k_lo;
            let mut acc = 0.0f32;
            for (n, &w) in (start..).zip(taps) {
                if n >= 0 {
                    if let Some(&s) = x.get(n as usize) {
                        acc = s.mul_add(w, acc);
                    }
                }
            }
            out.push(acc);
        }
        out
    }
}

/// Resamples mono `x` from `from` Hz to `to` Hz (module doc); returns `x` unchanged when the
/// rates are equal. Output length `⌈len·to/from⌉`. Fails with [`AudioError::InvalidRate`] for a
/// zero rate.
pub fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    if from == 0 || to == 0 {
        return Err(AudioError::InvalidRate { from, to });
    }
    if from == to {
        return Ok(x.to_vec());
    }
    Ok(Polyphase::new(from, to).run(x))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn tone(freq: f64, amp: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let n = (seconds * f64::from(rate)) as usize;
        (0..n)
            .map(|i| (amp * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    /// Amplitude and phase-free frequency fit on the central part (edges see the zero padding):
    /// least-squares projection on sin/cos at `freq`, and the residual RMS.
    fn fit(y: &[f32], freq: f64, rate: u32) -> (f64, f64) {
        let lo = y.len() / 10;
        let hi = y.len() - lo;
        let (mut s, mut c) = (0.0, 0.0);
        for (i, &v) in y.iter().enumerate().take(hi).skip(lo) {
            let v = f64::from(v);
            let ph = 2.0 * PI * freq * i as f64 / f64::from(rate);
            s += v * ph.sin();
            c += v * ph.cos();
        }
        let n = (hi - lo) as f64;
        let (a, b) = (2.0 * s / n, 2.0 * c / n);
        let mut resid = 0.0;
        for (i, &v) in y.iter().enumerate().take(hi).skip(lo) {
            let v = f64::from(v);
            let ph = 2.0 * PI * freq * i as f64 / f64::from(rate);
            resid += (v - a * ph.sin() - b * ph.cos()).powi(2);
        }
        ((a * a + b * b).sqrt(), (resid / n).sqrt())
    }

    #[test]
    fn tone_44k1_to_48k_keeps_frequency_and_amplitude() {
        let x = tone(1000.0, 0.5, 44100, 1.0);
        let y = resample(&x, 44100, 48000).unwrap();
        assert_eq!(y.len(), 48000);
        let (amp, resid) = fit(&y, 1000.0, 48000);
        eprintln!("44.1k→48k 1 kHz: amplitude {amp}, residual rms {resid:e}");
        assert!((amp - 0.5).abs() < 1e-3, "{amp}");
        assert!(resid < 1e-3, "a different frequency or distortion: {resid}");
        // A wrong frequency (e.g. rates swapped) fits badly.
        let (wrong, _) = fit(&y, 1000.0 * 44100.0 / 48000.0, 48000);
        assert!(wrong < 0.05, "{wrong}");
    }

    /// The 6-zero-crossing filter is flat to 10 kHz and rolls off gently towards the input's
    /// Nyquist frequency (torchaudio's filter does the same; its wide transition band also lets
    /// a little of the 26.1 kHz image of an 18 kHz tone through, hence the larger residual).
    #[test]
    fn passband_is_flat_and_rolls_off_near_nyquist() {
        for (f, lo, hi, max_resid) in [(10000.0, 0.249, 0.251, 1e-3), (18000.0, 0.2, 0.245, 0.02)] {
            let y = resample(&tone(f, 0.25, 44100, 0.5), 44100, 48000).unwrap();
            let (amp, resid) = fit(&y, f, 48000);
            eprintln!("44.1k→48k {f} Hz: amplitude {amp} of 0.25, residual {resid:e}");
            assert!((lo..hi).contains(&amp), "{f} Hz: {amp}");
            assert!(resid < max_resid, "{f} Hz: {resid}");
        }
    }

    #[test]
    fn downsampling_removes_content_above_the_new_nyquist() {
        let pass = resample(&tone(1000.0, 0.5, 48000, 0.5), 48000, 16000).unwrap();
        assert_eq!(pass.len(), 8000);
        assert!((fit(&pass, 1000.0, 16000).0 - 0.5).abs() < 1e-3);
        let stop = resample(&tone(12000.0, 0.5, 48000, 0.5), 48000, 16000).unwrap();
        let rms = (stop[800..7200]
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            / 6400.0)
            .sqrt();
        assert!(rms < 5e-3, "aliased energy {rms}");
    }

    #[test]
    fn equal_rates_are_identity_and_zero_rates_fail() {
        let x = vec![0.1f32, -0.2, 0.3];
        assert_eq!(resample(&x, 48000, 48000).unwrap(), x);
        assert!(matches!(
            resample(&x, 0, 48000),
            Err(AudioError::InvalidRate { from: 0, .. })
        ));
    }

    #[test]
    fn output_length_is_ceil_and_table_matches_on_the_fly() {
        let x = tone(440.0, 0.3, 8000, 0.0125); // 100 samples
        assert_eq!(resample(&x, 8000, 48000).unwrap().len(), 600);
        assert_eq!(resample(&x, 22050, 48000).unwrap().len(), 218); // ⌈100·320/147⌉
        let mut f = Polyphase::new(22050, 48000);
        let tabulated = f.run(&x);
        f.table = None;
        assert_eq!(f.run(&x), tabulated);
    }

    #[test]
    fn dc_gain_is_unity_for_upsampling() {
        let x = vec![0.25f32; 4410];
        let y = resample(&x, 44100, 48000).unwrap();
        for v in &y[200..4600] {
            assert!((v - 0.25).abs() < 2e-3, "{v}");
        }
    }
}
