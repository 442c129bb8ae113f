//! `unival ground --draw OUT.png`: the image with the predicted box outlined.

use anyhow::Context;
use image::{Rgb, RgbImage};
use std::path::Path;

/// Writes `src` with `bbox = [x0, y0, x1, y1]` (pixels) outlined in red, 3 px wide.
pub fn draw_box(src: &Path, bbox: [f64; 4], out: &Path) -> anyhow::Result<()> {
    let mut img: RgbImage = image::open(src)
        .with_context(|| format!("{}: cannot reopen the image to draw on", src.display()))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Ok(());
    }
    let clamp = |v: f64, max: u32| v.round().clamp(0.0, f64::from(max - 1)) as u32;
    let (x0, x1) = (
        clamp(bbox[0].min(bbox[2]), w),
        clamp(bbox[0].max(bbox[2]), w),
    );
    let (y0, y1) = (
        clamp(bbox[1].min(bbox[3]), h),
        clamp(bbox[1].max(bbox[3]), h),
    );
    let red = Rgb([255, 0, 0]);
    for t in 0..3u32 {
        for x in x0..=x1 {
            img.put_pixel(x, (y0 + t).min(h - 1), red);
            img.put_pixel(x, y1.saturating_sub(t), red);
        }
        for y in y0..=y1 {
            img.put_pixel((x0 + t).min(w - 1), y, red);
            img.put_pixel(x1.saturating_sub(t), y, red);
        }
    }
    img.save(out)
        .with_context(|| format!("{}: cannot write", out.display()))
}
