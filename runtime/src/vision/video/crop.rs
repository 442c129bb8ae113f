//! Per-frame `CenterCrop(S)` without resizing, then `/255` and `Normalize(mean, std)`, written
//! straight into the `[1, 3, T, S, S]` `patch_videos` tensor (docs/model.md §5.5).
//!
//! torchvision's `center_crop` on a `W×H` frame: where the frame is smaller than `S`, it is first
//! zero-padded with left/top `(S − w) // 2` and right/bottom the rest; then the `S×S` window
//! starts at `top = round((H' − S) / 2)`, `left = round((W' − S) / 2)` with Python's
//! round-half-even (`H'`, `W'` the padded size). Zero padding normalises to `(0 − mean) / std`
//! (−1 for the default 0.5/0.5).

use super::error::VideoError;
use image::RgbImage;
use ndarray::{Array5, ArrayViewMut2, Axis};

/// Python's `round(d / 2)` for a non-negative integer `d` (half to even).
fn half_round_even(d: usize) -> usize {
    let h = d / 2;
    if d % 2 == 1 && h % 2 == 1 {
        h + 1
    } else {
        h
    }
}

/// Where a crop of `size` samples along one axis of length `len` reads from: output position
/// `o` shows source position `o + shift` if that lies in `0..len`, else padding. Returns `shift`
/// (negative when the axis is padded).
pub fn crop_shift(len: usize, size: usize) -> isize {
    if len < size {
        // Padded to exactly `size`, so the crop starts at 0 of the padded axis.
        -(((size - len) / 2) as isize)
    } else {
        half_round_even(len - size) as isize
    }
}

/// Per-channel 256-entry table of the exact f32 expression `(v / 255 − mean) / std`, in
/// torchvision's evaluation order (bit-identical to `ToTensor` + `Normalize`).
pub fn normalise_lut(mean: [f32; 3], std: [f32; 3]) -> Result<[[f32; 256]; 3], VideoError> {
    if std.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        return Err(VideoError::InvalidStd { std });
    }
    let mut lut = [[0.0f32; 256]; 3];
    for (c, table) in lut.iter_mut().enumerate() {
        for (v, dst) in table.iter_mut().enumerate() {
            *dst = (v as f32 / 255.0 - mean[c]) / std[c];
        }
    }
    Ok(lut)
}

/// Centre-crops (padding where needed) one frame into a `[S, S]` plane per channel.
fn crop_channel(frame: &RgbImage, c: usize, lut: &[f32; 256], mut plane: ArrayViewMut2<f32>) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let size = plane.nrows();
    let (dx, dy) = (crop_shift(w, size), crop_shift(h, size));
    let raw = frame.as_raw();
    let pad = lut[0];
    for (oy, mut row) in plane.outer_iter_mut().enumerate() {
        let sy = oy as isize + dy;
        if sy < 0 || sy >= h as isize {
            row.fill(pad);
            continue;
        }
        let src_row = &raw[sy as usize * w * 3..(sy as usize + 1) * w * 3];
        for (ox, dst) in row.iter_mut().enumerate() {
            let sx = ox as isize + dx;
            *dst = if sx < 0 || sx >= w as isize {
                pad
            } else {
                lut[usize::from(src_row[sx as usize * 3 + c])]
            };
        }
    }
}

/// Builds `patch_videos`: `[1, 3, T, size, size]` f32 from `T = frames.len()` RGB frames (any
/// sizes, each cropped on its own).
///
/// Fails with [`VideoError::InvalidOptions`] for `size == 0` or no frame, and with
/// [`VideoError::InvalidStd`] for a non-positive or non-finite `std`.
pub fn frames_to_tensor(
    frames: &[RgbImage],
    size: usize,
    mean: [f32; 3],
    std: [f32; 3],
) -> Result<Array5<f32>, VideoError> {
    if size == 0 || frames.is_empty() {
        return Err(VideoError::InvalidOptions {
            detail: format!(
                "cannot build a {size}x{size} tensor from {} frames (both must be > 0)",
                frames.len()
            ),
        });
    }
    let lut = normalise_lut(mean, std)?;
    let mut out = Array5::<f32>::zeros((1, 3, frames.len(), size, size));
    let mut batch = out.index_axis_mut(Axis(0), 0);
    for (c, mut channel) in batch.outer_iter_mut().enumerate() {
        for (frame, plane) in frames.iter().zip(channel.outer_iter_mut()) {
            crop_channel(frame, c, &lut[c], plane);
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Frame whose red channel encodes x, green encodes y, blue is constant 7.
    fn coords(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]))
    }

    /// Decodes the normalised value back to the 0..=255 byte (mean = std = 0.5).
    fn byte(v: f32) -> i32 {
        ((v * 0.5 + 0.5) * 255.0).round() as i32
    }

    #[test]
    fn round_half_even_matches_python() {
        // round(0.5)=0, round(1.5)=2, round(2.5)=2, round(3.5)=4, round(3)=3.
        assert_eq!([1, 3, 5, 7, 6].map(half_round_even), [0, 2, 2, 4, 3]);
        assert_eq!(crop_shift(300, 224), 38);
        assert_eq!(crop_shift(229, 224), 2);
        assert_eq!(crop_shift(231, 224), 4);
        assert_eq!(crop_shift(224, 224), 0);
        assert_eq!(crop_shift(200, 224), -12);
        assert_eq!(crop_shift(201, 224), -11);
    }

    #[test]
    fn larger_frame_is_cropped_at_the_rounded_centre() {
        // 13x10 → 4: left = round(9/2) = round(4.5) = 4, top = round(6/2) = 3.
        let t = frames_to_tensor(&[coords(13, 10)], 4, [0.5; 3], [0.5; 3]).unwrap();
        assert_eq!(t.shape(), &[1, 3, 1, 4, 4]);
        for oy in 0..4 {
            for ox in 0..4 {
                assert_eq!(byte(t[[0, 0, 0, oy, ox]]), ox as i32 + 4);
                assert_eq!(byte(t[[0, 1, 0, oy, ox]]), oy as i32 + 3);
                assert_eq!(byte(t[[0, 2, 0, oy, ox]]), 7);
            }
        }
        // 11 wide → left = round(3.5) = 4 as well; 9 wide → round(2.5) = 2.
        let t = frames_to_tensor(&[coords(11, 4), coords(9, 4)], 4, [0.5; 3], [0.5; 3]).unwrap();
        assert_eq!(byte(t[[0, 0, 0, 0, 0]]), 4);
        assert_eq!(byte(t[[0, 0, 1, 0, 0]]), 2);
    }

    #[test]
    fn smaller_frame_is_zero_padded_to_minus_one() {
        // 3x2 → 6: pad left (6−3)//2 = 1, right 2; top (6−2)//2 = 2, bottom 2.
        let t = frames_to_tensor(&[coords(3, 2)], 6, [0.5; 3], [0.5; 3]).unwrap();
        for oy in 0..6 {
            for ox in 0..6 {
                let inside = (1..4).contains(&ox) && (2..4).contains(&oy);
                for c in 0..3 {
                    let v = t[[0, c, 0, oy, ox]];
                    if inside {
                        let want = [ox as i32 - 1, oy as i32 - 2, 7][c];
                        assert_eq!(byte(v), want, "({ox},{oy}) c{c}");
                    } else {
                        assert_eq!(v, -1.0, "({ox},{oy}) c{c}");
                    }
                }
            }
        }
    }

    #[test]
    fn mixed_axes_and_exact_size() {
        // Wider but shorter: 10x3 → 4: left = round(6/2) = 3, top pad (4−3)//2 = 0, bottom 1.
        let t = frames_to_tensor(&[coords(10, 3)], 4, [0.5; 3], [0.5; 3]).unwrap();
        assert_eq!(byte(t[[0, 0, 0, 0, 0]]), 3);
        assert_eq!(byte(t[[0, 1, 0, 2, 0]]), 2);
        assert_eq!(t[[0, 1, 0, 3, 0]], -1.0);
        // Exactly the crop size: identity.
        let t = frames_to_tensor(&[coords(4, 4)], 4, [0.5; 3], [0.5; 3]).unwrap();
        for oy in 0..4 {
            for ox in 0..4 {
                assert_eq!(t[[0, 0, 0, oy, ox]], (ox as f32 / 255.0 - 0.5) / 0.5);
                assert_eq!(t[[0, 1, 0, oy, ox]], (oy as f32 / 255.0 - 0.5) / 0.5);
            }
        }
    }

    #[test]
    fn bad_arguments_are_rejected() {
        let f = [coords(4, 4)];
        assert!(matches!(
            frames_to_tensor(&f, 0, [0.5; 3], [0.5; 3]),
            Err(VideoError::InvalidOptions { .. })
        ));
        assert!(matches!(
            frames_to_tensor(&[], 4, [0.5; 3], [0.5; 3]),
            Err(VideoError::InvalidOptions { .. })
        ));
        assert!(matches!(
            frames_to_tensor(&f, 4, [0.5; 3], [0.5, 0.0, 0.5]),
            Err(VideoError::InvalidStd { .. })
        ));
    }
}
