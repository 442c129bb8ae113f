//! BMP and headerless DIB images as Pillow 10.0's `BmpImagePlugin` reads them, then
//! `convert("RGB")`: OS/2 1.x and 2.x, Windows 3.x–5 headers, bottom-up and top-down rows,
//! 1/4/8-bit palettes, 16/24/32-bit pixels with Pillow's table of bit fields, RLE8 and RLE4.
//!
//! Pillow's own quirks are reproduced on purpose, since the original model saw its pixels:
//! [`header`] lists those of the header and palette, [`rows`] those of uncompressed rows and
//! truncated files, [`rle`] those of run-length data. What Pillow refuses (2-bit pixels, JPEG/PNG
//! compression, bit fields outside its table, more than 256 palette entries, run-length data
//! that ends early) we refuse too.
//!
//! Header fields are untrusted: nothing proportional to the image is allocated before the caller
//! has checked the size against its pixel budget, and allocations are fallible.

mod header;
mod rle;
mod rows;

pub(super) use header::{container_of, parse, Container, Layout};

use super::Decoded;
use crate::vision::VisionError;
use header::{Encoding, Mode};
use std::path::Path;

/// Why a BMP/DIB file is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BmpError {
    /// A feature Pillow 10.0 does not read (header type, depth, compression, bit fields).
    Unsupported(String),
    /// Damaged or truncated in a way Pillow refuses too.
    Corrupt(String),
}

impl BmpError {
    /// The error for `file`, the detail prefixed with the container's name.
    pub(super) fn into_vision(self, file: &Path, container: Container) -> VisionError {
        let name = match container {
            Container::File => "BMP",
            Container::Dib => "DIB",
        };
        let file = file.to_path_buf();
        match self {
            Self::Unsupported(detail) => VisionError::Unsupported {
                file,
                detail: format!("{name}: {detail}"),
            },
            Self::Corrupt(detail) => VisionError::Corrupt {
                file,
                detail: format!("{name}: {detail}"),
            },
        }
    }
}

/// Decodes the pixels described by `layout` (call after checking its size against the budget).
pub(super) fn decode(data: &[u8], layout: &Layout) -> Result<Decoded, BmpError> {
    let mut canvas = rows::blank_canvas(layout)?;
    let warning = match layout.encoding {
        Encoding::Raw { raw, stride } => rows::decode_raw(data, layout, raw, stride, &mut canvas)?,
        Encoding::Rle { nibbles } => {
            let values = rle::expand(data, layout, nibbles)?;
            let raw = if layout.mode == Mode::Grey {
                rows::RawMode::L
            } else {
                rows::RawMode::P
            };
            let width = layout.width as usize;
            for (stored, src) in values.chunks_exact(width).enumerate() {
                let row = rows::canvas_row(layout, stored as u64) as usize;
                raw.unpack(
                    src,
                    &layout.lut,
                    &mut canvas[row * width * 3..(row + 1) * width * 3],
                );
            }
            None
        }
    };
    Ok(Decoded {
        width: layout.width,
        height: layout.height,
        rgb: canvas,
        warning,
    })
}

#[cfg(test)]
mod tests;
