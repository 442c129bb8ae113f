//! A sound file played in real time: the stand-in for a microphone. The file is decoded once
//! ([`crate::audio::decode_file`], mixed to mono at its own rate) and handed out in chunks of
//! [`CHUNK_SECONDS`], each when its last sample would have been captured.

use super::{AudioChunk, AudioSource, LiveError, Stamp};
use crate::audio::{decode_file, Segment};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Seconds of audio per chunk.
pub const CHUNK_SECONDS: f64 = 0.1;
/// Longest file accepted, in seconds (bounds memory: one hour of mono f32 at 48 kHz is 690 MB,
/// so files are limited to ten minutes).
pub const MAX_FILE_SECONDS: f64 = 600.0;

/// The sound-file audio source.
#[derive(Debug)]
pub struct AudioFileSource {
    path: PathBuf,
    samples: Vec<f32>,
    rate: u32,
    chunk: usize,
    looped: bool,
    /// Next sample to hand out.
    pos: usize,
    /// When the next chunk is due.
    due: Option<Instant>,
}

impl AudioFileSource {
    /// Decodes `path` (any format libsndfile reads; at most `MAX_FILE_SECONDS`); `looped`
    /// starts over at the end. Fails with [`LiveError::Audio`] naming the file.
    pub fn open(path: &Path, looped: bool) -> Result<AudioFileSource, LiveError> {
        let decoded = decode_file(path, Segment::ALL, MAX_FILE_SECONDS)?;
        let rate = decoded.sample_rate;
        let chunk = ((f64::from(rate) * CHUNK_SECONDS).round() as usize).max(1);
        Ok(AudioFileSource {
            path: path.to_path_buf(),
            samples: decoded.samples.iter().map(|&s| s as f32).collect(),
            rate,
            chunk,
            looped,
            pos: 0,
            due: None,
        })
    }
}

impl AudioSource for AudioFileSource {
    fn describe(&self) -> String {
        format!(
            "sound file {} ({:.1} s, {} Hz{})",
            self.path.display(),
            self.samples.len() as f64 / f64::from(self.rate),
            self.rate,
            if self.looped { ", looped" } else { "" }
        )
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn next_chunk(&mut self) -> Result<Option<AudioChunk>, LiveError> {
        if self.pos >= self.samples.len() {
            if !self.looped || self.samples.is_empty() {
                return Ok(None);
            }
            self.pos = 0;
        }
        let end = (self.pos + self.chunk).min(self.samples.len());
        let samples = self.samples[self.pos..end].to_vec();
        self.pos = end;
        let length = Duration::from_secs_f64(samples.len() as f64 / f64::from(self.rate));
        let now = Instant::now();
        // A chunk is due once all of it has "been captured"; a consumer that fell behind does
        // not make the file rush to catch up.
        let due = self.due.unwrap_or(now) + length;
        if due > now {
            std::thread::sleep(due - now);
        }
        self.due = Some(due.max(now));
        Ok(Some(AudioChunk {
            samples,
            captured: Stamp::now(),
        }))
    }
}

#[cfg(all(test, feature = "audio"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::audio::test_support::wav_i16;

    fn wav(dir: &Path, rate: u32, n: usize) -> PathBuf {
        let samples: Vec<i16> = (0..n).map(|i| (i % 100) as i16 * 100).collect();
        let path = dir.join("a.wav");
        std::fs::write(&path, wav_i16(rate, 1, &samples)).unwrap();
        path
    }

    #[test]
    fn chunks_cover_the_file_in_order_then_end() {
        let dir = tempfile::tempdir().unwrap();
        // 0.25 s at 8 kHz: chunks of 800, 800 and 400 samples.
        let path = wav(dir.path(), 8000, 2000);
        let mut src = AudioFileSource::open(&path, false).unwrap();
        assert_eq!(src.sample_rate(), 8000);
        let mut all = Vec::new();
        let mut sizes = Vec::new();
        while let Some(c) = src.next_chunk().unwrap() {
            sizes.push(c.samples.len());
            all.extend(c.samples);
        }
        assert_eq!(sizes, vec![800, 800, 400]);
        assert_eq!(all.len(), 2000);
        assert_eq!(all[101], 100.0 / 32768.0);
        assert!(src.next_chunk().unwrap().is_none());
    }

    #[test]
    fn paces_in_real_time_and_loops() {
        let dir = tempfile::tempdir().unwrap();
        let path = wav(dir.path(), 8000, 1200);
        let mut src = AudioFileSource::open(&path, true).unwrap();
        let start = Instant::now();
        let sizes: Vec<usize> = (0..4)
            .map(|_| src.next_chunk().unwrap().unwrap().samples.len())
            .collect();
        // 800 + 400 (end of file) + 800 + 400 samples = 0.3 s of audio.
        assert_eq!(sizes, vec![800, 400, 800, 400]);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(290), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
    }

    #[test]
    fn missing_and_corrupt_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.wav");
        let err = AudioFileSource::open(&missing, false).unwrap_err();
        assert!(err.to_string().contains("none.wav"), "{err}");
        let bad = dir.path().join("bad.wav");
        std::fs::write(&bad, b"RIFF this is not audio at all").unwrap();
        let err = AudioFileSource::open(&bad, false).unwrap_err();
        assert!(matches!(err, LiveError::Audio(_)), "{err}");
        assert!(err.to_string().contains("bad.wav"), "{err}");
    }
}
