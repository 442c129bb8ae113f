//! Which of a camera's formats to capture, and turning its frames into RGB: pure functions, so
//! that the choice and the pixel arithmetic are tested without a camera.
//!
//! Preference: the resolution nearest the request first (squared distance in pixels), then the
//! pixel format (MJPEG, which USB cameras deliver at full frame rate over USB 2; then YUYV, the
//! uncompressed format every UVC camera has; then NV12; then raw RGB/BGR and grey), then the
//! frame rate nearest the request.
//!
//! YUYV and NV12 are converted with the BT.601 limited-range matrix in 8.8 fixed point (what
//! UVC cameras send unless they say otherwise):
//! `R = (298·(Y−16) + 409·(V−128) + 128) >> 8`,
//! `G = (298·(Y−16) − 100·(U−128) − 208·(V−128) + 128) >> 8`,
//! `B = (298·(Y−16) + 516·(U−128) + 128) >> 8`, each clamped to 0..=255.

use image::RgbImage;
use nokhwa::utils::{CameraFormat, FrameFormat};

/// Resolution asked for when `--resolution` is not given: enough for the model's 384–480 px
/// input, cheap to decode on small devices.
pub const DEFAULT_RESOLUTION: (u32, u32) = (640, 480);
/// Frame rate asked for when `--fps` is not given.
pub const DEFAULT_FPS: f64 = 30.0;

/// Rank of a pixel format we can decode (lower is better); `None` for formats we cannot.
pub fn format_rank(format: FrameFormat) -> Option<u8> {
    match format {
        FrameFormat::MJPEG => Some(0),
        FrameFormat::YUYV => Some(1),
        FrameFormat::NV12 => Some(2),
        FrameFormat::RAWRGB => Some(3),
        FrameFormat::RAWBGR => Some(4),
        FrameFormat::GRAY => Some(5),
    }
}

/// The format to capture among `offered`, for the requested resolution and frame rate
/// (defaults [`DEFAULT_RESOLUTION`], [`DEFAULT_FPS`]); `None` when nothing offered can be
/// decoded.
pub fn choose_format(
    offered: &[CameraFormat],
    resolution: Option<(u32, u32)>,
    fps: Option<f64>,
) -> Option<CameraFormat> {
    let (w, h) = resolution.unwrap_or(DEFAULT_RESOLUTION);
    let want_fps = fps.unwrap_or(DEFAULT_FPS);
    offered
        .iter()
        .filter_map(|f| Some((format_rank(f.format())?, f)))
        .min_by(|(rank_a, a), (rank_b, b)| {
            let dist = |f: &CameraFormat| {
                let dx = i64::from(f.width()) - i64::from(w);
                let dy = i64::from(f.height()) - i64::from(h);
                dx * dx + dy * dy
            };
            let fps_off = |f: &CameraFormat| (f64::from(f.frame_rate()) - want_fps).abs();
            dist(a)
                .cmp(&dist(b))
                .then(rank_a.cmp(rank_b))
                .then(fps_off(a).total_cmp(&fps_off(b)))
        })
        .map(|(_, f)| *f)
}

fn clamp(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// One BT.601 limited-range YUV pixel to RGB (see the module documentation).
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    [
        clamp((c + 409 * e + 128) >> 8),
        clamp((c - 100 * d - 208 * e + 128) >> 8),
        clamp((c + 516 * d + 128) >> 8),
    ]
}

fn need(buf: &[u8], bytes: usize, what: &str) -> Result<(), String> {
    if buf.len() < bytes {
        return Err(format!(
            "{what} frame has {} bytes, expected {bytes}",
            buf.len()
        ));
    }
    Ok(())
}

/// YUYV 4:2:2 (`Y0 U Y1 V` per two pixels) to RGB; the width must be even.
pub fn yuyv_to_rgb(buf: &[u8], width: u32, height: u32) -> Result<RgbImage, String> {
    let (w, h) = (width as usize, height as usize);
    if !w.is_multiple_of(2) {
        return Err(format!("YUYV frame width {w} is odd"));
    }
    need(buf, w * h * 2, "YUYV")?;
    let mut out = Vec::with_capacity(w * h * 3);
    for quad in buf[..w * h * 2].chunks_exact(4) {
        let (y0, u, y1, v) = (quad[0], quad[1], quad[2], quad[3]);
        out.extend_from_slice(&yuv_to_rgb(y0, u, v));
        out.extend_from_slice(&yuv_to_rgb(y1, u, v));
    }
    RgbImage::from_raw(width, height, out).ok_or_else(|| "YUYV frame size".to_string())
}

/// NV12 (a `w×h` Y plane, then a `w/2 × h/2` plane of interleaved `U V`) to RGB; width and
/// height must be even.
pub fn nv12_to_rgb(buf: &[u8], width: u32, height: u32) -> Result<RgbImage, String> {
    let (w, h) = (width as usize, height as usize);
    if !w.is_multiple_of(2) || !h.is_multiple_of(2) {
        return Err(format!("NV12 frame {w}x{h} has an odd side"));
    }
    need(buf, w * h * 3 / 2, "NV12")?;
    let (luma, chroma) = buf.split_at(w * h);
    let mut out = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        for col in 0..w {
            let uv = (row / 2) * w + (col / 2) * 2;
            out.extend_from_slice(&yuv_to_rgb(luma[row * w + col], chroma[uv], chroma[uv + 1]));
        }
    }
    RgbImage::from_raw(width, height, out).ok_or_else(|| "NV12 frame size".to_string())
}

/// Decodes one captured frame of `format` and size `width × height` to RGB. `Err` describes a
/// damaged or short frame (USB cameras deliver one now and then; the caller skips it).
pub fn decode_frame(
    buf: &[u8],
    format: FrameFormat,
    width: u32,
    height: u32,
) -> Result<RgbImage, String> {
    let (w, h) = (width as usize, height as usize);
    match format {
        FrameFormat::MJPEG => image::load_from_memory_with_format(buf, image::ImageFormat::Jpeg)
            .map(|img| img.to_rgb8())
            .map_err(|e| format!("MJPEG frame: {e}")),
        FrameFormat::YUYV => yuyv_to_rgb(buf, width, height),
        FrameFormat::NV12 => nv12_to_rgb(buf, width, height),
        FrameFormat::RAWRGB => {
            need(buf, w * h * 3, "RGB")?;
            RgbImage::from_raw(width, height, buf[..w * h * 3].to_vec())
                .ok_or_else(|| "RGB frame size".to_string())
        }
        FrameFormat::RAWBGR => {
            need(buf, w * h * 3, "BGR")?;
            let rgb = buf[..w * h * 3]
                .chunks_exact(3)
                .flat_map(|p| [p[2], p[1], p[0]])
                .collect();
            RgbImage::from_raw(width, height, rgb).ok_or_else(|| "BGR frame size".to_string())
        }
        FrameFormat::GRAY => {
            need(buf, w * h, "grey")?;
            let rgb = buf[..w * h].iter().flat_map(|&g| [g, g, g]).collect();
            RgbImage::from_raw(width, height, rgb).ok_or_else(|| "grey frame size".to_string())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fmt(w: u32, h: u32, f: FrameFormat, fps: u32) -> CameraFormat {
        CameraFormat::new_from(w, h, f, fps)
    }

    /// A typical UVC webcam: YUYV at every size (slow at large ones), MJPEG at the large ones.
    fn webcam() -> Vec<CameraFormat> {
        vec![
            fmt(640, 480, FrameFormat::YUYV, 30),
            fmt(1280, 720, FrameFormat::YUYV, 10),
            fmt(1920, 1080, FrameFormat::YUYV, 5),
            fmt(1280, 720, FrameFormat::MJPEG, 30),
            fmt(1280, 720, FrameFormat::MJPEG, 15),
            fmt(1920, 1080, FrameFormat::MJPEG, 30),
            fmt(320, 240, FrameFormat::NV12, 30),
        ]
    }

    #[test]
    fn prefers_mjpeg_at_the_requested_size_and_rate() {
        let got = choose_format(&webcam(), Some((1280, 720)), Some(30.0)).unwrap();
        assert_eq!(got, fmt(1280, 720, FrameFormat::MJPEG, 30));
        let got = choose_format(&webcam(), Some((1280, 720)), Some(14.0)).unwrap();
        assert_eq!(got, fmt(1280, 720, FrameFormat::MJPEG, 15));
    }

    #[test]
    fn nearest_resolution_wins_over_format() {
        // 640x480 exists only as YUYV; the default request is 640x480.
        let got = choose_format(&webcam(), None, None).unwrap();
        assert_eq!(got, fmt(640, 480, FrameFormat::YUYV, 30));
        // 1900x1070 is nearest 1920x1080, where MJPEG (30 fps) beats YUYV (5 fps) on format.
        let got = choose_format(&webcam(), Some((1900, 1070)), None).unwrap();
        assert_eq!(got, fmt(1920, 1080, FrameFormat::MJPEG, 30));
        let got = choose_format(&webcam(), Some((300, 200)), None).unwrap();
        assert_eq!(got, fmt(320, 240, FrameFormat::NV12, 30));
    }

    #[test]
    fn yuyv_is_preferred_over_nv12_at_equal_size() {
        let offered = vec![
            fmt(640, 480, FrameFormat::NV12, 30),
            fmt(640, 480, FrameFormat::GRAY, 30),
            fmt(640, 480, FrameFormat::YUYV, 30),
        ];
        let got = choose_format(&offered, None, None).unwrap();
        assert_eq!(got.format(), FrameFormat::YUYV);
        assert_eq!(choose_format(&[], None, None), None);
    }

    #[test]
    fn yuv_reference_pixels() {
        // Hand-computed with the module's formula.
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        // 298·219 + 128 = 65390 → 255.
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
        // Y=126: 298·110 + 128 = 32908 → 128 (grey).
        assert_eq!(yuv_to_rgb(126, 128, 128), [128, 128, 128]);
        // BT.601 red (81, 90, 240): R = (19370 + 45808 + 128) >> 8 = 255,
        // G = (19370 + 3800 − 23296 + 128) >> 8 = 0, B = (19370 − 19608 + 128) >> 8 → 0.
        assert_eq!(yuv_to_rgb(81, 90, 240), [255, 0, 0]);
        // (100, 50, 200): C = 25032, D = −78, E = 72:
        // R = (25032 + 29448 + 128) >> 8 = 213, G = (25032 + 7800 − 14976 + 128) >> 8 = 70,
        // B = (25032 − 40248 + 128) >> 8 = −59 → 0.
        assert_eq!(yuv_to_rgb(100, 50, 200), [213, 70, 0]);
    }

    #[test]
    fn yuyv_pairs_share_chroma() {
        // 2x1: Y0=81 Y1=235 sharing U=90 V=240.
        let img = yuyv_to_rgb(&[81, 90, 235, 240], 2, 1).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [255, 0, 0]);
        // Y=235 with the red chroma: R = (65262+45808+128)>>8 → 255,
        // G = (65262+3800−23296+128)>>8 = 179, B = (65262−19608+128)>>8 = 178.
        assert_eq!(img.get_pixel(1, 0).0, [255, 179, 178]);
        assert!(yuyv_to_rgb(&[0; 7], 2, 2).is_err());
        assert!(yuyv_to_rgb(&[0; 6], 3, 1).is_err());
    }

    #[test]
    fn nv12_maps_each_chroma_sample_to_a_2x2_block() {
        // 4x2: luma all 126; two chroma pairs: left (128,128) grey, right (90,240) red-ish.
        let mut buf = vec![126u8; 8];
        buf.extend_from_slice(&[128, 128, 90, 240]);
        let img = nv12_to_rgb(&buf, 4, 2).unwrap();
        for (x, y) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            assert_eq!(img.get_pixel(x, y).0, [128, 128, 128]);
        }
        // Y=126 (C=32780), D=−38, E=112: R = (32780+45808+128)>>8 = 307 → 255,
        // G = (32780+3800−23296+128)>>8 = 52, B = (32780−19608+128)>>8 = 51.
        for (x, y) in [(2, 0), (3, 0), (2, 1), (3, 1)] {
            assert_eq!(img.get_pixel(x, y).0, [255, 52, 51]);
        }
        assert!(nv12_to_rgb(&buf[..11], 4, 2).is_err());
    }

    #[test]
    fn decodes_mjpeg_bgr_and_grey_and_rejects_garbage() {
        let src = RgbImage::from_pixel(16, 8, image::Rgb([200, 30, 30]));
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(src)
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        let img = decode_frame(&jpeg, FrameFormat::MJPEG, 16, 8).unwrap();
        assert_eq!(img.dimensions(), (16, 8));
        let p = img.get_pixel(8, 4).0;
        assert!(p[0] > 180 && p[1] < 60 && p[2] < 60, "{p:?}");
        assert!(decode_frame(&jpeg[..jpeg.len() / 3], FrameFormat::MJPEG, 16, 8).is_err());
        let bgr = decode_frame(&[1, 2, 3, 4, 5, 6], FrameFormat::RAWBGR, 2, 1).unwrap();
        assert_eq!(bgr.into_raw(), vec![3, 2, 1, 6, 5, 4]);
        let grey = decode_frame(&[7, 9], FrameFormat::GRAY, 2, 1).unwrap();
        assert_eq!(grey.into_raw(), vec![7, 7, 7, 9, 9, 9]);
    }
}
