//! The mel filterbank `melW`, rebuilt exactly as librosa 0.9.2's
//! `librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax)` with its defaults `htk=False` (Slaney mel
//! scale) and `norm="slaney"` (area normalisation), `dtype=float32` (docs/model.md §2.4 step 3 and
//! §0.1 item 4: the checkpoint's stored copy is deleted on load and recomputed).
//!
//! Numerics follow librosa/numpy step by step so the f32 result matches to the last bit in
//! almost every entry: everything in `f64`; the triangle weights are first stored into the `f32`
//! array, then multiplied in place by the `f64` Slaney norm (numpy computes that product in `f64`
//! and rounds it to `f32` again).

use super::error::AudioError;

/// Slaney mel scale: linear below 1 kHz (`f/(200/3)`), logarithmic above (`log(6.4)/27` per mel).
const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Hz → mel on the Slaney scale (librosa `hz_to_mel(htk=False)`).
pub fn hz_to_mel(hz: f64) -> f64 {
    let min_log_mel = MIN_LOG_HZ / F_SP;
    if hz >= MIN_LOG_HZ {
        min_log_mel + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

/// Mel → Hz on the Slaney scale (librosa `mel_to_hz(htk=False)`).
pub fn mel_to_hz(mel: f64) -> f64 {
    let min_log_mel = MIN_LOG_HZ / F_SP;
    if mel >= min_log_mel {
        MIN_LOG_HZ * (log_step() * (mel - min_log_mel)).exp()
    } else {
        F_SP * mel
    }
}

/// `numpy.linspace(start, stop, num)` with its rounding: `i·step + start`, last value `stop`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = num.saturating_sub(1).max(1) as f64;
    let step = (stop - start) / div;
    let mut out: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if num > 1 {
        if let Some(last) = out.last_mut() {
            *last = stop;
        }
    }
    out
}

/// The filterbank as a row-major `[n_mels, n_fft/2 + 1]` f32 matrix (librosa's layout; the
/// model multiplies `power [T, n_fft/2+1] · melWᵀ`).
///
/// Fails with [`AudioError::InvalidConfig`] unless `sample_rate > 0`, `n_fft >= 2`, `n_mels > 0`
/// and `0 <= fmin < fmax <= sample_rate/2`, all finite.
pub fn mel_filterbank(
    sample_rate: u32,
    n_fft: usize,
    n_mels: usize,
    fmin: f64,
    fmax: f64,
) -> Result<Vec<f32>, AudioError> {
    let nyquist = f64::from(sample_rate) / 2.0;
    if sample_rate == 0 || n_fft < 2 || n_mels == 0 {
        return Err(AudioError::InvalidConfig {
            detail: format!(
                "mel filterbank needs sample_rate > 0, n_fft >= 2, n_mels > 0 \
                 (got {sample_rate}, {n_fft}, {n_mels})"
            ),
        });
    }
    if !(fmin.is_finite() && fmax.is_finite() && 0.0 <= fmin && fmin < fmax && fmax <= nyquist) {
        return Err(AudioError::InvalidConfig {
            detail: format!(
                "mel range needs 0 <= fmin < fmax <= {nyquist} Hz (got {fmin}, {fmax})"
            ),
        });
    }
    let n_bins = n_fft / 2 + 1;
    // numpy.fft.rfftfreq(n_fft, d=1/sr): k · (1 / (n_fft · d)).
    let d = 1.0 / f64::from(sample_rate);
    let val = 1.0 / (n_fft as f64 * d);
    let fft_freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * val).collect();
    let mel_f: Vec<f64> = linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
        .into_iter()
        .map(mel_to_hz)
        .collect();
    let mut weights = vec![0.0f32; n_mels * n_bins];
    for (i, row) in weights.chunks_exact_mut(n_bins).enumerate() {
        let (lo, mid, hi) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
        let (fdiff_lo, fdiff_hi) = (mid - lo, hi - mid);
        let enorm = 2.0 / (hi - lo);
        for (w, &f) in row.iter_mut().zip(&fft_freqs) {
            let lower = -(lo - f) / fdiff_lo;
            let upper = (hi - f) / fdiff_hi;
            let tri = 0.0f64.max(lower.min(upper)) as f32;
            *w = (f64::from(tri) * enorm) as f32;
        }
    }
    Ok(weights)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn golden(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    /// Compares against `librosa.filters.mel` 0.9.2 output (see `testdata/README.md`): every
    /// entry within 1e-6 relative of the filter's peak, zeros exactly where librosa has zeros.
    fn check(got: &[f32], want: &[f32], n_bins: usize) -> (f32, usize) {
        assert_eq!(got.len(), want.len());
        let mut max_rel = 0.0f32;
        let mut bit_exact = 0;
        for (g_row, w_row) in got.chunks_exact(n_bins).zip(want.chunks_exact(n_bins)) {
            let peak = w_row.iter().fold(0.0f32, |m, v| m.max(*v));
            assert!(peak > 0.0, "every librosa filter here is non-empty");
            for (g, w) in g_row.iter().zip(w_row) {
                assert_eq!(*g == 0.0, *w == 0.0, "support differs: {g} vs {w}");
                max_rel = max_rel.max((g - w).abs() / peak);
                bit_exact += usize::from(g.to_bits() == w.to_bits());
            }
        }
        (max_rel, bit_exact)
    }

    #[test]
    fn matches_librosa_092_unival_filterbank() {
        let want = golden(include_bytes!(
            "testdata/librosa092_mel_sr48000_nfft1024_m64_50_14000.f32"
        ));
        let got = mel_filterbank(48000, 1024, 64, 50.0, 14000.0).unwrap();
        let (max_rel, exact) = check(&got, &want, 513);
        eprintln!(
            "melW 48k/1024/64: max rel err {max_rel:e}, {exact}/{} bit-exact",
            want.len()
        );
        assert!(max_rel <= 1e-6, "{max_rel}");
    }

    #[test]
    fn matches_librosa_092_full_band_filterbank() {
        let want = golden(include_bytes!(
            "testdata/librosa092_mel_sr32000_nfft512_m32_0_16000.f32"
        ));
        let got = mel_filterbank(32000, 512, 32, 0.0, 16000.0).unwrap();
        let (max_rel, _) = check(&got, &want, 257);
        assert!(max_rel <= 1e-6, "{max_rel}");
    }

    #[test]
    fn slaney_scale_round_trips_and_is_linear_below_1khz() {
        assert!((hz_to_mel(600.0) - 9.0).abs() < 1e-12);
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        for hz in [0.0, 50.0, 999.0, 1000.0, 4000.0, 14000.0, 24000.0] {
            assert!(
                (mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9 * hz.max(1.0),
                "{hz}"
            );
        }
    }

    #[test]
    fn rejects_bad_ranges() {
        for (sr, n, m, lo, hi) in [
            (48000, 1024, 64, 50.0, 24001.0),
            (48000, 1024, 64, 500.0, 500.0),
            (48000, 1024, 0, 50.0, 14000.0),
            (0, 1024, 64, 0.0, 1.0),
            (48000, 1, 64, 50.0, 14000.0),
            (48000, 1024, 64, f64::NAN, 14000.0),
        ] {
            assert!(matches!(
                mel_filterbank(sr, n, m, lo, hi),
                Err(AudioError::InvalidConfig { .. })
            ));
        }
    }
}
