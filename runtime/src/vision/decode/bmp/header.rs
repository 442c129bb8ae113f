//! BMP and DIB headers read the way Pillow 10.0's `BmpImagePlugin._bitmap` reads them, quirks
//! included, into a [`Layout`] that says where the pixels are and how they become RGB.
//!
//! What Pillow does and we therefore do:
//! - header sizes 12 (OS/2 1.x: 16-bit width/height, 3-byte palette entries), 40, 64, 108 and 124
//!   are read; any other size is refused. The planes count and the data size are ignored;
//! - a height whose top byte is `0xFF` means top-down rows (`2^32 − height` of them); any other
//!   height, and every width, is unsigned;
//! - bit fields come from the header when it has room (64/108/124 bytes) and otherwise from the
//!   12 bytes after a 40-byte header; only the layouts of Pillow's table are accepted;
//! - a colour count of 0 means `2^bits`; when the file's pixel offset points right after the
//!   header, Pillow moves it past `4 × colours` bytes of palette (even for 3-byte OS/2 entries);
//! - a palette that is the grey ramp (black/white for two colours) is dropped: the image is
//!   mode `L` (or `1`) and its pixels are grey levels, whatever the depth;
//! - an offset of 0 means "where the header and palette reading stopped".

use super::rows::RawMode;
use super::BmpError;

/// Where the bitmap header starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::vision::decode) enum Container {
    /// A `.bmp` file: 14-byte file header (`BM`, size, pixel offset), then the bitmap header.
    File,
    /// A headerless DIB (Windows clipboard): the bitmap header at byte 0, pixels after it.
    Dib,
}

/// Pillow's image mode, which decides how pixel values become RGB and what an unfilled pixel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `1`: two-colour black/white palette dropped; values 0 or 255.
    Bilevel,
    /// `L`: grey-ramp palette dropped; values are grey levels.
    Grey,
    /// `P`: values index the palette.
    Palette,
    /// `RGB`.
    Rgb,
    /// `RGBA` (alpha-bearing bit fields); `convert("RGB")` drops the alpha.
    Rgba,
}

/// How the pixel data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// Uncompressed rows of `stride` bytes (4-byte aligned), unpacked by `raw`.
    Raw { raw: RawMode, stride: u64 },
    /// Run-length encoded, one byte per pixel (RLE8) or nibbles (RLE4).
    Rle { nibbles: bool },
}

/// 256 RGB entries: the palette for mode `P` (Pillow's grey ramp past the file's entries), the
/// grey ramp for modes `1` and `L`.
pub(super) type Lut = [[u8; 3]; 256];

/// Everything needed to decode the pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::vision::decode) struct Layout {
    pub width: u32,
    pub height: u32,
    /// First stored row is the top one (negative height); otherwise the bottom one.
    pub(super) top_down: bool,
    pub(super) mode: Mode,
    pub(super) encoding: Encoding,
    pub(super) lut: Box<Lut>,
    /// Absolute file position of the first pixel byte (may lie past the end of the file).
    pub(super) data_offset: u64,
}

/// Fields of the bitmap header that the layout depends on.
struct Info {
    header_size: u32,
    width: u32,
    height: u32,
    top_down: bool,
    bits: u16,
    compression: u32,
    colours: u32,
    /// Red, green, blue, alpha masks (bit-field compression only).
    masks: Option<[u32; 4]>,
    /// Bytes per palette entry: 3 for OS/2 1.x, 4 otherwise.
    entry_bytes: usize,
}

/// A forward-only reader with Python `file.read` semantics: short reads at the end.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn read(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = end;
        &self.data[start..end]
    }

    fn read_u32(&mut self, what: &str) -> Result<u32, BmpError> {
        let bytes = self.read(4);
        le32(bytes, 0).ok_or_else(|| BmpError::Corrupt(format!("file ends inside the {what}")))
    }
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// What kind of container `bytes` is, by Pillow's accept rules (`BM`, or a DIB whose first four
/// bytes are a known header size), or `None` for other formats.
pub(in crate::vision::decode) fn container_of(bytes: &[u8]) -> Option<Container> {
    if bytes.starts_with(b"BM") {
        return Some(Container::File);
    }
    match le32(bytes, 0)? {
        12 | 40 | 64 | 108 | 124 => Some(Container::Dib),
        _ => None,
    }
}

/// Reads the headers and palette; allocates nothing proportional to the image.
pub(in crate::vision::decode) fn parse(
    data: &[u8],
    container: Container,
) -> Result<Layout, BmpError> {
    let mut reader = Reader { data, pos: 0 };
    let file_offset = match container {
        Container::File => {
            let head = reader.read(14);
            le32(head, 10)
                .ok_or_else(|| BmpError::Corrupt("file ends inside the file header".into()))?
        }
        Container::Dib => 0,
    };
    let info = read_info(&mut reader)?;
    if info.width == 0 || info.height == 0 {
        return Err(BmpError::Corrupt(format!(
            "image size {}x{} has a zero side",
            info.width, info.height
        )));
    }
    // `1 << bits` for depths that have a palette; larger depths never use the count.
    let colours = match (info.colours, info.bits) {
        (0, bits) if bits <= 32 => 1u64 << bits,
        (0, _) => u64::MAX,
        (n, _) => u64::from(n),
    };
    let mut offset = u64::from(file_offset);
    if container == Container::File && offset == 14 + u64::from(info.header_size) && info.bits <= 8
    {
        offset = offset.saturating_add(colours.saturating_mul(4));
    }
    let (mut mode, mut raw) = depth_mode(info.bits)?;
    let encoding = match info.compression {
        0 => None,
        1 | 2 => Some(info.compression == 2),
        3 => {
            (mode, raw) = bitfields_mode(info.bits, info.masks.unwrap_or_default())?;
            None
        }
        other => {
            return Err(BmpError::Unsupported(format!("BMP compression ({other})")));
        }
    };
    let mut lut = Box::new(grey_ramp());
    if mode == Mode::Palette {
        (mode, raw) = read_palette(&mut reader, &info, colours, &mut lut)?;
    }
    let data_offset = if offset != 0 {
        offset
    } else {
        reader.pos as u64
    };
    let encoding = match encoding {
        Some(nibbles) if matches!(mode, Mode::Grey | Mode::Palette) => Encoding::Rle { nibbles },
        Some(_) => {
            return Err(BmpError::Unsupported(format!(
                "run-length compression of a {}-bit {mode:?} image (Pillow has no unpacker for it)",
                info.bits
            )))
        }
        None => Encoding::Raw {
            raw,
            stride: ((u64::from(info.width) * u64::from(info.bits) + 31) >> 3) & !3,
        },
    };
    Ok(Layout {
        width: info.width,
        height: info.height,
        top_down: info.top_down,
        mode,
        encoding,
        lut,
        data_offset,
    })
}

/// The bitmap header after the file header (Pillow reads its declared size before checking it).
fn read_info(reader: &mut Reader<'_>) -> Result<Info, BmpError> {
    let header_size = reader.read_u32("bitmap header size")?;
    if !matches!(header_size, 12 | 40 | 64 | 108 | 124) {
        return Err(BmpError::Unsupported(format!(
            "BMP header type ({header_size})"
        )));
    }
    let body_len = header_size as usize - 4;
    let body = reader.read(body_len);
    let short = || {
        BmpError::Corrupt(format!(
            "file ends inside the {header_size}-byte bitmap header"
        ))
    };
    if body.len() < body_len {
        return Err(short());
    }
    let field16 = |at| le16(body, at).ok_or_else(short);
    let field32 = |at| le32(body, at).ok_or_else(short);
    if header_size == 12 {
        return Ok(Info {
            header_size,
            width: u32::from(field16(0)?),
            height: u32::from(field16(2)?),
            top_down: false,
            bits: field16(6)?,
            compression: 0,
            colours: 0,
            masks: None,
            entry_bytes: 3,
        });
    }
    let top_down = body[7] == 0xFF;
    let raw_height = field32(4)?;
    let compression = field32(12)?;
    let masks = if compression != 3 {
        None
    } else if body.len() >= 52 {
        Some([field32(36)?, field32(40)?, field32(44)?, field32(48)?])
    } else {
        // 40-byte headers keep three masks after the header; the fourth slot is reserved.
        let mask = |r: &mut Reader<'_>| r.read_u32("bit-field masks");
        Some([mask(reader)?, mask(reader)?, mask(reader)?, 0])
    };
    Ok(Info {
        header_size,
        width: field32(0)?,
        // Top byte 0xFF: 2^32 − h is at most 2^24, so it fits.
        height: if top_down {
            raw_height.wrapping_neg()
        } else {
            raw_height
        },
        top_down,
        bits: field16(10)?,
        compression,
        colours: field32(28)?,
        masks,
        entry_bytes: 4,
    })
}

/// Pillow's `BIT2MODE`: the mode and unpacker for each supported depth.
fn depth_mode(bits: u16) -> Result<(Mode, RawMode), BmpError> {
    Ok(match bits {
        1 => (Mode::Palette, RawMode::P1),
        4 => (Mode::Palette, RawMode::P4),
        8 => (Mode::Palette, RawMode::P),
        16 => (Mode::Rgb, RawMode::Bgr15),
        24 => (Mode::Rgb, RawMode::Bgr),
        32 => (Mode::Rgb, RawMode::Bgrx),
        other => return Err(BmpError::Unsupported(format!("BMP pixel depth ({other})"))),
    })
}

/// Pillow's table of accepted bit-field layouts (`SUPPORTED` / `MASK_MODES`); 16- and 24-bit
/// files are matched on their red, green and blue masks only.
fn bitfields_mode(bits: u16, [r, g, b, a]: [u32; 4]) -> Result<(Mode, RawMode), BmpError> {
    let raw = match (bits, r, g, b, a) {
        (32, 0xFF_0000, 0xFF00, 0xFF, 0) => RawMode::Bgrx,
        (32, 0xFF00_0000, 0xFF_0000, 0xFF00, 0) => RawMode::Xbgr,
        (32, 0xFF00_0000, 0xFF_0000, 0xFF00, 0xFF) => RawMode::Abgr,
        (32, 0xFF, 0xFF00, 0xFF_0000, 0xFF00_0000) => RawMode::Rgba,
        (32, 0xFF_0000, 0xFF00, 0xFF, 0xFF00_0000) | (32, 0, 0, 0, 0) => RawMode::Bgra,
        (24, 0xFF_0000, 0xFF00, 0xFF, _) => RawMode::Bgr,
        (16, 0xF800, 0x7E0, 0x1F, _) => RawMode::Bgr16,
        (16, 0x7C00, 0x3E0, 0x1F, _) => RawMode::Bgr15,
        _ => {
            return Err(BmpError::Unsupported(format!(
                "BMP bitfields layout ({bits}-bit, masks {r:#x} {g:#x} {b:#x} {a:#x})"
            )))
        }
    };
    let mode = match raw {
        RawMode::Abgr | RawMode::Rgba | RawMode::Bgra => Mode::Rgba,
        _ => Mode::Rgb,
    };
    Ok((mode, raw))
}

/// Reads the palette; a grey ramp turns the image into mode `1`/`L`, otherwise the entries
/// overwrite the start of `lut` (Pillow's `putpalette`, which refuses more than 256).
fn read_palette(
    reader: &mut Reader<'_>,
    info: &Info,
    colours: u64,
    lut: &mut Lut,
) -> Result<(Mode, RawMode), BmpError> {
    if !(1..=65536).contains(&colours) {
        return Err(BmpError::Unsupported(format!(
            "BMP palette size ({colours})"
        )));
    }
    let step = info.entry_bytes;
    let count = colours as usize; // at most 65536
    let palette = reader.read(step * count);
    let entry = |i: usize| palette.get(i * step..i * step + 3);
    let is_grey = |(i, level): (usize, usize)| entry(i) == Some(&[level as u8; 3][..]);
    let grey = if count == 2 {
        [(0, 0), (1, 255)].into_iter().all(is_grey)
    } else {
        (0..count).map(|i| (i, i & 0xFF)).all(is_grey)
    };
    if grey && count == 2 {
        return Ok((Mode::Bilevel, RawMode::Bits1));
    }
    if grey {
        return Ok((Mode::Grey, RawMode::L));
    }
    let entries = palette.len() / step;
    if entries > 256 {
        return Err(BmpError::Corrupt(format!(
            "invalid palette size ({entries} entries, Pillow keeps at most 256)"
        )));
    }
    for (slot, bgr) in lut.iter_mut().zip(palette.chunks_exact(step)) {
        *slot = [bgr[2], bgr[1], bgr[0]];
    }
    let raw = depth_mode(info.bits)?.1;
    Ok((Mode::Palette, raw))
}

/// Pillow's initial palette, and the RGB of grey levels: entry i is (i, i, i).
fn grey_ramp() -> Lut {
    std::array::from_fn(|i| [i as u8; 3])
}
