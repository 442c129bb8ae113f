//! Test helpers for the vision module: a minimal PNG writer (stored deflate, so any bit depth /
//! colour type / tRNS can be crafted byte by byte), the synthetic pattern shared with the Pillow
//! goldens, SHA-256 and a tiny `.npy` reader.

use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The synthetic test pattern; identical to `pattern()` in the Python that made the goldens
/// (see `testdata/README.md`): noise-like red, a 0/255 checker in green (exercises clipping of the
/// bicubic overshoot), a ramp in blue.
pub fn pattern(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let (x, y) = (u64::from(x), u64::from(y));
        let c0 = (x * 37 + y * 91 + (x * y) % 61) % 256;
        let c1 = if ((x / 3) + (y / 5)) % 2 == 0 { 255 } else { 0 };
        let c2 = (x * 3 + y * 2) % 256;
        image::Rgb([c0 as u8, c1 as u8, c2 as u8])
    })
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// PNG signature + IHDR.
fn png_header(w: u32, h: u32, bit_depth: u8, color_type: u8) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    out
}

/// A complete PNG: `rows` are the packed scanlines without filter bytes (no rows: an IDAT that
/// holds no pixel data, for header-only files).
pub fn png(
    w: u32,
    h: u32,
    bit_depth: u8,
    color_type: u8,
    rows: &[Vec<u8>],
    plte: Option<&[u8]>,
    trns: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = png_header(w, h, bit_depth, color_type);
    if let Some(p) = plte {
        chunk(&mut out, b"PLTE", p);
    }
    if let Some(t) = trns {
        chunk(&mut out, b"tRNS", t);
    }
    let raw: Vec<u8> = rows
        .iter()
        .flat_map(|r| std::iter::once(0).chain(r.iter().copied()))
        .collect();
    // zlib stream of stored deflate blocks (max 65535 bytes each) + Adler-32.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Root of the shared oracle/demo data (`UNIVAL_SHARED`, default `/work/shared`), or `None` (the
/// caller then skips with a message) when it is not present on this machine.
pub fn shared_dir() -> Option<PathBuf> {
    let dir =
        PathBuf::from(std::env::var("UNIVAL_SHARED").unwrap_or_else(|_| "/work/shared".into()));
    if dir.join("oracle").is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: shared data not found at {}", dir.display());
        None
    }
}

/// Reads a C-order little-endian `.npy` file of `f32` (`<f4`): `(shape, values)`.
pub fn read_npy_f32(path: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    let (shape, data) = read_npy_raw(path, "<f4");
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(values.len(), shape.iter().product::<usize>());
    (shape, values)
}

/// Reads a C-order `.npy` file of `u8` (`|u1`, e.g. decord's frames): `(shape, values)`.
#[cfg_attr(not(feature = "video"), allow(dead_code))]
pub fn read_npy_u8(path: &std::path::Path) -> (Vec<usize>, Vec<u8>) {
    let (shape, data) = read_npy_raw(path, "|u1");
    assert_eq!(data.len(), shape.iter().product::<usize>());
    (shape, data)
}

/// The shape and raw data bytes of a C-order `.npy` file whose dtype is `descr`.
pub(crate) fn read_npy_raw(path: &std::path::Path, descr: &str) -> (Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}", path.display());
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(header.contains(&format!("'descr': '{descr}'")), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_src = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_src
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (shape, bytes[start + header_len..].to_vec())
}
