//! Decoding image files to 8-bit RGB exactly as the original's `PIL.Image.open(f).convert("RGB")`
//! (UnIVAL spec §5 intro).
//!
//! Format is detected from the content (like Pillow), never from the file extension. Conversion
//! rules, checked against Pillow 13 (`PIL.Image.open(..).convert("RGB")`):
//!
//! | decoded as                        | Pillow mode       | RGB value                        |
//! |-----------------------------------|-------------------|----------------------------------|
//! | grey 1/2/4/8-bit                  | `1` / `L`         | grey scaled to 8 bit, replicated |
//! | grey + alpha, grey + tRNS         | `LA` / `L`        | grey replicated, alpha dropped   |
//! | palette (+ tRNS), GIF             | `P`               | palette colour, alpha dropped    |
//! | RGBA, RGB + tRNS                  | `RGBA` / `RGB`    | alpha dropped, **not** composited|
//! | 16-bit grey                       | `I;16`            | `min(v, 255)` replicated (clips!)|
//! | 16-bit grey + alpha               | `RGBA` (`LA;16B`) | high byte `v >> 8`, replicated   |
//! | 16-bit RGB / RGBA                 | `RGB` / `RGBA`    | high byte `v >> 8` (truncation)  |
//!
//! The 16-bit grey row is Pillow's real behaviour: `I;16 → RGB` clips instead of rescaling, so a
//! typical 16-bit grey PNG turns mostly white. We reproduce it because the model saw that.
//!
//! Known decoder differences (not bit-exact vs Pillow): JPEG (zune-jpeg vs libjpeg/libjpeg-turbo
//! IDCT and chroma upsampling; typically ±1 LSB), lossy WebP (image-webp vs libwebp), and GIFs
//! whose first frame does not cover the whole logical screen (the `image` crate fills the rest
//! with black, Pillow with the background/transparent palette entry). PNG and BMP are exact.
//!
//! EXIF orientation is ignored by default (the original never calls `exif_transpose`);
//! [`ImageOptions::exif_rotate`] applies tags 1–8 like `PIL.ImageOps.exif_transpose`.

use super::error::VisionError;

mod gif;
mod jpeg;
mod jpeg_header;
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits, RgbImage};
use std::io::{BufRead, Cursor, Seek};
use std::path::{Path, PathBuf};

/// Default pixel budget: 2 × 89,478,485 pixels, the size at which Pillow's own default
/// `MAX_IMAGE_PIXELS` turns its warning into a `DecompressionBombError`. The original disables the
/// limit; on a device that means an out-of-memory kill, so we refuse before allocating instead.
pub const DEFAULT_MAX_PIXELS: u64 = 2 * 89_478_485;

/// Memory the decoder may use beyond the decoded pixels (scratch buffers, metadata).
const DECODER_SLACK_BYTES: u64 = 64 << 20;

/// Largest bytes per pixel any supported decoder produces (16-bit RGBA).
const MAX_BYTES_PER_PIXEL: u64 = 8;

/// How images are loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOptions {
    /// Apply the EXIF orientation tag (1–8) after decoding. Off by default, like the original,
    /// which feeds `Image.open` output without `exif_transpose`.
    pub exif_rotate: bool,
    /// Refuse images whose header announces more than this many pixels (width × height), before
    /// any pixel is decoded. Also bounds the decoder's allocations to `8 × max_pixels + 64 MiB`.
    pub max_pixels: u64,
}

impl Default for ImageOptions {
    fn default() -> Self {
        Self {
            exif_rotate: false,
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }
}

/// Loads an image file as 8-bit RGB, as `PIL.Image.open(path).convert("RGB")` does.
///
/// Fails with a [`VisionError`] naming `path`: missing, unreadable, empty, unsupported format,
/// corrupt, or above [`ImageOptions::max_pixels`]. The file is read whole (JPEG needs it in memory).
pub fn load_rgb(path: &Path, opts: &ImageOptions) -> Result<RgbImage, VisionError> {
    let file = PathBuf::from(path);
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => VisionError::NotFound { file: file.clone() },
        _ => VisionError::Io {
            file: file.clone(),
            source,
        },
    })?;
    load_rgb_named(&bytes, &file, opts)
}

/// Decodes an in-memory encoded image (any supported format) as 8-bit RGB; errors name the
/// source `<memory>`. Same rules as [`load_rgb`].
pub fn load_rgb_from_bytes(bytes: &[u8], opts: &ImageOptions) -> Result<RgbImage, VisionError> {
    load_rgb_named(bytes, Path::new("<memory>"), opts)
}

/// Dispatches on the content: JPEG/MPO to libjpeg-turbo, everything else to the `image` crate.
/// A partial decode (Pillow's truncated-image path) prints a warning naming the file.
fn load_rgb_named(bytes: &[u8], file: &Path, opts: &ImageOptions) -> Result<RgbImage, VisionError> {
    if bytes.is_empty() {
        return Err(VisionError::Empty {
            file: file.to_path_buf(),
        });
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        let patched = gif::with_grey_table(bytes);
        let frame = gif::open(patched.as_deref().unwrap_or(bytes)).map_err(|detail| {
            VisionError::Corrupt {
                file: file.to_path_buf(),
                detail: format!("GIF: {detail}"),
            }
        })?;
        check_budget(file, frame.width, frame.height, opts)?;
        return gif::decode(frame).into_rgb(file, None);
    }
    if !bytes.starts_with(JPEG_SIGNATURE) {
        let grey_alpha = if is_png_grey_without_alpha(bytes) {
            GreyAlpha::FromTrns
        } else {
            GreyAlpha::Stored
        };
        return decode(Cursor::new(bytes), file, opts, grey_alpha);
    }
    let head = jpeg::header(bytes).map_err(|detail| VisionError::Corrupt {
        file: file.to_path_buf(),
        detail: format!("JPEG: {detail}"),
    })?;
    check_budget(file, head.width, head.height, opts)?;
    let decoded = jpeg::decode(bytes, &head);
    let orientation = match (&head.exif, opts.exif_rotate) {
        (Some(exif), true) => image::metadata::Orientation::from_exif_chunk(exif),
        _ => None,
    };
    decoded.into_rgb(file, orientation)
}

/// Where a decoded grey + alpha image's alpha came from, which decides Pillow's mode for 16 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GreyAlpha {
    /// A real alpha channel (PNG colour type 4): Pillow reads 16 bits as `LA;16B`, high bytes.
    Stored,
    /// Expanded from a grey PNG's tRNS chunk: Pillow reads 16 bits as mode `I`, whose RGB
    /// conversion clips the value at 255 like `I;16`.
    FromTrns,
}

/// Whether `bytes` is a PNG whose header says grey without alpha (colour type 0).
fn is_png_grey_without_alpha(bytes: &[u8]) -> bool {
    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    // Signature, IHDR length and tag, width, height, bit depth, then the colour type at 25.
    bytes.starts_with(PNG_SIGNATURE)
        && bytes.get(12..16) == Some(b"IHDR")
        && bytes.get(25) == Some(&0)
}

/// `FF D8 FF`: what Pillow's JPEG plugin accepts as a JPEG (MPO files start the same way).
const JPEG_SIGNATURE: &[u8] = &[0xFF, 0xD8, 0xFF];

/// Pixels decoded by one of our own format modules, before orientation.
pub(super) struct Decoded {
    pub width: u32,
    pub height: u32,
    /// `width × height` RGB triples, row-major.
    pub rgb: Vec<u8>,
    /// Set when the data ended or broke before the last row (Pillow fills the rest).
    pub warning: Option<String>,
}

impl Decoded {
    /// Prints the truncation warning, applies the orientation and wraps the pixels.
    fn into_rgb(
        self,
        file: &Path,
        orientation: Option<image::metadata::Orientation>,
    ) -> Result<RgbImage, VisionError> {
        if let Some(warning) = &self.warning {
            eprintln!("warning: image file {}: {warning}", file.display());
        }
        let rgb = RgbImage::from_raw(self.width, self.height, self.rgb).ok_or_else(|| {
            VisionError::Corrupt {
                file: file.to_path_buf(),
                detail: "decoder returned a buffer of the wrong size".into(),
            }
        })?;
        Ok(match orientation {
            Some(o) => {
                let mut img = DynamicImage::ImageRgb8(rgb);
                img.apply_orientation(o);
                img.into_rgb8()
            }
            None => rgb,
        })
    }
}

/// Refuses images whose header announces more than [`ImageOptions::max_pixels`].
fn check_budget(
    file: &Path,
    width: u32,
    height: u32,
    opts: &ImageOptions,
) -> Result<(), VisionError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > opts.max_pixels {
        return Err(VisionError::TooLarge {
            file: file.to_path_buf(),
            width,
            height,
            pixels,
            max_pixels: opts.max_pixels,
        });
    }
    Ok(())
}

/// Header check, bounded decode, optional EXIF orientation, Pillow RGB conversion.
fn decode<R: BufRead + Seek>(
    reader: R,
    file: &Path,
    opts: &ImageOptions,
    grey_alpha: GreyAlpha,
) -> Result<RgbImage, VisionError> {
    let mut reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|source| VisionError::Io {
            file: file.to_path_buf(),
            source,
        })?;
    if reader.format().is_none() {
        return Err(VisionError::Unsupported {
            file: file.to_path_buf(),
            detail: "content is not a recognised image signature".into(),
        });
    }
    // Reading the header allocates nothing proportional to the image; limits are applied after
    // the dimension check so that an oversized header yields `TooLarge`, not a decoder error.
    reader.no_limits();
    let mut decoder = reader.into_decoder().map_err(|e| image_error(file, e))?;
    let (width, height) = decoder.dimensions();
    check_budget(file, width, height, opts)?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(
        opts.max_pixels
            .saturating_mul(MAX_BYTES_PER_PIXEL)
            .saturating_add(DECODER_SLACK_BYTES),
    );
    decoder
        .set_limits(limits)
        .map_err(|e| image_error(file, e))?;
    // A malformed EXIF block only matters when rotation was asked for; Pillow's `exif_transpose`
    // also leaves such images unrotated, so fall back to no transform.
    let orientation = if opts.exif_rotate {
        decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms)
    } else {
        image::metadata::Orientation::NoTransforms
    };
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| image_error(file, e))?;
    img.apply_orientation(orientation);
    to_rgb_like_pillow(img, file, grey_alpha)
}

/// Maps an `image` error to ours, keeping the file name.
fn image_error(file: &Path, err: ImageError) -> VisionError {
    let file = file.to_path_buf();
    match err {
        ImageError::Unsupported(e) => VisionError::Unsupported {
            file,
            detail: e.to_string(),
        },
        ImageError::Limits(e) => VisionError::Corrupt {
            file,
            detail: format!("decoder memory limit exceeded: {e}"),
        },
        ImageError::IoError(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => {
            VisionError::Io { file, source: e }
        }
        other => VisionError::Corrupt {
            file,
            detail: other.to_string(),
        },
    }
}

/// Pillow's `convert("RGB")` for every pixel layout the enabled decoders produce (module table).
fn to_rgb_like_pillow(
    img: DynamicImage,
    file: &Path,
    grey_alpha: GreyAlpha,
) -> Result<RgbImage, VisionError> {
    let (w, h) = (img.width(), img.height());
    let grey = |v: u8| image::Rgb([v, v, v]);
    Ok(match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        DynamicImage::ImageRgba8(p) => RgbImage::from_fn(w, h, |x, y| {
            let [r, g, b, _] = p.get_pixel(x, y).0;
            image::Rgb([r, g, b])
        }),
        DynamicImage::ImageLuma8(p) => RgbImage::from_fn(w, h, |x, y| grey(p.get_pixel(x, y).0[0])),
        DynamicImage::ImageLumaA8(p) => {
            RgbImage::from_fn(w, h, |x, y| grey(p.get_pixel(x, y).0[0]))
        }
        DynamicImage::ImageLuma16(p) => {
            RgbImage::from_fn(w, h, |x, y| grey(clip_to_u8(p.get_pixel(x, y).0[0])))
        }
        DynamicImage::ImageLumaA16(p) if grey_alpha == GreyAlpha::FromTrns => {
            RgbImage::from_fn(w, h, |x, y| grey(clip_to_u8(p.get_pixel(x, y).0[0])))
        }
        DynamicImage::ImageLumaA16(p) => {
            RgbImage::from_fn(w, h, |x, y| grey(high_byte(p.get_pixel(x, y).0[0])))
        }
        DynamicImage::ImageRgb16(p) => {
            RgbImage::from_fn(w, h, |x, y| image::Rgb(p.get_pixel(x, y).0.map(high_byte)))
        }
        DynamicImage::ImageRgba16(p) => RgbImage::from_fn(w, h, |x, y| {
            let [r, g, b, _] = p.get_pixel(x, y).0;
            image::Rgb([r, g, b].map(high_byte))
        }),
        other => {
            return Err(VisionError::Unsupported {
                file: file.to_path_buf(),
                detail: format!("pixel type {:?}", other.color()),
            })
        }
    })
}

/// Pillow's `I;16`/`I` → RGB: values above 255 clip instead of rescaling.
fn clip_to_u8(v: u16) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}

/// Most significant byte of a 16-bit sample (Pillow's `;16B` unpackers truncate).
fn high_byte(v: u16) -> u8 {
    v.to_be_bytes()[0]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::vision::test_support::{pattern, png};

    fn opts() -> ImageOptions {
        ImageOptions::default()
    }

    fn first_row(img: &RgbImage) -> Vec<[u8; 3]> {
        (0..img.width()).map(|x| img.get_pixel(x, 0).0).collect()
    }

    fn reds(img: &RgbImage) -> Vec<u8> {
        first_row(img).iter().map(|p| p[0]).collect()
    }

    fn be16(values: &[u16], channels: usize, extra: u16) -> Vec<u8> {
        values
            .iter()
            .flat_map(|&v| {
                let mut px = vec![v; channels];
                if extra != 0 {
                    px.push(extra);
                }
                px.into_iter()
                    .flat_map(u16::to_be_bytes)
                    .collect::<Vec<u8>>()
            })
            .collect()
    }

    /// Expected values below were printed by Pillow 13.0.0 for the same bytes:
    /// `np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGB"))`.
    #[test]
    fn sixteen_bit_modes_convert_like_pillow() {
        let vals = [0u16, 100, 255, 256, 1000, 32768, 65535];
        let w = vals.len() as u32;
        // Grey 16 → Pillow mode I;16 → RGB clips at 255.
        let g16 = png(w, 1, 16, 0, &[be16(&vals, 1, 0)], None, None);
        let img = load_rgb_from_bytes(&g16, &opts()).unwrap();
        assert_eq!(reds(&img), [0, 100, 255, 255, 255, 255, 255]);
        assert!(first_row(&img).iter().all(|p| p[0] == p[1] && p[1] == p[2]));
        // RGB 16 → high byte.
        let rgb16 = png(w, 1, 16, 2, &[be16(&vals, 3, 0)], None, None);
        let img = load_rgb_from_bytes(&rgb16, &opts()).unwrap();
        assert_eq!(reds(&img), [0, 0, 0, 1, 3, 128, 255]);
        // Grey+alpha 16 → Pillow RGBA via LA;16B → high byte, alpha dropped.
        let la16 = png(w, 1, 16, 4, &[be16(&vals, 1, 1234)], None, None);
        let img = load_rgb_from_bytes(&la16, &opts()).unwrap();
        assert_eq!(reds(&img), [0, 0, 0, 1, 3, 128, 255]);
        // RGBA 16 → high byte, alpha dropped.
        let rgba16 = png(w, 1, 16, 6, &[be16(&vals, 3, 7)], None, None);
        let img = load_rgb_from_bytes(&rgba16, &opts()).unwrap();
        assert_eq!(reds(&img), [0, 0, 0, 1, 3, 128, 255]);
    }

    #[test]
    fn low_bit_depth_grey_palette_and_transparency_convert_like_pillow() {
        let g1 = png(8, 1, 1, 0, &[vec![0b1010_0110]], None, None);
        assert_eq!(
            reds(&load_rgb_from_bytes(&g1, &opts()).unwrap()),
            [255, 0, 255, 0, 0, 255, 255, 0]
        );
        let g2 = png(4, 1, 2, 0, &[vec![0b0001_1011]], None, None);
        assert_eq!(
            reds(&load_rgb_from_bytes(&g2, &opts()).unwrap()),
            [0, 85, 170, 255]
        );
        let g4 = png(2, 1, 4, 0, &[vec![0x1f]], None, None);
        assert_eq!(reds(&load_rgb_from_bytes(&g4, &opts()).unwrap()), [17, 255]);
        // Grey + tRNS: value kept, not composited.
        let gt = png(2, 1, 8, 0, &[vec![7, 9]], None, Some(&[0, 7]));
        assert_eq!(reds(&load_rgb_from_bytes(&gt, &opts()).unwrap()), [7, 9]);
        // RGB + tRNS.
        let rt = png(
            2,
            1,
            8,
            2,
            &[vec![7, 9, 11, 1, 2, 3]],
            None,
            Some(&[0, 7, 0, 9, 0, 11]),
        );
        assert_eq!(
            first_row(&load_rgb_from_bytes(&rt, &opts()).unwrap()),
            [[7, 9, 11], [1, 2, 3]]
        );
        // Palette + tRNS (index 0 fully transparent): palette colours, alpha ignored.
        let plte = [10, 20, 30, 40, 50, 60];
        let pt = png(2, 1, 8, 3, &[vec![0, 1]], Some(&plte), Some(&[0]));
        assert_eq!(
            first_row(&load_rgb_from_bytes(&pt, &opts()).unwrap()),
            [[10, 20, 30], [40, 50, 60]]
        );
        // 2-bit palette.
        let p2 = png(3, 1, 2, 3, &[vec![0b0001_0000]], Some(&plte), None);
        assert_eq!(
            first_row(&load_rgb_from_bytes(&p2, &opts()).unwrap()),
            [[10, 20, 30], [40, 50, 60], [10, 20, 30]]
        );
    }

    #[test]
    fn eight_bit_grey_la_rgba_drop_alpha_without_compositing() {
        let l8 = png(3, 1, 8, 0, &[vec![0, 128, 255]], None, None);
        assert_eq!(
            first_row(&load_rgb_from_bytes(&l8, &opts()).unwrap()),
            [[0; 3], [128; 3], [255; 3]]
        );
        let la8 = png(2, 1, 8, 4, &[vec![77, 0, 200, 255]], None, None);
        assert_eq!(
            first_row(&load_rgb_from_bytes(&la8, &opts()).unwrap()),
            [[77; 3], [200; 3]]
        );
        let rgba = png(
            2,
            1,
            8,
            6,
            &[vec![1, 2, 3, 0, 250, 251, 252, 9]],
            None,
            None,
        );
        assert_eq!(
            first_row(&load_rgb_from_bytes(&rgba, &opts()).unwrap()),
            [[1, 2, 3], [250, 251, 252]]
        );
    }

    #[test]
    fn bmp_gif_and_webp_decode_losslessly() {
        let src = pattern(13, 7);
        for format in [
            image::ImageFormat::Bmp,
            image::ImageFormat::Png,
            image::ImageFormat::WebP,
        ] {
            let mut bytes = Vec::new();
            src.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
            assert_eq!(
                load_rgb_from_bytes(&bytes, &opts()).unwrap(),
                src,
                "{format:?}"
            );
        }
        // GIF: a 2-colour image survives the palette quantisation exactly.
        let two = RgbImage::from_fn(5, 3, |x, _| {
            image::Rgb(if x % 2 == 0 { [255, 0, 0] } else { [0, 0, 255] })
        });
        let mut bytes = Vec::new();
        two.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Gif)
            .unwrap();
        assert_eq!(load_rgb_from_bytes(&bytes, &opts()).unwrap(), two);
    }

    #[test]
    fn jpeg_differs_from_libjpeg_by_at_most_a_few_lsb() {
        // `demo_crop16.jpg` and Pillow's decode of it (`.pillow.rgb`), see testdata/README.md.
        let ours =
            load_rgb_from_bytes(include_bytes!("testdata/demo_crop16.jpg"), &opts()).unwrap();
        let pillow = include_bytes!("testdata/demo_crop16.pillow.rgb");
        assert_eq!(ours.dimensions(), (16, 16));
        let max = ours
            .as_raw()
            .iter()
            .zip(pillow.iter())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(max <= 2, "JPEG decode differs from Pillow by {max}");
    }

    #[test]
    fn exif_orientation_is_ignored_by_default_and_applied_on_request() {
        // 4x2: red left half, blue right half; EXIF orientation 6 (display rotated 90° clockwise).
        let bytes = include_bytes!("testdata/exif_orient6.jpg");
        let raw = load_rgb_from_bytes(bytes, &opts()).unwrap();
        assert_eq!(raw.dimensions(), (4, 2));
        assert!(raw.get_pixel(0, 0).0[0] > 200 && raw.get_pixel(3, 0).0[2] > 200);
        let rotate = ImageOptions {
            exif_rotate: true,
            ..opts()
        };
        let rotated = load_rgb_from_bytes(bytes, &rotate).unwrap();
        assert_eq!(rotated.dimensions(), (2, 4));
        assert_eq!(rotated, image::imageops::rotate90(&raw));
        // After a clockwise turn the red (left) half is on top.
        assert!(rotated.get_pixel(0, 0).0[0] > 200 && rotated.get_pixel(0, 3).0[2] > 200);
    }

    #[test]
    fn oversized_header_is_refused_before_decoding() {
        // A 58-byte PNG announcing 20000x20000 RGB, with an empty IDAT: only the header is real.
        let bytes = png(20_000, 20_000, 8, 2, &[], None, None);
        assert!(bytes.len() < 100);
        match load_rgb_from_bytes(&bytes, &opts()) {
            Err(VisionError::TooLarge {
                width: 20_000,
                height: 20_000,
                pixels,
                max_pixels,
                ..
            }) => {
                assert_eq!(pixels, 400_000_000);
                assert_eq!(max_pixels, DEFAULT_MAX_PIXELS);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        // A small budget applies to small images too; an image within budget decodes.
        let small = png(3, 2, 8, 0, &[vec![1, 2, 3], vec![4, 5, 6]], None, None);
        let tight = ImageOptions {
            max_pixels: 5,
            ..opts()
        };
        assert!(matches!(
            load_rgb_from_bytes(&small, &tight),
            Err(VisionError::TooLarge { pixels: 6, .. })
        ));
        let exact = ImageOptions {
            max_pixels: 6,
            ..opts()
        };
        assert_eq!(
            load_rgb_from_bytes(&small, &exact).unwrap().dimensions(),
            (3, 2)
        );
    }

    #[test]
    fn bad_files_give_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.png");
        let err = load_rgb(&missing, &opts()).unwrap_err();
        assert!(matches!(err, VisionError::NotFound { .. }));
        assert!(err.to_string().contains("missing.png"), "{err}");

        let empty = dir.path().join("empty.jpg");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(
            load_rgb(&empty, &opts()),
            Err(VisionError::Empty { .. })
        ));

        let text = dir.path().join("notes.png");
        std::fs::write(&text, b"this is plain text, not an image\n").unwrap();
        let err = load_rgb(&text, &opts()).unwrap_err();
        assert!(matches!(err, VisionError::Unsupported { .. }), "{err:?}");
        assert!(err.to_string().contains("notes.png"), "{err}");

        let good = png(16, 16, 8, 2, &vec![vec![9u8; 48]; 16], None, None);
        let truncated = dir.path().join("truncated.png");
        std::fs::write(&truncated, &good[..good.len() - 40]).unwrap();
        let err = load_rgb(&truncated, &opts()).unwrap_err();
        assert!(matches!(err, VisionError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("truncated.png"), "{err}");

        let mut garbled = good.clone();
        garbled[8 + 8 + 4] ^= 0xFF; // inside IHDR data: CRC mismatch / bad header
        let corrupt = dir.path().join("corrupt.png");
        std::fs::write(&corrupt, &garbled).unwrap();
        assert!(matches!(
            load_rgb(&corrupt, &opts()),
            Err(VisionError::Corrupt { .. })
        ));

        let jpeg_head = dir.path().join("head.jpg");
        std::fs::write(
            &jpeg_head,
            &include_bytes!("testdata/exif_orient6.jpg")[..200],
        )
        .unwrap();
        assert!(matches!(
            load_rgb(&jpeg_head, &opts()),
            Err(VisionError::Corrupt { .. })
        ));

        let ok = dir.path().join("ok.png");
        std::fs::write(&ok, &good).unwrap();
        assert_eq!(
            load_rgb(&ok, &opts()).unwrap(),
            RgbImage::from_pixel(16, 16, image::Rgb([9; 3]))
        );
    }
}
