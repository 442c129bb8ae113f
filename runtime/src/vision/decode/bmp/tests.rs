//! Unit tests of the BMP reader on small hand-built files, one per tricky path.
//!
//! Every expected value here was also checked against Pillow 10.0.0 itself
//! (`Image.open(path).convert("RGB")` with `LOAD_TRUNCATED_IMAGES = True`) by the dev-only
//! `scripts/dev/bmp_quirks_check.py`, which builds the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::vision::{load_rgb_from_bytes, ImageOptions, VisionError};

/// Palette used by the paletted cases: not a grey ramp, so Pillow keeps mode `P`.
const PALETTE: [[u8; 3]; 4] = [[10, 20, 30], [200, 0, 0], [0, 200, 0], [0, 0, 200]];

/// A `.bmp` with a 40-byte header; `extra` sits between the header and the palette (bit-field
/// masks), the pixel offset points right after the palette.
struct Bmp {
    width: i32,
    height: i32,
    bits: u16,
    compression: u32,
    colours: u32,
    extra: Vec<u8>,
    palette: Vec<[u8; 3]>,
    pixels: Vec<u8>,
}

impl Bmp {
    fn paletted(width: i32, height: i32, bits: u16, compression: u32, pixels: &[u8]) -> Self {
        Self {
            width,
            height,
            bits,
            compression,
            colours: PALETTE.len() as u32,
            extra: Vec::new(),
            palette: PALETTE.to_vec(),
            pixels: pixels.to_vec(),
        }
    }

    fn direct(width: i32, height: i32, bits: u16, compression: u32, pixels: &[u8]) -> Self {
        Self {
            colours: 0,
            palette: Vec::new(),
            ..Self::paletted(width, height, bits, compression, pixels)
        }
    }

    /// The 40-byte bitmap header, extras and palette (a DIB without pixels).
    fn info(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(40u32.to_le_bytes());
        out.extend(self.width.to_le_bytes());
        out.extend(self.height.to_le_bytes());
        out.extend(1u16.to_le_bytes());
        out.extend(self.bits.to_le_bytes());
        out.extend(self.compression.to_le_bytes());
        out.extend([0; 12]); // data size, pixels per metre
        out.extend(self.colours.to_le_bytes());
        out.extend([0; 4]); // important colours
        out.extend(&self.extra);
        for [r, g, b] in &self.palette {
            out.extend([*b, *g, *r, 0]);
        }
        out
    }

    fn bytes(&self) -> Vec<u8> {
        let info = self.info();
        let offset = 14 + info.len() as u32;
        let mut out = b"BM".to_vec();
        out.extend((offset + self.pixels.len() as u32).to_le_bytes());
        out.extend([0; 4]);
        out.extend(offset.to_le_bytes());
        out.extend(info);
        out.extend(&self.pixels);
        out
    }
}

fn decode(bytes: &[u8]) -> Result<Vec<[u8; 3]>, VisionError> {
    let img = load_rgb_from_bytes(bytes, &ImageOptions::default())?;
    Ok(img.pixels().map(|p| p.0).collect())
}

/// Palette colours of `indices` (Pillow's grey ramp past the palette's end).
fn colours(indices: &[u8]) -> Vec<[u8; 3]> {
    let entry = |i: u8| PALETTE.get(usize::from(i)).copied().unwrap_or([i; 3]);
    indices.iter().map(|&i| entry(i)).collect()
}

#[test]
fn rle8_delta_uses_the_two_bytes_after_the_ones_pillow_skips() {
    let stream = [
        2, 1, // two pixels of 1
        0, 2, 9, 9, 1, 0, // delta: Pillow skips 9 9 and moves right by 1, up by 0
        1, 3, // one pixel of 3: bottom row full
        0, 0, // end of line at a row boundary adds nothing
        3, 2, 1, 1, // three 2s and a 1
        0, 1, // end of bitmap
    ];
    let got = decode(&Bmp::paletted(4, 2, 8, 1, &stream).bytes()).unwrap();
    // Bottom-up: the first stored row is the bottom one.
    assert_eq!(got, colours(&[2, 2, 2, 1, 1, 1, 0, 3]));
}

#[test]
fn rle8_runs_clip_at_the_row_end_and_literals_spill_over() {
    let stream = [
        6, 1, // six 1s in a 4-wide row: clipped to four
        0, 5, 2, 2, 2, 2, 3, 0, // literal of five: the 3 spills into the third row; pad byte
        0, 0, // end of line: pads the third row
        0, 1,
    ];
    // Stored rows 1111, 2222, 3000; bottom-up, so the first one is the bottom row.
    let got = decode(&Bmp::paletted(4, 3, 8, 1, &stream).bytes()).unwrap();
    assert_eq!(got, colours(&[3, 0, 0, 0, 2, 2, 2, 2, 1, 1, 1, 1]));
    // A fourth row never gets data: refused like Pillow's "not enough image data".
    let short = Bmp::paletted(4, 4, 8, 1, &stream).bytes();
    assert!(matches!(decode(&short), Err(VisionError::Corrupt { .. })));
}

#[test]
fn rle4_odd_literal_loses_its_last_pixel_and_eol_pads() {
    let stream = [
        0, 3, 0x12,
        0x30, // literal of three nibbles: Pillow reads one byte (1, 2), skips the pad
        2, 0x31, // run of two, clipped to the one pixel left by x = 3
        0, 0, // end of line: the row holds 3 values, one zero added
        0, 1,
    ];
    let got = decode(&Bmp::paletted(4, 1, 4, 2, &stream).bytes()).unwrap();
    assert_eq!(got, colours(&[1, 2, 3, 0]));
}

#[test]
fn rle_delta_cut_short_and_rle_of_direct_colour_are_refused() {
    let cut = Bmp::paletted(4, 1, 8, 1, &[0, 2, 1, 0, 5]);
    assert!(matches!(
        decode(&cut.bytes()),
        Err(VisionError::Corrupt { .. })
    ));
    let rgb = Bmp::direct(4, 1, 24, 1, &[4, 0, 0, 1]);
    assert!(matches!(
        decode(&rgb.bytes()),
        Err(VisionError::Unsupported { .. })
    ));
}

#[test]
fn sixteen_bit_pixels_scale_five_and_six_bit_channels_like_pillow() {
    let words: [u16; 4] = [0x7FFF, 0x0001, 0x0421, 0x7C00];
    let pixels: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let got = decode(&Bmp::direct(4, 1, 16, 0, &pixels).bytes()).unwrap();
    assert_eq!(got, [[255, 255, 255], [0, 0, 8], [8, 8, 8], [255, 0, 0]]);
    // 5-6-5 through bit fields: 0x0020 is the lowest green step, 255 / 63 = 4.
    let masks = [0xF800u32, 0x07E0, 0x001F];
    let words: [u16; 2] = [0x0020, 0xFFFF];
    let pixels: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let bmp = Bmp {
        extra: masks.iter().flat_map(|m| m.to_le_bytes()).collect(),
        ..Bmp::direct(2, 1, 16, 3, &pixels)
    };
    let got = decode(&bmp.bytes()).unwrap();
    assert_eq!(got, [[0, 4, 0], [255, 255, 255]]);
}

#[test]
fn bitfields_outside_pillows_table_are_refused() {
    let masks = [0xFFu32, 0xFF00, 0xFF_0000];
    let bmp = Bmp {
        extra: masks.iter().flat_map(|m| m.to_le_bytes()).collect(),
        ..Bmp::direct(1, 1, 32, 3, &[1, 2, 3, 4])
    };
    assert!(matches!(
        decode(&bmp.bytes()),
        Err(VisionError::Unsupported { .. })
    ));
}

#[test]
fn truncated_rows_are_left_as_palette_entry_zero() {
    // 2x3, 8-bit, stride 4; only the bottom row is present.
    let got = decode(&Bmp::paletted(2, 3, 8, 0, &[1, 2, 0, 0]).bytes()).unwrap();
    assert_eq!(got, colours(&[0, 0, 0, 0, 1, 2]));
}

#[test]
fn grey_palette_is_dropped_and_indices_past_the_palette_are_grey() {
    let grey = Bmp {
        palette: vec![[0; 3], [1; 3], [2; 3]],
        colours: 3,
        ..Bmp::paletted(3, 1, 8, 0, &[2, 1, 200, 0])
    };
    assert_eq!(decode(&grey.bytes()).unwrap(), [[2; 3], [1; 3], [200; 3]]);
    let short = Bmp::paletted(2, 1, 8, 0, &[3, 7, 0, 0]);
    assert_eq!(decode(&short.bytes()).unwrap(), colours(&[3, 7]));
}

#[test]
fn top_down_headerless_dib_with_bitfields() {
    let masks = [0xFF_0000u32, 0xFF00, 0xFF];
    let bmp = Bmp {
        extra: masks.iter().flat_map(|m| m.to_le_bytes()).collect(),
        ..Bmp::direct(1, -2, 32, 3, &[])
    };
    let dib = [bmp.info(), vec![3, 2, 1, 0, 6, 5, 4, 0]].concat();
    assert_eq!(decode(&dib).unwrap(), [[1, 2, 3], [4, 5, 6]]);
}

#[test]
fn offset_right_after_the_header_skips_four_bytes_per_colour() {
    let mut bytes = Bmp::paletted(1, 1, 8, 0, &[2, 0, 0, 0]).bytes();
    bytes[10..14].copy_from_slice(&54u32.to_le_bytes());
    assert_eq!(decode(&bytes).unwrap(), colours(&[2]));
}

#[test]
fn bad_headers_are_refused_naming_the_reason() {
    let refused = |bytes: Vec<u8>, needle: &str| {
        let err = decode(&bytes).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    };
    let mut bad_size = Bmp::paletted(1, 1, 8, 0, &[0; 4]).bytes();
    bad_size[14] = 41;
    refused(bad_size, "header type (41)");
    refused(
        Bmp::paletted(1, 1, 2, 0, &[0; 4]).bytes(),
        "pixel depth (2)",
    );
    refused(Bmp::direct(1, 1, 24, 4, &[0; 4]).bytes(), "compression (4)");
    refused(Bmp::paletted(0, 1, 8, 0, &[0; 4]).bytes(), "zero side");
    let big_palette = Bmp {
        palette: vec![[1, 2, 3]; 300],
        colours: 300,
        ..Bmp::paletted(1, 1, 8, 0, &[0; 4])
    };
    refused(big_palette.bytes(), "palette size");
    refused(b"BM\0\0\0\0".to_vec(), "file header");
    refused(
        Bmp::direct(1, 1, 24, 0, &[]).bytes()[..30].to_vec(),
        "bitmap header",
    );
}

#[test]
fn oversized_header_is_refused_before_allocating() {
    let bytes = Bmp::direct(100_000, 100_000, 24, 0, &[]).bytes();
    assert!(matches!(decode(&bytes), Err(VisionError::TooLarge { .. })));
    let rle = Bmp::paletted(100_000, -100_000, 8, 1, &[]).bytes();
    assert!(matches!(decode(&rle), Err(VisionError::TooLarge { .. })));
}

#[test]
fn grey_palette_of_a_low_depth_reads_bytes_like_pillow() {
    // 16-entry grey ramp at 4 bits: Pillow's mode `L` reads a byte per pixel. The file holds
    // every 4-byte row, so Pillow maps it and the 8-byte rows overlap (zeros past the end)...
    let nibbles = [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0];
    let ramp = Bmp {
        palette: (0..16).map(|i| [i; 3]).collect(),
        colours: 16,
        ..Bmp::paletted(8, 2, 4, 0, &nibbles)
    };
    let top = [0x9A, 0xBC, 0xDE, 0xF0, 0, 0, 0, 0];
    let expected: Vec<[u8; 3]> = top.iter().chain(&nibbles).map(|&v| [v; 3]).collect();
    assert_eq!(decode(&ramp.bytes()).unwrap(), expected);
    // ...one byte short, its raw decoder refuses the row layout and the image stays black.
    let short = Bmp {
        pixels: nibbles[..7].to_vec(),
        ..ramp
    };
    assert_eq!(decode(&short.bytes()).unwrap(), vec![[0; 3]; 16]);
    // A black/white palette at 8 bits is mode `1`: each row's first bytes are read as bits.
    let bilevel = Bmp {
        palette: vec![[0; 3], [255; 3]],
        colours: 2,
        ..Bmp::paletted(4, 1, 8, 0, &[0b1010_0000, 9, 9, 9])
    };
    let expected = [[255; 3], [0; 3], [255; 3], [0; 3]];
    assert_eq!(decode(&bilevel.bytes()).unwrap(), expected);
}
