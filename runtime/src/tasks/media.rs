//! Inputs already in memory, for callers that do not read files: the live loops hand camera
//! frames and microphone windows to [`super::Pipeline::run_media`].

use crate::vision::RgbImage;

/// Decoded media of one modality.
#[derive(Debug, Clone)]
pub enum Media {
    /// One RGB picture (any size; resized to the task's square).
    Image(RgbImage),
    /// Frames of a clip in time order (at least one; the task's frame count is sampled from
    /// them as from a video file's frames).
    Frames(Vec<RgbImage>),
    /// Mono samples in [-1, 1] at `rate` Hz (resampled, padded or cut to the model's length).
    Audio { mono: Vec<f64>, rate: u32 },
}

impl Media {
    /// What this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Media::Image(_) => "an image",
            Media::Frames(_) => "video frames",
            Media::Audio { .. } => "audio samples",
        }
    }
}
