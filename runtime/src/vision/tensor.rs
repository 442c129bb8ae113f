//! RGB image → normalised `[1, 3, H, W]` f32 tensor, as `ToTensor()` then `Normalize(mean, std)`
//! (docs/model.md §5 intro).

use super::error::VisionError;
use image::RgbImage;
use ndarray::{Array4, Axis};

/// Converts `img` to a `[1, 3, H, W]` tensor `(v / 255 − mean[c]) / std[c]`.
///
/// Evaluated in f32 in the same order as torchvision (`ToTensor` divides by 255, `Normalize`
/// subtracts then divides), so the result is bit-identical to the original's `patch_images`.
/// With mean = std = 0.5 (the default, `TaskConfig::mean_std`) values lie in `[−1, 1]`.
/// Fails with [`VisionError::InvalidStd`] if any `std` is not finite and positive.
pub fn to_tensor(
    img: &RgbImage,
    mean: [f32; 3],
    std: [f32; 3],
) -> Result<Array4<f32>, VisionError> {
    if std.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        return Err(VisionError::InvalidStd { std });
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = Array4::<f32>::zeros((1, 3, h, w));
    for (c, mut plane) in out.index_axis_mut(Axis(0), 0).outer_iter_mut().enumerate() {
        // 256-entry table of the exact f32 expression; a lookup per element gives identical bits.
        let (m, s) = (mean[c], std[c]);
        let lut: Vec<f32> = (0..=255u8)
            .map(|v| (f32::from(v) / 255.0 - m) / s)
            .collect();
        for (dst, px) in plane.iter_mut().zip(img.as_raw().chunks_exact(3)) {
            *dst = lut[usize::from(px[c])];
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_nchw_and_half_normalisation_maps_to_minus_one_one() {
        // 2x1 image: pixel (0,0) = [0, 128, 255], pixel (1,0) = [255, 0, 51].
        let img = RgbImage::from_raw(2, 1, vec![0, 128, 255, 255, 0, 51]).unwrap();
        let t = to_tensor(&img, [0.5; 3], [0.5; 3]).unwrap();
        assert_eq!(t.shape(), &[1, 3, 1, 2]);
        assert_eq!(t[[0, 0, 0, 0]], -1.0);
        assert_eq!(t[[0, 2, 0, 0]], 1.0);
        assert_eq!(t[[0, 0, 0, 1]], 1.0);
        assert_eq!(t[[0, 1, 0, 1]], -1.0);
        // f32 evaluation order of torchvision: (128/255 − 0.5) / 0.5.
        assert_eq!(t[[0, 1, 0, 0]], (128.0f32 / 255.0 - 0.5) / 0.5);
        assert_eq!(t[[0, 2, 0, 1]], (51.0f32 / 255.0 - 0.5) / 0.5);
    }

    #[test]
    fn imagenet_statistics_are_per_channel() {
        let img = RgbImage::from_pixel(1, 1, image::Rgb([255, 255, 255]));
        let (mean, std) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
        let t = to_tensor(&img, mean, std).unwrap();
        for c in 0..3 {
            assert_eq!(t[[0, c, 0, 0]], (1.0 - mean[c]) / std[c]);
        }
        assert!((t[[0, 0, 0, 0]] - 2.2489).abs() < 1e-3);
    }

    #[test]
    fn bad_std_is_rejected() {
        let img = RgbImage::new(1, 1);
        assert!(matches!(
            to_tensor(&img, [0.5; 3], [0.5, 0.0, 0.5]),
            Err(VisionError::InvalidStd { .. })
        ));
        assert!(to_tensor(&img, [0.5; 3], [f32::NAN, 0.5, 0.5]).is_err());
    }
}
