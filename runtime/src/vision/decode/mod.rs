//! Decoding image files to 8-bit RGB exactly as the original's `PIL.Image.open(f).convert("RGB")`
//! under Pillow 10.0 with the original's settings (`ImageFile.LOAD_TRUNCATED_IMAGES = True`)
//! (docs/model.md §5 intro).
//!
//! Format is detected from the content (like Pillow), never from the file extension:
//! - JPEG and MPO (first frame): libjpeg-turbo with Pillow's header walk and settings
//!   (`jpeg`, `jpeg_header`); bit-exact, truncated or damaged data decoded as far as it goes;
//! - GIF (first frame): the `gif` crate's indices with Pillow's palette rules (`gif`);
//! - BMP and headerless DIB: our own reader following Pillow's `BmpImagePlugin` (`bmp`);
//! - PNG, WebP: the `image` crate, converted by the table below.
//!
//! | decoded as                        | Pillow mode       | RGB value                        |
//! |-----------------------------------|-------------------|----------------------------------|
//! | grey 1/2/4/8-bit                  | `1` / `L`         | grey scaled to 8 bit, replicated |
//! | grey + alpha, grey + tRNS         | `LA` / `L`        | grey replicated, alpha dropped   |
//! | palette (+ tRNS)                  | `P`               | palette colour, alpha dropped    |
//! | RGBA, RGB + tRNS                  | `RGBA` / `RGB`    | alpha dropped, **not** composited|
//! | 16-bit grey                       | `I;16`            | `min(v, 255)` replicated (clips!)|
//! | 16-bit grey + tRNS                | `I`               | `min(v, 255)` replicated (clips!)|
//! | 16-bit grey + alpha               | `RGBA` (`LA;16B`) | high byte `v >> 8`, replicated   |
//! | 16-bit RGB / RGBA                 | `RGB` / `RGBA`    | high byte `v >> 8` (truncation)  |
//!
//! The 16-bit grey rows are Pillow's real behaviour: `I;16 → RGB` clips instead of rescaling, so a
//! typical 16-bit grey PNG turns mostly white. We reproduce it because the model saw that.
//!
//! Checked file by file against Pillow 10.0 on Pillow's `Tests/images` and PngSuite
//! (tests/tests/image_suites.rs, which lists the remaining differences: PNGs
//! that are truncated or have a bad CRC). APNG frame-sequence checks Pillow makes and the `png`
//! crate does not are in `apng`.
//!
//! One deliberate difference: images above [`ImageOptions::max_pixels`] (default
//! [`DEFAULT_MAX_PIXELS`]) are refused before any allocation, where the original has no limit.
//!
//! EXIF orientation is ignored by default (the original never calls `exif_transpose`);
//! [`ImageOptions::exif_rotate`] applies tags 1–8 like `PIL.ImageOps.exif_transpose`.

use super::error::VisionError;

mod apng;
mod bmp;
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
/// corrupt, or above [`ImageOptions::max_pixels`]. The file is read whole (JPEG needs it in
/// memory).
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

/// Dispatches on the content: GIF, BMP/DIB and JPEG/MPO to our readers, everything else to the
/// `image` crate.
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
    if let Some(container) = bmp::container_of(bytes) {
        let refused = |e: bmp::BmpError| e.into_vision(file, container);
        let layout = bmp::parse(bytes, container).map_err(refused)?;
        check_budget(file, layout.width, layout.height, opts)?;
        return bmp::decode(bytes, &layout)
            .map_err(refused)?
            .into_rgb(file, None);
    }
    if bytes.starts_with(PNG_SIGNATURE) {
        apng::check_frame_sequence(bytes).map_err(|detail| VisionError::Corrupt {
            file: file.to_path_buf(),
            detail: format!("PNG: {detail}"),
        })?;
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
    // Signature, IHDR length and tag, width, height, bit depth, then the colour type at 25.
    bytes.starts_with(PNG_SIGNATURE)
        && bytes.get(12..16) == Some(b"IHDR")
        && bytes.get(25) == Some(&0)
}

/// The eight bytes every PNG starts with.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

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
mod tests;
