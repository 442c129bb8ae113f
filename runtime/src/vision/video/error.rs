//! Errors of video loading, frame sampling and preprocessing. Every input-related variant names
//! the file or directory the caller gave.

use crate::vision::VisionError;
use std::path::PathBuf;

/// What went wrong while turning a video (file or directory of frames) into `patch_videos`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    /// The path does not exist.
    #[error("video {file} does not exist")]
    NotFound { file: PathBuf },
    /// The path exists but could not be read (permissions, I/O error, listing a directory).
    #[error("cannot read video {file}: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// FFmpeg recognises no container in the file (a text file, an image, random bytes), or the
    /// container header itself is damaged.
    #[error("{file} is not a readable video file: {detail}")]
    NotAVideo { file: PathBuf, detail: String },
    /// The container opened but has no video stream (e.g. a WAV or MP3 file).
    #[error("{file} has no video stream (streams found: {streams})")]
    NoVideoStream { file: PathBuf, streams: String },
    /// The video stream uses a codec this FFmpeg build cannot decode.
    #[error("{file}: video codec `{codec}` is not supported by the linked FFmpeg ({detail})")]
    UnsupportedCodec {
        file: PathBuf,
        codec: String,
        detail: String,
    },
    /// The stream could be opened but reading or decoding it failed, or it ended before a frame
    /// that its own index announced (a truncated download, a damaged file).
    #[error("{file} is corrupt or truncated: {detail}")]
    Corrupt { file: PathBuf, detail: String },
    /// The video stream (or the directory) holds no frame at all.
    #[error("{file} contains no video frames")]
    NoFrames { file: PathBuf },
    /// A directory given as a video holds no image file.
    #[error(
        "directory {dir} holds no frame images (expected files ending in one of: {extensions})"
    )]
    EmptyDirectory { dir: PathBuf, extensions: String },
    /// One image of a directory of frames could not be loaded.
    #[error("frame image {file} of directory {dir}: {source}")]
    FrameImage {
        dir: PathBuf,
        file: PathBuf,
        #[source]
        source: VisionError,
    },
    /// A requested frame index is outside the video.
    #[error("{file}: frame index {index} is out of range (the video has {total_frames} frames)")]
    IndexOutOfRange {
        file: PathBuf,
        index: usize,
        total_frames: usize,
    },
    /// `start`/`end` select no frame of the video.
    #[error(
        "{file}: no frame lies in the segment [{start:?} s, {end:?} s) (the video has \
         {total_frames} frames, {duration:.3} s)"
    )]
    EmptySegment {
        file: PathBuf,
        start: Option<f64>,
        end: Option<f64>,
        total_frames: usize,
        duration: f64,
    },
    /// `start`/`end` were given for a directory of frames, which has no timestamps.
    #[error("{dir}: start/end seconds need timestamps; a directory of frames has none")]
    NoTimestamps { dir: PathBuf },
    /// The options themselves are unusable (zero frames, zero crop size, bad segment bounds,
    /// explicit indices combined with a segment, more explicit indices than frames).
    #[error("invalid video options: {detail}")]
    InvalidOptions { detail: String },
    /// Normalisation with a non-positive or non-finite standard deviation.
    #[error("invalid normalisation std {std:?} (every channel must be finite and > 0)")]
    InvalidStd { std: [f32; 3] },
    /// FFmpeg itself could not be initialised.
    #[error("cannot initialise FFmpeg: {detail}")]
    Init { detail: String },
    /// A video file given to a build without the `video` feature (no FFmpeg).
    #[error("{file}: {missing}")]
    NotBuilt {
        file: PathBuf,
        missing: crate::error::MissingFeature,
    },
}
