//! Decoding audio files to mono `f64` samples, as the original's `soundfile.read(path)` (float64,
//! libsndfile's normalisation) followed by the mean over channels (UnIVAL spec §5.7).
//!
//! Decoding uses `symphonia` (pure Rust): WAV (integer/float PCM, A-law/µ-law, ADPCM), FLAC, MP3
//! and Ogg Vorbis. The container is detected from the content; the file extension is only a hint.
//! Integer PCM is scaled like libsndfile's float read (`i16/32768`, `i24/2²³`, `i32/2³¹`, unsigned
//! formats re-centred), so a 16-bit WAV yields bit-identical values to `soundfile`.
//!
//! Channels are averaged in `f64`, summing in channel order and dividing by the channel count,
//! which is what `numpy.mean(x, axis=1)` computes for fewer than 8 channels.
//!
//! Strictness: uncompressed PCM and FLAC streams announce their exact length, and a stream that
//! ends before it is reported as truncated ([`AudioError::Corrupt`]) — libsndfile would silently
//! return the shorter signal. Isolated undecodable packets in lossy streams (MP3, Vorbis) are
//! skipped, as every player does; a stream of which no packet decodes is corrupt.

use super::error::AudioError;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{
    CodecType, DecoderOptions, CODEC_TYPE_FLAC, CODEC_TYPE_NULL, CODEC_TYPE_VORBIS,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

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
}

/// Decodes `path` (see the module doc for formats) and averages its channels.
///
/// Only `segment` is kept; at most `max_seconds` of it are accepted ([`AudioError::TooLong`]
/// otherwise), which bounds memory for hour-long inputs. Fails with an [`AudioError`] naming
/// `path`: missing, unreadable, empty (0 bytes), unsupported, corrupt/truncated, no audio track,
/// no sample rate, or no samples in the selected segment. Silence decodes normally.
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
    let ext = path.extension().and_then(|e| e.to_str());
    let head = || {
        let mut head = Vec::new();
        if let Ok(f) = File::open(path) {
            // Best effort: only used to word an error message.
            let _ = f.take(SNIFF_BYTES as u64).read_to_end(&mut head);
        }
        head
    };
    decode_source(Box::new(handle), ext, &file, segment, max_seconds, head)
}

/// [`decode_file`] for bytes already in memory (`ext_hint` like `"wav"` helps the probe; errors
/// name the file `<memory>`).
pub fn decode_bytes(
    bytes: Vec<u8>,
    ext_hint: Option<&str>,
    segment: Segment,
    max_seconds: f64,
) -> Result<DecodedAudio, AudioError> {
    let file = PathBuf::from("<memory>");
    if bytes.is_empty() {
        return Err(AudioError::Empty { file });
    }
    let head = bytes[..bytes.len().min(SNIFF_BYTES)].to_vec();
    decode_source(
        Box::new(Cursor::new(bytes)),
        ext_hint,
        &file,
        segment,
        max_seconds,
        move || head,
    )
}

/// How much of the input is re-read to explain a failed probe.
const SNIFF_BYTES: usize = 1 << 16;

/// Whether `head` starts with Ogg stream-start pages none of which carries an audio codec
/// (Vorbis, Opus, FLAC, Speex) — e.g. a Theora-only file. symphonia reports such a file as
/// ending early while it waits for a packet it can map; this tells the user what is really wrong.
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

/// Uncompressed PCM and FLAC announce their exact frame count; lossy codecs only estimate it.
fn is_exact_length_codec(codec: CodecType) -> bool {
    codec == CODEC_TYPE_FLAC
        || symphonia::default::get_codecs()
            .get_codec(codec)
            .is_some_and(|d| d.short_name.starts_with("pcm_"))
}

fn decode_source(
    source: Box<dyn MediaSource>,
    ext: Option<&str>,
    file: &Path,
    segment: Segment,
    max_seconds: f64,
    head: impl FnOnce() -> Vec<u8>,
) -> Result<DecodedAudio, AudioError> {
    segment.validate()?;
    let file = file.to_path_buf();
    let mss = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions {
                // Trim encoder delay/padding (MP3 LAME/Xing info), as libsndfile/mpg123 does.
                enable_gapless: true,
                ..FormatOptions::default()
            },
            &MetadataOptions::default(),
        )
        .map_err(|e| match stream_error(&file, e) {
            AudioError::Corrupt { .. } if ogg_without_audio(&head()) => {
                AudioError::NoAudioTrack { file: file.clone() }
            }
            other => other,
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| AudioError::NoAudioTrack { file: file.clone() })?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let rate = match params.sample_rate {
        Some(r) if r > 0 => r,
        rate => return Err(AudioError::BadSampleRate { file, rate }),
    };
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| stream_error(&file, e))?;

    let (first, mut last) = segment.frames(rate);
    if params.codec == CODEC_TYPE_VORBIS {
        // symphonia 0.5 leaves the end padding of the last Ogg page in the decoded output;
        // the container's final granule position (`n_frames`) says where the signal ends,
        // and libvorbis (soundfile) stops there.
        if let Some(n) = params.n_frames {
            last = last.min(n);
        }
    }
    let max_frames = (max_seconds.max(0.0) * f64::from(rate)).ceil() as u64;
    let mut mono: Vec<f64> = Vec::new();
    let mut frame_pos: u64 = 0; // frames decoded so far (whole stream)
    let mut channels = 0usize;
    let mut bad_packets = 0usize;
    let mut interleaved: Option<SampleBuffer<f64>> = None;
    while frame_pos < last {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break, // a chained stream: keep the first one
            Err(e) => return Err(stream_error(&file, e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymError::DecodeError(_)) => {
                bad_packets += 1;
                continue;
            }
            Err(e) => return Err(stream_error(&file, e)),
        };
        let spec = *decoded.spec();
        let n_ch = spec.channels.count();
        if n_ch == 0 {
            return Err(AudioError::Corrupt {
                file,
                detail: "stream has zero channels".into(),
            });
        }
        channels = n_ch;
        let need = decoded.capacity() as u64;
        let buf = match &mut interleaved {
            Some(b) if b.capacity() as u64 >= need * n_ch as u64 => b,
            slot => slot.insert(SampleBuffer::<f64>::new(need, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        for frame in buf.samples().chunks_exact(n_ch) {
            if frame_pos >= first && frame_pos < last {
                if mono.len() as u64 >= max_frames {
                    return Err(AudioError::TooLong { file, max_seconds });
                }
                let sum = frame.iter().fold(0.0f64, |acc, &s| acc + s);
                mono.push(sum / n_ch as f64);
            }
            frame_pos += 1;
        }
    }

    if let Some(announced) = params.n_frames {
        let reached_end = last == u64::MAX || frame_pos < last;
        if is_exact_length_codec(params.codec) && reached_end && frame_pos < announced {
            return Err(AudioError::Corrupt {
                file,
                detail: format!("header announces {announced} frames, the data holds {frame_pos}"),
            });
        }
    }
    if mono.is_empty() {
        if bad_packets > 0 {
            return Err(AudioError::Corrupt {
                file,
                detail: format!("none of {bad_packets} packets could be decoded"),
            });
        }
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
    })
}

/// Maps a symphonia error to a typed error naming `file`.
fn stream_error(file: &Path, e: SymError) -> AudioError {
    let file = file.to_path_buf();
    match e {
        SymError::Unsupported(what) => AudioError::Unsupported {
            file,
            detail: what.to_string(),
        },
        SymError::IoError(source) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioError::Corrupt {
                file,
                detail: "unexpected end of file".into(),
            }
        }
        SymError::IoError(source) => AudioError::Io { file, source },
        other => AudioError::Corrupt {
            file,
            detail: other.to_string(),
        },
    }
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
