//! The two source traits and what they yield.

use super::{LiveError, Stamp};
use crate::vision::RgbImage;

/// One captured picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The picture, RGB8.
    pub image: RgbImage,
    /// When it was captured (for a file source: when it became due in real time).
    pub captured: Stamp,
    /// Position in the source's stream, from 0 (gaps show dropped frames).
    pub seq: u64,
}

impl Frame {
    /// A frame captured now, numbered by the source's counter `next_seq` (which it advances).
    pub fn captured_now(image: RgbImage, next_seq: &mut u64) -> Frame {
        let seq = *next_seq;
        *next_seq += 1;
        Frame {
            image,
            captured: Stamp::now(),
            seq,
        }
    }
}

/// A stream of frames in real time: a camera, or a video file or image folder paced at its
/// frame rate. Implementations block in [`FrameSource::next_frame`] until the next frame is due
/// and keep no queue of their own.
pub trait FrameSource: Send {
    /// What this source is, for status lines ("camera 0 (…) 1280x720 MJPEG", "video a.mp4").
    fn describe(&self) -> String;

    /// The next frame, `Ok(None)` when a finite source has ended. A device that stops answering
    /// gives [`LiveError::Lost`]; the caller may reopen it.
    fn next_frame(&mut self) -> Result<Option<Frame>, LiveError>;
}

/// A run of consecutive microphone (or file) samples, mono.
#[derive(Debug, Clone)]
pub struct AudioChunk {
    /// Mono samples in [-1, 1] at the source's [`AudioSource::sample_rate`].
    pub samples: Vec<f32>,
    /// When the last sample of the chunk was captured.
    pub captured: Stamp,
}

/// A stream of audio in real time: a microphone, or a sound file paced at its rate.
pub trait AudioSource: Send {
    /// What this source is, for status lines.
    fn describe(&self) -> String;

    /// Samples per second of the chunks (the device's native rate; the pipeline resamples).
    fn sample_rate(&self) -> u32;

    /// The next chunk, blocking until it has been captured; `Ok(None)` when a finite source has
    /// ended. A device that stops answering gives [`LiveError::Lost`].
    fn next_chunk(&mut self) -> Result<Option<AudioChunk>, LiveError>;
}
