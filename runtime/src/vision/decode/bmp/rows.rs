//! Uncompressed BMP rows as Pillow 10.0 reads them: its raw decoder with the C unpackers
//! (`Unpack.c`), or, for the layouts Pillow memory-maps, the rows straight from the file.
//!
//! - Rows are `stride` bytes apart; each is unpacked from its first `(width × bits + 7) / 8`
//!   bytes, where `bits` is the unpacker's, not the file's (they differ when a grey palette made
//!   the image `1`/`L`).
//! - Pillow memory-maps the file when the unpacker is the identity for the mode (`L`, `P`,
//!   `RGBA`) and the file holds every row; rows may then overlap (a stride shorter than the row).
//! - Otherwise the raw decoder runs: a row longer than the stride is a configuration error that
//!   leaves the image blank, and data ending early leaves the remaining rows blank
//!   (`LOAD_TRUNCATED_IMAGES`). Blank is value 0: palette entry 0, or black.
//! - 5-bit and 6-bit channels scale as `v × 255 / 31` and `v × 255 / 63`, truncating.

use super::header::{Layout, Lut, Mode};
use super::BmpError;

/// Pillow's unpacker ("raw mode") for a row of pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RawMode {
    /// `1`: bits, most significant first, as 0 or 255.
    Bits1,
    /// `L`: one grey byte per pixel.
    L,
    /// `P;1`: palette index bits.
    P1,
    /// `P;4`: palette index nibbles, high first.
    P4,
    /// `P`: one palette index byte per pixel.
    P,
    /// `BGR;15`: little-endian 16-bit `x5 r5 g5 b5`.
    Bgr15,
    /// `BGR;16`: little-endian 16-bit `r5 g6 b5`.
    Bgr16,
    /// `BGR`: bytes B, G, R.
    Bgr,
    /// `BGRX`: bytes B, G, R, unused.
    Bgrx,
    /// `XBGR`: bytes unused, B, G, R.
    Xbgr,
    /// `ABGR`: bytes A, B, G, R.
    Abgr,
    /// `RGBA`: bytes R, G, B, A.
    Rgba,
    /// `BGRA`: bytes B, G, R, A.
    Bgra,
}

impl RawMode {
    /// Bits per pixel the unpacker consumes.
    pub(super) fn bits(self) -> u64 {
        match self {
            Self::Bits1 | Self::P1 => 1,
            Self::P4 => 4,
            Self::L | Self::P => 8,
            Self::Bgr15 | Self::Bgr16 => 16,
            Self::Bgr => 24,
            Self::Bgrx | Self::Xbgr | Self::Abgr | Self::Rgba | Self::Bgra => 32,
        }
    }

    /// Whether Pillow memory-maps this unpacker for `mode` (raw mode equal to the mode and in
    /// `Image._MAPMODES`).
    fn is_mapped(self, mode: Mode) -> bool {
        matches!(
            (self, mode),
            (Self::L, Mode::Grey) | (Self::P, Mode::Palette) | (Self::Rgba, Mode::Rgba)
        )
    }

    /// Unpacks one row of `src` (at least the row's bytes) into RGB `out`, single-channel
    /// values through `lut`.
    pub(super) fn unpack(self, src: &[u8], lut: &Lut, out: &mut [u8]) {
        let pixels = out.chunks_exact_mut(3).enumerate();
        let bit = |x: usize| (src[x / 8] >> (7 - x % 8)) & 1;
        let word = |x: usize| u16::from_le_bytes([src[2 * x], src[2 * x + 1]]);
        let five = |v: u16| ((v & 31) * 255 / 31) as u8;
        for (x, px) in pixels {
            let rgb = match self {
                Self::Bits1 => lut[usize::from(bit(x)) * 255],
                Self::P1 => lut[usize::from(bit(x))],
                Self::P4 => lut[usize::from((src[x / 2] >> (4 - 4 * (x % 2))) & 15)],
                Self::L | Self::P => lut[usize::from(src[x])],
                Self::Bgr15 => {
                    let v = word(x);
                    [five(v >> 10), five(v >> 5), five(v)]
                }
                Self::Bgr16 => {
                    let v = word(x);
                    [five(v >> 11), (((v >> 5) & 63) * 255 / 63) as u8, five(v)]
                }
                Self::Bgr => [src[3 * x + 2], src[3 * x + 1], src[3 * x]],
                Self::Bgrx | Self::Bgra => [src[4 * x + 2], src[4 * x + 1], src[4 * x]],
                Self::Xbgr | Self::Abgr => [src[4 * x + 3], src[4 * x + 2], src[4 * x + 1]],
                Self::Rgba => [src[4 * x], src[4 * x + 1], src[4 * x + 2]],
            };
            px.copy_from_slice(&rgb);
        }
    }
}

/// An RGB canvas filled with the mode's blank pixel (value 0), allocated fallibly.
pub(super) fn blank_canvas(layout: &Layout) -> Result<Vec<u8>, BmpError> {
    let bytes = u64::from(layout.width) * u64::from(layout.height) * 3;
    let blank = match layout.mode {
        Mode::Bilevel | Mode::Grey | Mode::Palette => layout.lut[0],
        Mode::Rgb | Mode::Rgba => [0; 3],
    };
    let len = usize::try_from(bytes)
        .map_err(|_| BmpError::Corrupt(format!("{bytes} bytes of pixels do not fit in memory")))?;
    let mut canvas = Vec::new();
    canvas
        .try_reserve_exact(len)
        .map_err(|_| BmpError::Corrupt(format!("cannot allocate {bytes} bytes of pixels")))?;
    for _ in 0..len / 3 {
        canvas.extend_from_slice(&blank);
    }
    Ok(canvas)
}

/// The canvas row that the `stored`-th row of the file lands on.
pub(super) fn canvas_row(layout: &Layout, stored: u64) -> u64 {
    if layout.top_down {
        stored
    } else {
        u64::from(layout.height) - 1 - stored
    }
}

/// Decodes uncompressed rows into `canvas`; returns a warning when rows were left blank.
pub(super) fn decode_raw(
    data: &[u8],
    layout: &Layout,
    raw: RawMode,
    stride: u64,
    canvas: &mut [u8],
) -> Result<Option<String>, BmpError> {
    let width = u64::from(layout.width);
    let height = u64::from(layout.height);
    let row_bytes = (width * raw.bits()).div_ceil(8);
    let file_len = data.len() as u64;
    let start = layout.data_offset;
    let mapped = raw.is_mapped(layout.mode)
        && start.saturating_add(height.saturating_mul(stride)) <= file_len;
    if !mapped && width > (i32::MAX as u64 / raw.bits()).saturating_sub(7) {
        return Err(BmpError::Corrupt(format!(
            "width {width} is too large for Pillow's {}-bit row decoder",
            raw.bits()
        )));
    }
    if !mapped && row_bytes > stride {
        return Ok(Some(format!(
            "rows of {row_bytes} bytes do not fit the {stride}-byte stride; Pillow's raw decoder \
             stops at once and leaves the image blank"
        )));
    }
    let out_row = (width * 3) as usize;
    let mut padded: Vec<u8>;
    for stored in 0..height {
        let at = start.saturating_add(stored * stride);
        let src = match row_slice(data, at, row_bytes) {
            Some(src) => src,
            None if mapped => {
                // Overlapping mapped rows may run past the end of the file: the page's zero fill.
                padded = zero_padded(data, at, row_bytes);
                &padded[..]
            }
            None => {
                return Ok(Some(format!(
                    "pixel data ends after {stored} of {height} rows; the rest is left blank"
                )))
            }
        };
        let row = canvas_row(layout, stored) as usize;
        raw.unpack(
            src,
            &layout.lut,
            &mut canvas[row * out_row..(row + 1) * out_row],
        );
    }
    Ok(None)
}

/// `len` bytes of `data` at `at`, or `None` when they are not all in the file.
fn row_slice(data: &[u8], at: u64, len: u64) -> Option<&[u8]> {
    let at = usize::try_from(at).ok()?;
    let end = at.checked_add(usize::try_from(len).ok()?)?;
    data.get(at..end)
}

/// `len` bytes from `at`, zeros past the end of `data`.
fn zero_padded(data: &[u8], at: u64, len: u64) -> Vec<u8> {
    (at..at.saturating_add(len))
        .map(|i| {
            usize::try_from(i)
                .ok()
                .and_then(|i| data.get(i).copied())
                .unwrap_or(0)
        })
        .collect()
}
