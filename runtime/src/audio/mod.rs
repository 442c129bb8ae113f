//! Audio input exactly as the original UnIVAL prepares it (docs/model.md §5.7, §2.4 steps 2–3, §0.1
//! item 4): `soundfile.read` → mean over channels → (resample to 48 kHz when needed, as the
//! notebook does with torchaudio) → int16 round trip → repeat-pad / crop to `max_audio_len` →
//! log-mel with the checkpoint's STFT kernels.
//!
//! * [`decode`]: file/bytes → mono `f64` through libsndfile (what `soundfile` wraps; cargo
//!   feature `audio`), segment select.
//! * [`mod@resample`]: torchaudio 2.1.2's `Resample` in `f32`.
//! * [`waveform`]: int16 round trip and `repeatpad` / crop → `patch_audios [1, max_len]`.
//! * [`frontend`]: [`LogMel`], the STFT + mel + dB front end → `[1, 1, frames, mel_bins]`.
//! * [`mel`]: librosa 0.9.2's Slaney filterbank.
//!
//! [`load_waveform`] chains the first three for a file; [`prepare_samples`] does the same for
//! samples already in memory (e.g. a microphone). Silent input is valid (its log-mel is −100 dB
//! everywhere); an input with no samples is an error.

pub mod decode;
pub mod error;
pub mod frontend;
pub mod mel;
pub mod resample;
#[cfg(feature = "audio")]
mod sndfile;
#[cfg(all(test, feature = "audio"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod test_support;
pub mod waveform;

pub use decode::{decode_bytes, decode_file, DecodedAudio, Segment};
pub use error::AudioError;
pub use frontend::{LogMel, LogMelConfig, Precision};
pub use mel::mel_filterbank;
pub use resample::resample;
pub use waveform::{fit_length, int16_round_trip, int16_round_trip_f32, Crop};

use ndarray::Array2;
use std::path::Path;

/// The model's sample rate (`AUDIO_CFG["sample_rate"]`).
pub const MODEL_SAMPLE_RATE: u32 = 48_000;
/// The model's waveform length (`max_audio_len`, 10 s at 48 kHz).
pub const MAX_AUDIO_LEN: usize = 480_000;

/// How an audio file becomes the model's waveform.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioOptions {
    /// Rate the model expects; other inputs are resampled to it. 48000.
    pub sample_rate: u32,
    /// Samples of the model input (`max_audio_len`). 480000.
    pub max_len: usize,
    /// How a longer clip is cut down (default [`Crop::Start`], deterministic).
    pub crop: Crop,
    /// Part of the file to use, before padding/cropping (`--start` / `--end`).
    pub segment: Segment,
    /// Longest decoded (segment of) input accepted, in seconds; bounds memory. 3600.
    pub max_decode_seconds: f64,
}

impl Default for AudioOptions {
    fn default() -> Self {
        Self {
            sample_rate: MODEL_SAMPLE_RATE,
            max_len: MAX_AUDIO_LEN,
            crop: Crop::Start,
            segment: Segment::ALL,
            max_decode_seconds: 3600.0,
        }
    }
}

/// A model-ready waveform plus facts about its source.
#[derive(Debug, Clone)]
pub struct PreparedAudio {
    /// `[1, max_len]` f32: the original's `patch_audios`.
    pub waveform: Array2<f32>,
    /// Sample rate of the file (before resampling).
    pub source_rate: u32,
    /// Channels that were averaged.
    pub channels: usize,
    /// Seconds of audio used (after segment selection, before padding or cropping).
    pub duration_s: f64,
}

/// Decodes `path` and turns it into the `[1, max_len]` waveform of the audio task.
///
/// Fails like [`decode_file`] (every error names the file) and with
/// [`AudioError::InvalidConfig`] for `max_len == 0` or a zero `sample_rate`.
pub fn load_waveform(path: &Path, opts: &AudioOptions) -> Result<PreparedAudio, AudioError> {
    let decoded = decode_file(path, opts.segment, opts.max_decode_seconds)?;
    prepare_samples(
        &decoded.samples,
        decoded.sample_rate,
        decoded.channels,
        opts,
    )
}

/// [`load_waveform`] for mono samples already in memory at `rate` Hz (`channels` is only
/// reported back). `opts.segment` is not applied here: select the samples before calling.
pub fn prepare_samples(
    mono: &[f64],
    rate: u32,
    channels: usize,
    opts: &AudioOptions,
) -> Result<PreparedAudio, AudioError> {
    if opts.max_len == 0 || opts.sample_rate == 0 {
        return Err(AudioError::InvalidConfig {
            detail: format!(
                "audio options need max_len > 0 and sample_rate > 0 (got {}, {})",
                opts.max_len, opts.sample_rate
            ),
        });
    }
    let duration_s = mono.len() as f64 / f64::from(rate.max(1));
    let quantised = if rate == opts.sample_rate {
        // The float64 samples go straight to the round trip, as in the original's data loader.
        int16_round_trip(mono)
    } else {
        // The original resamples the float32 tensor (`torch.from_numpy(x).float()`).
        let single: Vec<f32> = mono.iter().map(|&v| v as f32).collect();
        int16_round_trip_f32(&resample(&single, rate, opts.sample_rate)?)
    };
    let fitted = fit_length(&quantised, opts.max_len, opts.crop)?;
    let waveform = Array2::from_shape_vec((1, opts.max_len), fitted).map_err(|e| {
        AudioError::InvalidConfig {
            detail: format!("waveform shape: {e}"),
        }
    })?;
    Ok(PreparedAudio {
        waveform,
        source_rate: rate,
        channels,
        duration_s,
    })
}

// The file-decoding tests need libsndfile (feature `audio`).
#[cfg(all(test, feature = "audio"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "tests.rs"]
mod tests;

#[cfg(all(test, feature = "audio"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "format_tests.rs"]
mod format_tests;
