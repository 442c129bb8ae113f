//! Image input exactly as the original UnIVAL preprocesses it (docs/model.md §5 intro, §5.3):
//! `PIL.Image.open` (no EXIF rotation) → `.convert("RGB")` → `Resize((S, S), BICUBIC)` →
//! `ToTensor` (/255) → `Normalize(mean, std)`.
//!
//! * [`decode`]: file/bytes → 8-bit RGB with Pillow's mode conversions and a pixel budget.
//! * [`resize`]: Pillow-exact antialiased bicubic.
//! * [`tensor`]: normalised `[1, 3, H, W]` f32.
//!
//! [`preprocess_image`] chains them and keeps the original size, which grounding (§4.5) needs to
//! map `<bin_k>` boxes back to image pixels.

pub mod decode;
pub mod error;
pub mod resize;
pub mod tensor;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod test_support;
pub mod video;

pub use decode::{load_rgb, load_rgb_from_bytes, ImageOptions, DEFAULT_MAX_PIXELS};
pub use error::VisionError;
pub use image::RgbImage;
pub use resize::resize_bicubic;
pub use tensor::to_tensor;

use ndarray::Array4;
use std::path::Path;

/// A model-ready image plus what is needed to map outputs back to the original.
#[derive(Debug, Clone)]
pub struct PreprocessedImage {
    /// `[1, 3, size, size]` f32, normalised (the original's `patch_images`).
    pub tensor: Array4<f32>,
    /// Width and height of the decoded image before resizing (after EXIF rotation, if applied).
    pub original_size: (u32, u32),
}

/// Loads `path` and turns it into the square `[1, 3, size, size]` input of an image task.
///
/// `size` is `TaskConfig::image_size` (480, or 512 for grounding); `mean`/`std` come from
/// `TaskConfig::mean_std`. The aspect ratio is not preserved and nothing is cropped, as in the
/// original. Fails like [`load_rgb`], with [`VisionError::TooLarge`] if `size²` itself exceeds
/// the pixel budget, and with [`VisionError::InvalidResize`] for `size == 0`.
pub fn preprocess_image(
    path: &Path,
    size: usize,
    mean: [f32; 3],
    std: [f32; 3],
    opts: &ImageOptions,
) -> Result<PreprocessedImage, VisionError> {
    // A side above u32::MAX saturates, which is far above any u64 pixel budget.
    let side = u32::try_from(size).unwrap_or(u32::MAX);
    let target_pixels = u64::from(side) * u64::from(side);
    if target_pixels > opts.max_pixels {
        return Err(VisionError::TooLarge {
            file: path.to_path_buf(),
            width: side,
            height: side,
            pixels: target_pixels,
            max_pixels: opts.max_pixels,
        });
    }
    let rgb = load_rgb(path, opts)?;
    let original_size = rgb.dimensions();
    let resized = resize_bicubic(&rgb, side, side)?;
    Ok(PreprocessedImage {
        tensor: to_tensor(&resized, mean, std)?,
        original_size,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::vision::test_support::{read_npy_f32, sha256_hex, shared_dir};
    use unival_manifest::TaskKind;

    /// The oracle's `patch_images.npy` (written by the original PyTorch pipeline) for each image
    /// task; the report quotes the max |Δ| printed here.
    #[test]
    fn matches_oracle_patch_images_exactly() {
        let Some(shared) = shared_dir() else { return };
        for (case, task) in [
            ("caption", TaskKind::Caption),
            ("vqa", TaskKind::Vqa),
            ("snli_ve", TaskKind::SnliVe),
            ("refcoco", TaskKind::Refcoco),
        ] {
            let dir = shared.join("oracle/dev").join(case);
            let cfg = task.defaults();
            let (mean, std) = cfg.mean_std();
            let got = preprocess_image(
                &dir.join("img0.png"),
                cfg.perception.image_size().unwrap(),
                mean,
                std,
                &ImageOptions::default(),
            )
            .unwrap();
            let (shape, want) = read_npy_f32(&dir.join("patch_images.npy"));
            let size = cfg.perception.image_size().unwrap();
            assert_eq!(shape, [1, 3, size, size], "{case}");
            assert_eq!(got.tensor.shape(), &shape[..], "{case}");
            let max = got
                .tensor
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            eprintln!("{case}: original {:?}, max |Δ| = {max}", got.original_size);
            assert_eq!(max, 0.0, "{case} differs from the oracle");
        }
    }

    /// Demo images vs `testdata/demo_pillow_sha256.txt` (horizontal-then-vertical Pillow resize,
    /// see `testdata/README.md`).
    #[test]
    fn demo_images_match_pillow_goldens() {
        let Some(shared) = shared_dir() else { return };
        let mut checked = 0;
        for line in include_str!("testdata/demo_pillow_sha256.txt").lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let (w, h): (u32, u32) = (f[1].parse().unwrap(), f[2].parse().unwrap());
            let img = load_rgb(
                &shared.join("demo/test").join(f[0]),
                &ImageOptions::default(),
            )
            .unwrap();
            let out = resize_bicubic(&img, w, h).unwrap();
            assert_eq!(sha256_hex(out.as_raw()), f[3], "{} at {w}x{h}", f[0]);
            checked += 1;
        }
        assert_eq!(checked, 60);
    }

    #[test]
    fn preprocess_keeps_original_size_and_guards_target_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        crate::vision::test_support::pattern(37, 21)
            .save(&path)
            .unwrap();
        let opts = ImageOptions::default();
        let out = preprocess_image(&path, 16, [0.5; 3], [0.5; 3], &opts).unwrap();
        assert_eq!(out.original_size, (37, 21));
        assert_eq!(out.tensor.shape(), &[1, 3, 16, 16]);
        assert!(out.tensor.iter().all(|v| (-1.0..=1.0).contains(v)));
        let tiny = ImageOptions {
            max_pixels: 255,
            ..opts.clone()
        };
        assert!(matches!(
            preprocess_image(&path, 16, [0.5; 3], [0.5; 3], &tiny),
            Err(VisionError::TooLarge { width: 16, .. })
        ));
        assert!(matches!(
            preprocess_image(&path, 0, [0.5; 3], [0.5; 3], &opts),
            Err(VisionError::InvalidResize { .. })
        ));
    }
}
