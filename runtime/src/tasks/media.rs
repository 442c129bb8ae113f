//! Inputs already in memory, for callers that do not read files: the live loops hand camera
//! frames and microphone windows to [`super::Pipeline::run_media`].

use crate::vision::{ImageOptions, RgbImage, VisionError};
use std::path::PathBuf;

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

/// The pixel budget [`crate::vision::preprocess_image`] applies to a file, for an image
/// already in memory: the target square and the source image must each fit
/// [`ImageOptions::max_pixels`], so [`super::Pipeline::run_media`] and
/// [`super::Pipeline::run`] accept and refuse the same sizes. `label` names the input.
pub(super) fn check_pixel_budget(
    label: &str,
    rgb: &RgbImage,
    image_size: usize,
    opts: &ImageOptions,
) -> Result<(), VisionError> {
    // A side above u32::MAX saturates, which is far above any u64 pixel budget.
    let side = u32::try_from(image_size).unwrap_or(u32::MAX);
    for (width, height) in [(side, side), rgb.dimensions()] {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > opts.max_pixels {
            return Err(VisionError::TooLarge {
                file: PathBuf::from(label),
                width,
                height,
                pixels,
                max_pixels: opts.max_pixels,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_pixel_budget_bounds_the_target_and_the_source() {
        let rgb = RgbImage::new(20, 10);
        let budget = |max_pixels| ImageOptions {
            max_pixels,
            ..ImageOptions::default()
        };
        assert!(check_pixel_budget("cam", &rgb, 14, &budget(200)).is_ok());
        let err = check_pixel_budget("cam", &rgb, 15, &budget(200)).unwrap_err();
        assert!(
            matches!(err, VisionError::TooLarge { width: 15, .. }),
            "{err}"
        );
        let err = check_pixel_budget("cam", &rgb, 8, &budget(199)).unwrap_err();
        assert!(
            matches!(
                err,
                VisionError::TooLarge {
                    width: 20,
                    height: 10,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("cam"), "{err}");
    }
}
