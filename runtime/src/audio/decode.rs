//! Decoding audio files to mono `f64` samples exactly as the original's `soundfile.read(path)`
//! (float64, libsndfile's normalisation) followed by `np.mean(x, axis=1)` (docs/model.md §5.7).
//!
//! Why libsndfile and not a pure-Rust decoder: `soundfile` is a thin wrapper around libsndfile,
//! so calling the same library gives the original's samples by construction for every format it
//! reads — the integer/float PCM scalings, A-law/µ-law tables, IMA/MS-ADPCM block handling,
//! GSM 6.10, FLAC, W64, AIFF, WAVE_FORMAT_EXTENSIBLE, and the very same mpg123/libvorbis/libopus
//! decoders for MP3/Vorbis/Opus. A reimplementation (symphonia, used before) differed on ADPCM,
//! MP3 and Vorbis and refused several formats. libsndfile sits behind the `audio` cargo feature
//! (default on); without it every file is refused with [`AudioError::NoAudioFileSupport`].
//!
//! Like `soundfile.read`, at most the frame count libsndfile reports is read; a file that ends
//! earlier (truncated) gives the frames that are there, as the original does, plus a warning on
//! stderr (also kept in [`DecodedAudio::warnings`]). Memory is bounded independently of any
//! header field: samples are read in fixed chunks, the channel count is checked against
//! [`MAX_CHANNELS`], and the kept samples against `max_seconds`.
//!
//! Channels are averaged like `numpy.mean(x, axis=1)` on a C-ordered `float64` array: numpy's
//! pairwise summation (a plain running sum below 8 channels, 8 partial sums above), then a
//! division by the channel count.

use super::error::AudioError;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

/// Most channels accepted (libsndfile's own limit is 1024 as well).
pub const MAX_CHANNELS: usize = 1024;
/// Interleaved samples read per libsndfile call: bounds the read buffer (2 MB of `f64`).
#[cfg_attr(not(feature = "audio"), allow(dead_code))]
const CHUNK_SAMPLES: usize = 1 << 18;

/// Which part of the stream to keep, in seconds from its start (`--start` / `--end`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Segment {
    /// First second to keep (default: the start of the stream).
    pub start_s: Option<f64>,
    /// Second after the last one to keep (default: the end of the stream).
    pub end_s: Option<f64>,
}

impl Segment {
    /// The whole stream.
    pub const ALL: Segment = Segment {
        start_s: None,
        end_s: None,
    };

    /// Checks the bounds: finite, non-negative, `end > start`.
    pub fn validate(&self) -> Result<(), AudioError> {
        let bad = |detail: &str| AudioError::InvalidSegment {
            start_s: self.start_s,
            end_s: self.end_s,
            detail: detail.to_string(),
        };
        for v in [self.start_s, self.end_s].into_iter().flatten() {
            if !v.is_finite() || v < 0.0 {
                return Err(bad("bounds must be finite and >= 0"));
            }
        }
        if let (Some(s), Some(e)) = (self.start_s, self.end_s) {
            if e <= s {
                return Err(bad("end must be after start"));
            }
        }
        Ok(())
    }

    #[cfg_attr(not(feature = "audio"), allow(dead_code))]
    /// `[first, last)` frame indices at `rate` Hz (seconds × rate, rounded to the nearest frame).
    fn frames(&self, rate: u32) -> (u64, u64) {
        let to_frame = |s: f64| (s * f64::from(rate)).round() as u64;
        (
            self.start_s.map_or(0, to_frame),
            self.end_s.map_or(u64::MAX, to_frame),
        )
    }
}

/// A decoded track mixed down to mono, before any resampling.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Mono samples in `[-1, 1]` (float sources may exceed it), `f64` like `soundfile.read`.
    pub samples: Vec<f64>,
    /// The stream's sample rate in Hz.
    pub sample_rate: u32,
    /// How many channels were averaged.
    pub channels: usize,
    /// Problems the original passes over silently (e.g. a truncated file), already printed on
    /// stderr.
    pub warnings: Vec<String>,
}

/// Decodes `path` (any format libsndfile reads; see the module doc) and averages its channels.
///
/// Only `segment` is kept; at most `max_seconds` of it are accepted ([`AudioError::TooLong`]
/// otherwise), which bounds memory for hour-long inputs. Fails with an [`AudioError`] naming
/// `path`: missing, unreadable, empty (0 bytes), unsupported, corrupt, no audio track, no sample
/// rate, too many channels, or no samples in the selected segment. Silence decodes normally.
pub fn decode_file(
    path: &Path,
    segment: Segment,
    max_seconds: f64,
) -> Result<DecodedAudio, AudioError> {
    let file = PathBuf::from(path);
    let handle = File::open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => AudioError::NotFound { file: file.clone() },
        _ => AudioError::Io {
            file: file.clone(),
            source,
        },
    })?;
    let len = handle
        .metadata()
        .map_err(|source| AudioError::Io {
            file: file.clone(),
            source,
        })?
        .len();
    if len == 0 {
        return Err(AudioError::Empty { file });
    }
    let head = || {
        let mut head = Vec::new();
        if let Ok(f) = File::open(path) {
            // Best effort: only used to word an error message.
            let _ = f.take(SNIFF_BYTES as u64).read_to_end(&mut head);
        }
        head
    };
    let source = Source {
        reader: Box::new(handle),
        len,
        file: &file,
    };
    decode_source(source, segment, max_seconds, head)
}

/// [`decode_file`] for bytes already in memory (`_ext_hint` is accepted for compatibility; the
/// format is always detected from the content). Errors name the file `<memory>`.
pub fn decode_bytes(
    bytes: Vec<u8>,
    _ext_hint: Option<&str>,
    segment: Segment,
    max_seconds: f64,
) -> Result<DecodedAudio, AudioError> {
    let file = PathBuf::from("<memory>");
    if bytes.is_empty() {
        return Err(AudioError::Empty { file });
    }
    let head = bytes[..bytes.len().min(SNIFF_BYTES)].to_vec();
    let len = bytes.len() as u64;
    let source = Source {
        reader: Box::new(Cursor::new(bytes)),
        len,
        file: &file,
    };
    decode_source(source, segment, max_seconds, move || head)
}

/// How much of the input is re-read to explain a failed open.
const SNIFF_BYTES: usize = 1 << 16;

/// Anything the decoder can read from: a file or bytes in memory.
pub(crate) trait ByteSource: std::io::Read + std::io::Seek + Send {}
impl<T: std::io::Read + std::io::Seek + Send> ByteSource for T {}

/// The bytes to decode and the name errors use.
#[cfg_attr(not(feature = "audio"), allow(dead_code))]
struct Source<'a> {
    reader: Box<dyn ByteSource>,
    len: u64,
    file: &'a Path,
}

/// numpy's `add.reduce` of a contiguous `float64` row (`pairwise_sum` in numpy's loops): a
/// running sum below 8 values, eight interleaved partial sums up to 128, halves above.
#[cfg_attr(not(feature = "audio"), allow(dead_code))]
fn numpy_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        return a.iter().fold(0.0, |acc, &v| acc + v);
    }
    if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let whole = n - n % 8;
        for block in a[8..whole].chunks_exact(8) {
            for (acc, &v) in r.iter_mut().zip(block) {
                *acc += v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[whole..] {
            res += v;
        }
        return res;
    }
    let mut half = n / 2;
    half -= half % 8;
    numpy_sum(&a[..half]) + numpy_sum(&a[half..])
}

/// `np.mean(frame)` for one interleaved frame.
#[cfg_attr(not(feature = "audio"), allow(dead_code))]
fn channel_mean(frame: &[f64]) -> f64 {
    (0.0 + numpy_sum(frame)) / frame.len() as f64
}

#[cfg(not(feature = "audio"))]
fn decode_source(
    source: Source<'_>,
    segment: Segment,
    _max_seconds: f64,
    _head: impl FnOnce() -> Vec<u8>,
) -> Result<DecodedAudio, AudioError> {
    segment.validate()?;
    Err(AudioError::NoAudioFileSupport {
        file: source.file.to_path_buf(),
    })
}

#[cfg(feature = "audio")]
fn decode_source(
    source: Source<'_>,
    segment: Segment,
    max_seconds: f64,
    head: impl FnOnce() -> Vec<u8>,
) -> Result<DecodedAudio, AudioError> {
    use super::sndfile::SndFile;
    segment.validate()?;
    let file = source.file.to_path_buf();
    let mut snd = SndFile::open(source.reader, source.len).map_err(|e| {
        if ogg_without_audio(&head()) {
            return AudioError::NoAudioTrack { file: file.clone() };
        }
        match e.code {
            1 | 4 => AudioError::Unsupported {
                file: file.clone(),
                detail: e.message,
            },
            2 => AudioError::Io {
                file: file.clone(),
                source: std::io::Error::other(e.message),
            },
            _ => AudioError::Corrupt {
                file: file.clone(),
                detail: e.message,
            },
        }
    })?;
    let rate = match u32::try_from(snd.sample_rate()) {
        Ok(r) if r > 0 => r,
        _ => {
            return Err(AudioError::BadSampleRate {
                file,
                rate: u32::try_from(snd.sample_rate()).ok(),
            })
        }
    };
    let channels = match usize::try_from(snd.channels()) {
        Ok(c) if (1..=MAX_CHANNELS).contains(&c) => c,
        _ => {
            return Err(AudioError::Corrupt {
                file,
                detail: format!(
                    "{} channels (1 to {MAX_CHANNELS} are accepted)",
                    snd.channels()
                ),
            })
        }
    };
    // soundfile.read reads the frame count libsndfile reports, no more.
    let announced = u64::try_from(snd.frames()).ok();
    let (first, last) = segment.frames(rate);
    let limit = announced.map_or(last, |n| n.min(last));
    let max_frames = (max_seconds.max(0.0) * f64::from(rate)).ceil() as u64;
    let chunk_frames = (CHUNK_SAMPLES / channels).max(1);
    let mut buf = vec![0.0f64; chunk_frames * channels];
    let mut mono: Vec<f64> = Vec::new();
    let mut pos: u64 = 0;
    while pos < limit {
        let want = (limit - pos).min(chunk_frames as u64) as usize;
        let got = snd.read_frames(&mut buf[..want * channels]);
        if got == 0 {
            break;
        }
        for frame in buf[..got * channels].chunks_exact(channels) {
            if pos >= first {
                if mono.len() as u64 >= max_frames {
                    return Err(AudioError::TooLong { file, max_seconds });
                }
                mono.push(channel_mean(frame));
            }
            pos += 1;
        }
    }
    let warnings = read_warnings(&mut snd, &file, announced, pos, limit);
    for w in &warnings {
        eprintln!("unival: warning: {w}");
    }
    if mono.is_empty() {
        return Err(AudioError::NoSamples {
            file,
            start_s: segment.start_s,
            end_s: segment.end_s,
        });
    }
    Ok(DecodedAudio {
        samples: mono,
        sample_rate: rate,
        channels,
        warnings,
    })
}

/// What the original reads without a word but a user should know: a stream that ended before
/// its announced length, and libsndfile's own header warnings about data missing from the file.
#[cfg(feature = "audio")]
fn read_warnings(
    snd: &mut super::sndfile::SndFile,
    file: &Path,
    announced: Option<u64>,
    reached: u64,
    limit: u64,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(n) = announced {
        if reached < limit && reached < n {
            warnings.push(format!(
                "audio file {} ends after {reached} of the {n} frames its header announces \
                 (truncated?); using the frames that are there, as libsndfile does",
                file.display()
            ));
        }
    }
    // libsndfile notes a chunk longer than the file as e.g. "data : 9600 (should be 6600)".
    let disagreements: Vec<String> = snd
        .log()
        .lines()
        .map(|l| l.trim().trim_start_matches(['*', '!', ' ']).to_string())
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            lower.contains("should be")
                || lower.contains("bigger than")
                || lower.contains("truncat")
        })
        .collect();
    if !disagreements.is_empty() {
        warnings.push(format!(
            "audio file {} looks truncated or damaged: header and data disagree ({}); reading \
             what is there, as libsndfile (the original) does",
            file.display(),
            disagreements.join("; ")
        ));
    }
    warnings
}

/// Whether `head` starts with Ogg stream-start pages none of which carries an audio codec
/// (Vorbis, Opus, FLAC, Speex) — e.g. a Theora-only file. libsndfile refuses such a file with a
/// generic message; this tells the user what is really wrong.
#[cfg_attr(not(feature = "audio"), allow(dead_code))]
fn ogg_without_audio(head: &[u8]) -> bool {
    const AUDIO_IDS: [&[u8]; 4] = [b"\x01vorbis", b"OpusHead", b"\x7fFLAC", b"Speex   "];
    let mut pos = 0;
    let mut streams = 0;
    while let Some(page) = head.get(pos..) {
        // Capture pattern, version, header-type flag 0x02 (beginning of stream).
        if page.len() < 27 || &page[..4] != b"OggS" || page[5] & 2 == 0 {
            break;
        }
        let n_segments = usize::from(page[26]);
        let Some(table) = page.get(27..27 + n_segments) else {
            break;
        };
        let body_start = 27 + n_segments;
        let body_len: usize = table.iter().map(|&b| usize::from(b)).sum();
        let Some(body) = page.get(body_start..body_start + body_len) else {
            break;
        };
        if AUDIO_IDS.iter().any(|id| body.starts_with(id)) {
            return false;
        }
        streams += 1;
        pos += body_start + body_len;
    }
    streams > 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ogg_sniff_tells_audio_from_other_streams() {
        let vorbis = include_bytes!("testdata/tone440_stereo_22050.ogg");
        assert!(!ogg_without_audio(vorbis));
        assert!(!ogg_without_audio(b"RIFF....WAVE"));
        assert!(!ogg_without_audio(&vorbis[..20]));
        // A Theora BOS page: "OggS", v0, BOS, granule, serial, seq, crc, 1 segment of 7 bytes.
        let mut theora = b"OggS\x00\x02".to_vec();
        theora.extend_from_slice(&[0; 20]);
        theora.extend_from_slice(&[1, 7]);
        theora.extend_from_slice(b"\x80theora");
        assert!(ogg_without_audio(&theora));
    }
}
