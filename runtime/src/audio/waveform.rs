//! The model's fixed-length waveform (`patch_audios`, docs/model.md §5.7): the int16 round trip
//! and the repeat-pad / crop to `max_audio_len` of the original's `get_audio_features`
//! (`data/audio_utils.py`, `data_filling="repeatpad"`, `data_truncating="rand_trunc"`).

use super::error::AudioError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How a clip longer than the model input is cut down.
///
/// The original crops at a uniformly random offset (`rand_trunc`, training-time augmentation
/// kept at evaluation). Inference here is deterministic by default: [`Crop::Start`] keeps the
/// first `max_len` samples. [`Crop::Random`] reproduces the original's behaviour with a seeded
/// ChaCha8 generator (same distribution as `np.random.randint(0, overflow + 1)`, not the same
/// numbers as numpy's global RNG).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Crop {
    /// Keep samples `[0, max_len)`.
    #[default]
    Start,
    /// Keep the middle: offset `⌊(len − max_len)/2⌋`.
    Center,
    /// Uniform offset in `[0, len − max_len]` drawn from `ChaCha8Rng::seed_from_u64(seed)`.
    Random { seed: u64 },
}

/// `float32_to_int16` then `int16_to_float32` of the original: `clip(x, −1, 1)·32767`, truncated
/// toward zero to an integer, then `/32767` (computed in `f64`, rounded to `f32`, as numpy does
/// for the `float64` array `soundfile` returns). NaN samples become 0.
pub fn int16_round_trip(x: &[f64]) -> Vec<f32> {
    x.iter()
        .map(|&v| {
            let q = if v.is_nan() {
                0.0
            } else {
                // `+ 0.0` turns −0.0 into the integer 0.
                (v.clamp(-1.0, 1.0) * 32767.0).trunc() + 0.0
            };
            (q / 32767.0) as f32
        })
        .collect()
}

/// [`int16_round_trip`] for the `float32` output of the resampler, as the original applies it to
/// the resampled `float32` array: `clip(x, −1, 1)·32767` in `float32`, truncated, `/32767` in
/// `f64`, rounded to `f32`. NaN samples become 0.
pub fn int16_round_trip_f32(x: &[f32]) -> Vec<f32> {
    x.iter()
        .map(|&v| {
            let q = if v.is_nan() {
                0.0
            } else {
                (v.clamp(-1.0, 1.0) * 32767.0f32).trunc() + 0.0
            };
            (f64::from(q) / 32767.0) as f32
        })
        .collect()
}

/// Fits a clip to exactly `max_len` samples.
///
/// Shorter: the clip repeated `⌊max_len/len⌋` times (tiled, as `torch.Tensor.repeat`), then
/// zeros. Longer: a window of `max_len` chosen by `crop`. Equal: unchanged. Fails with
/// [`AudioError::InvalidConfig`] for an empty clip or `max_len == 0`.
pub fn fit_length(x: &[f32], max_len: usize, crop: Crop) -> Result<Vec<f32>, AudioError> {
    if x.is_empty() || max_len == 0 {
        return Err(AudioError::InvalidConfig {
            detail: format!(
                "cannot fit a clip of {} samples to {max_len} samples",
                x.len()
            ),
        });
    }
    if x.len() > max_len {
        let overflow = x.len() - max_len;
        let offset = match crop {
            Crop::Start => 0,
            Crop::Center => overflow / 2,
            Crop::Random { seed } => ChaCha8Rng::seed_from_u64(seed).gen_range(0..=overflow),
        };
        return Ok(x[offset..offset + max_len].to_vec());
    }
    let repeats = max_len / x.len();
    let mut out = Vec::with_capacity(max_len);
    for _ in 0..repeats {
        out.extend_from_slice(x);
    }
    out.resize(max_len, 0.0);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn int16_round_trip_truncates_toward_zero_and_clips() {
        let got = int16_round_trip(&[0.0, 1.0, -1.0, 2.5, -7.0, 0.5, -0.5, 1e-5, -1e-5, f64::NAN]);
        let want = [
            0.0,
            1.0,
            -1.0,
            1.0,
            -1.0,
            (16383.0f64 / 32767.0) as f32, // 0.5·32767 = 16383.5 → 16383
            (-16383.0f64 / 32767.0) as f32,
            0.0, // 0.327… → 0
            0.0,
            0.0,
        ];
        assert_eq!(got, want);
        assert!(got[8].is_sign_positive(), "int16 has no negative zero");
        // A 16-bit source value s/32768 comes back as (s − sign(s))/32767 for |s| ≥ 1.
        assert_eq!(
            int16_round_trip(&[1234.0 / 32768.0]),
            [(1233.0f64 / 32767.0) as f32]
        );
    }

    #[test]
    fn short_clips_are_tiled_then_zero_padded() {
        let x = [1.0, 2.0, 3.0];
        assert_eq!(
            fit_length(&x, 8, Crop::Start).unwrap(),
            [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 0.0, 0.0]
        );
        assert_eq!(
            fit_length(&x, 9, Crop::Start).unwrap(),
            [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
        );
        // Fewer than one whole repeat never happens (len < max_len ⇒ ⌊max_len/len⌋ ≥ 1).
        assert_eq!(
            fit_length(&x, 4, Crop::Start).unwrap(),
            [1.0, 2.0, 3.0, 0.0]
        );
        assert_eq!(fit_length(&x, 3, Crop::Center).unwrap(), x);
        // 480000 / 70000 = 6 repeats, then 60000 zeros.
        let long: Vec<f32> = (0..70000).map(|i| i as f32 + 1.0).collect();
        let out = fit_length(&long, 480000, Crop::Start).unwrap();
        assert_eq!(out.len(), 480000);
        assert_eq!(out[419999], 70000.0);
        assert_eq!(out[420000], 0.0);
        assert_eq!(out[350000], 1.0);
    }

    #[test]
    fn long_clips_are_cropped_by_mode() {
        let x: Vec<f32> = (0..10).map(|i| i as f32).collect();
        assert_eq!(
            fit_length(&x, 4, Crop::Start).unwrap(),
            [0.0, 1.0, 2.0, 3.0]
        );
        assert_eq!(
            fit_length(&x, 4, Crop::Center).unwrap(),
            [3.0, 4.0, 5.0, 6.0]
        );
        let a = fit_length(&x, 4, Crop::Random { seed: 7 }).unwrap();
        assert_eq!(a, fit_length(&x, 4, Crop::Random { seed: 7 }).unwrap());
        assert_eq!(a[3] - a[0], 3.0);
        let offsets: std::collections::BTreeSet<u32> = (0..200)
            .map(|seed| fit_length(&x, 4, Crop::Random { seed }).unwrap()[0] as u32)
            .collect();
        assert_eq!(
            offsets,
            (0..=6).collect(),
            "every offset in [0, 6] is reachable"
        );
    }

    #[test]
    fn empty_inputs_are_errors() {
        assert!(matches!(
            fit_length(&[], 10, Crop::Start),
            Err(AudioError::InvalidConfig { .. })
        ));
        assert!(matches!(
            fit_length(&[1.0], 0, Crop::Start),
            Err(AudioError::InvalidConfig { .. })
        ));
    }
}
