//! Video input exactly as the original UnIVAL preprocesses it (docs/model.md §5.5–5.6,
//! `data/video_utils.py:read_frames_decord` + `get_frame_indices`, `video_caption_dataset.py`):
//! decord RGB24 frames → frame sampling → per-frame `CenterCrop(S)` without resizing (zero
//! padding where the frame is smaller) → `/255` → `Normalize(mean, std)` → `[1, 3, T, S, S]`.
//!
//! * [`decode`]: video files through FFmpeg, reproducing decord's frame count, frame order and
//!   RGB24 conversion (scale flags of decord's FFmpeg 4.1, rotation metadata, edit lists).
//! * [`frames_dir`]: a directory of frame images as a video.
//! * [`sampling`]: `get_frame_indices` (middle / seeded rand / explicit) and `--start/--end`.
//! * [`crop`]: centre crop + pad + normalisation into the 5-D tensor.
//!
//! # Why FFmpeg (`ffmpeg-next` over the system libav* libraries)
//!
//! The original reads videos with decord, which is a thin layer over FFmpeg: using FFmpeg
//! ourselves is the only way to get the same demuxing, the same decoders and the same swscale
//! YUV → RGB24 arithmetic (we build decord's exact filter graph, see [`decode`]). It covers every
//! container and codec users have (H.264/HEVC/MPEG-4 Part 2/VP8/VP9/AV1/MJPEG in
//! mp4/mov/mkv/webm/avi), is packaged by every distribution (Debian bookworm ships 5.1:
//! `libavcodec-dev libavformat-dev libavfilter-dev libswscale-dev libavutil-dev`, bindings
//! generated with `clang`/`libclang-dev`), and on Jetson NVIDIA's FFmpeg build exposes the
//! hardware decoders (`h264_nvv4l2dec`, NVDEC) through the same API, so hardware decoding is a
//! decoder choice later, not a new library. `ffmpeg-next` is the maintained successor of the
//! `ffmpeg` crate (used by e.g. `video-rs`) and supports FFmpeg 3.4 to 7.x. Pure-Rust decoders
//! (`openh264`, `rav1e`'s decoder side, `image`'s MJPEG) each cover a single codec and would not
//! reproduce decord's pixels.

pub mod crop;
#[cfg(feature = "video")]
pub mod decode;
pub mod error;
pub mod frames_dir;
#[cfg(feature = "video")]
mod rotation;
pub mod sampling;
#[cfg(all(test, feature = "video"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

pub use crop::frames_to_tensor;
#[cfg(feature = "video")]
pub use decode::{decode_frames, probe_video, VideoInfo};
pub use error::VideoError;
pub use sampling::{frame_indices, Sampling};

use image::RgbImage;
use ndarray::Array5;
use std::path::Path;

/// How a video becomes `patch_videos`.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoOptions {
    /// `T`, the number of frames the model sees (`TaskConfig` `num_frames`: 16 for captioning,
    /// 8 for video QA in the paper's configs).
    pub num_frames: usize,
    /// `S`, the side of the square centre crop (`patch_frame_size`, 384 in the paper's configs).
    pub frame_size: usize,
    /// Which frames are taken ([`Sampling::Middle`] by default).
    pub sampling: Sampling,
    /// Start of the segment to sample from, in seconds from the first frame (inclusive).
    pub start: Option<f64>,
    /// End of the segment, in seconds from the first frame (exclusive).
    pub end: Option<f64>,
}

impl VideoOptions {
    /// Whole-video, middle-frame sampling of `num_frames` frames cropped to `frame_size`.
    pub fn new(num_frames: usize, frame_size: usize) -> Self {
        Self {
            num_frames,
            frame_size,
            sampling: Sampling::Middle,
            start: None,
            end: None,
        }
    }
}

/// A model-ready video plus what was used to make it (to log or to reproduce the run).
#[derive(Debug, Clone)]
pub struct PreprocessedVideo {
    /// `[1, 3, T, S, S]` f32, normalised (the original's `patch_videos`).
    pub tensor: Array5<f32>,
    /// The `T` frame indices used, into the whole video (presentation order); pass them back as
    /// [`Sampling::Indices`] to reproduce the tensor.
    pub frame_indices: Vec<usize>,
    /// Frames in the whole video (decord's `len(VideoReader)`), or files in the directory.
    pub total_frames: usize,
    /// Average frame rate; `None` for a directory of frames.
    pub fps: Option<f64>,
}

/// Loads the video file or frame directory at `path` and builds `patch_videos`.
///
/// `mean`/`std` come from `TaskConfig::mean_std` (0.5/0.5 for UnIVAL). Explicit indices are
/// frame numbers of the whole video and cannot be combined with `start`/`end`.
///
/// Fails with a [`VideoError`] naming the file: missing ([`VideoError::NotFound`]), not a video
/// or no video stream, unsupported codec, corrupt/truncated, empty directory, no frames, frame
/// index out of range, empty segment, or invalid options.
pub fn preprocess_video(
    path: &Path,
    opts: &VideoOptions,
    mean: [f32; 3],
    std: [f32; 3],
) -> Result<PreprocessedVideo, VideoError> {
    if opts.num_frames == 0 || opts.frame_size == 0 {
        return Err(VideoError::InvalidOptions {
            detail: format!(
                "num_frames = {} and frame_size = {} must both be at least 1",
                opts.num_frames, opts.frame_size
            ),
        });
    }
    let segment = opts.start.is_some() || opts.end.is_some();
    if segment && matches!(opts.sampling, Sampling::Indices(_)) {
        return Err(VideoError::InvalidOptions {
            detail: "explicit frame indices cannot be combined with start/end".into(),
        });
    }
    // Validate the normalisation before any decoding work.
    crop::normalise_lut(mean, std)?;

    let (frames, frame_indices, total_frames, fps) = if path.is_dir() {
        if segment {
            return Err(VideoError::NoTimestamps {
                dir: path.to_path_buf(),
            });
        }
        let files = frames_dir::list_frames(path)?;
        let indices = frame_indices(opts.num_frames, files.len(), &opts.sampling, path)?;
        let frames = frames_dir::load_frames(path, &files, &indices)?;
        (frames, indices, files.len(), None)
    } else {
        decode_file(path, opts)?
    };
    Ok(PreprocessedVideo {
        tensor: frames_to_tensor(&frames, opts.frame_size, mean, std)?,
        frame_indices,
        total_frames,
        fps,
    })
}

/// Frames, their indices, the video's frame count and its frame rate.
type Sampled = (Vec<RgbImage>, Vec<usize>, usize, Option<f64>);

/// Samples and decodes the frames of a video file (FFmpeg).
#[cfg(feature = "video")]
fn decode_file(path: &Path, opts: &VideoOptions) -> Result<Sampled, VideoError> {
    let info = probe_video(path)?;
    let range =
        sampling::segment_range(&info.frame_times, opts.start, opts.end, info.duration, path)?;
    let indices: Vec<usize> = frame_indices(opts.num_frames, range.len(), &opts.sampling, path)?
        .into_iter()
        .map(|i| i + range.start)
        .collect();
    let frames = decode_frames(path, &indices)?;
    Ok((frames, indices, info.total_frames, Some(info.fps)))
}

/// Built without the `video` feature: video files cannot be decoded (frame directories can).
#[cfg(not(feature = "video"))]
fn decode_file(path: &Path, _opts: &VideoOptions) -> Result<Sampled, VideoError> {
    if !path.exists() {
        return Err(VideoError::NotFound {
            file: path.to_path_buf(),
        });
    }
    Err(VideoError::NotBuilt {
        file: path.to_path_buf(),
        missing: crate::error::MissingFeature::VIDEO,
    })
}

#[cfg(all(test, not(feature = "video")))]
#[allow(clippy::unwrap_used)]
mod without_ffmpeg_tests {
    use super::*;

    #[test]
    fn a_video_file_names_the_feature_to_build() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("clip.mp4");
        std::fs::write(&clip, b"not decoded").unwrap();
        let err =
            preprocess_video(&clip, &VideoOptions::new(2, 8), [0.5; 3], [0.5; 3]).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, VideoError::NotBuilt { .. }), "{text}");
        assert!(
            text.contains("clip.mp4") && text.contains("feature `video`"),
            "{text}"
        );
    }
}
