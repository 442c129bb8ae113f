//! The picture `unival bench` captions when no `--image` is given: a deterministic pattern made
//! in code, so the command runs anywhere (no files to find) and every run times the same
//! pixels. Smooth gradients and sharp checker edges, a photo's mix for the resize.

use image::{Rgb, RgbImage};

/// Width of the pattern (a typical camera frame's 4:3).
pub const WIDTH: u32 = 640;
/// Height of the pattern.
pub const HEIGHT: u32 = 480;
/// The report's `image` for the pattern.
pub const NAME: &str = "built-in 640x480 test pattern";
/// Side of one checker square, pixels.
const SQUARE: u32 = 40;

/// The pattern: red grows left to right, green top to bottom, blue along the diagonal, and a
/// checkerboard inverts every other square.
pub fn pattern() -> RgbImage {
    RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let ramp = |v: u32, len: u32| u8::try_from(v * 255 / (len - 1)).unwrap_or(u8::MAX);
        let rgb = [
            ramp(x, WIDTH),
            ramp(y, HEIGHT),
            ramp(x + y, WIDTH + HEIGHT - 1),
        ];
        let dark = (x / SQUARE + y / SQUARE) % 2 == 1;
        Rgb(rgb.map(|c| if dark { 255 - c } else { c }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_is_fixed_and_varied() {
        let p = pattern();
        assert_eq!(p.dimensions(), (WIDTH, HEIGHT));
        assert_eq!(p, pattern(), "deterministic");
        assert_eq!(p.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(p.get_pixel(WIDTH - 1, HEIGHT - 1).0, [255, 255, 255]);
        // A dark square inverts the ramps.
        assert_eq!(p.get_pixel(SQUARE, 0).0[1], 255);
    }
}
