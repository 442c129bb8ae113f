//! Errors of audio decoding, waveform preparation and the log-mel front end. Every file-related
//! variant names the file.

use std::path::PathBuf;

/// What went wrong while loading an audio file or computing its log-mel spectrogram.
///
/// `file` is the path given by the caller, or `<memory>` for [`super::decode_bytes`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The file does not exist.
    #[error("audio file {file} does not exist")]
    NotFound { file: PathBuf },
    /// The file exists but could not be opened or read.
    #[error("cannot read audio file {file}: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file has zero bytes.
    #[error("audio file {file} is empty (0 bytes)")]
    Empty { file: PathBuf },
    /// The container or codec is not one of the supported ones.
    #[error(
        "audio file {file}: unsupported format ({detail}); supported: what libsndfile reads \
         (WAV, W64, AIFF, AU, FLAC, Ogg Vorbis/Opus, MP3, ...)"
    )]
    Unsupported { file: PathBuf, detail: String },
    /// The library was built without the `audio` feature (libsndfile), so it cannot decode files.
    #[error(
        "cannot decode audio file {file}: unival-runtime was built without audio-file support \
         (cargo feature `audio`, libsndfile)"
    )]
    NoAudioFileSupport { file: PathBuf },
    /// The content claims a supported format but is corrupt or truncated.
    #[error("audio file {file} is corrupt or truncated: {detail}")]
    Corrupt { file: PathBuf, detail: String },
    /// The container holds no decodable audio track.
    #[error("audio file {file} has no audio track")]
    NoAudioTrack { file: PathBuf },
    /// The stream does not state its sample rate, or states 0 Hz.
    #[error("audio file {file} has no valid sample rate ({rate:?})")]
    BadSampleRate { file: PathBuf, rate: Option<u32> },
    /// The track (or the selected segment of it) holds no samples at all. Silence is valid
    /// input; zero samples are not.
    #[error("audio file {file} contains no samples{}", segment_note(*.start_s, *.end_s))]
    NoSamples {
        file: PathBuf,
        start_s: Option<f64>,
        end_s: Option<f64>,
    },
    /// The decoded audio is longer than [`super::AudioOptions::max_decode_seconds`].
    #[error(
        "audio file {file} is longer than the limit of {max_seconds} s (select a segment with \
         start/end, or raise AudioOptions::max_decode_seconds)"
    )]
    TooLong { file: PathBuf, max_seconds: f64 },
    /// `--start`/`--end` are negative, not finite, or `end <= start`.
    #[error("invalid audio segment start={start_s:?} s, end={end_s:?} s: {detail}")]
    InvalidSegment {
        start_s: Option<f64>,
        end_s: Option<f64>,
        detail: String,
    },
    /// A resampling request with a zero rate.
    #[error("cannot resample from {from} Hz to {to} Hz")]
    InvalidRate { from: u32, to: u32 },
    /// Waveform or front-end settings that cannot work (zero length, n_fft odd, fmax above
    /// Nyquist, ...).
    #[error("invalid audio front-end setting: {detail}")]
    InvalidConfig { detail: String },
    /// DFT kernels with the wrong number of values for `[n_fft/2+1, n_fft]`.
    #[error(
        "STFT kernels ({which}) have {actual} values, expected {expected} = (n_fft/2+1)·n_fft"
    )]
    KernelShape {
        which: &'static str,
        expected: usize,
        actual: usize,
    },
    /// The raw kernel file has the wrong size for `[2, n_fft/2+1, n_fft]` little-endian f32.
    #[error(
        "STFT kernel file {file} has {actual} bytes, expected {expected} = 2·(n_fft/2+1)·n_fft·4"
    )]
    KernelFileSize {
        file: PathBuf,
        expected: u64,
        actual: u64,
    },
    /// A waveform too short for the centred, reflect-padded STFT (needs more than `n_fft/2`
    /// samples) — never the case for the model's fixed-length input.
    #[error("waveform of {len} samples is too short for a reflect-padded STFT with n_fft {n_fft}")]
    WaveformTooShort { len: usize, n_fft: usize },
}

fn segment_note(start: Option<f64>, end: Option<f64>) -> String {
    match (start, end) {
        (None, None) => String::new(),
        (s, e) => format!(
            " in the selected segment [{}, {}) s",
            s.unwrap_or(0.0),
            e.map_or_else(|| "end".to_string(), |e| e.to_string())
        ),
    }
}
