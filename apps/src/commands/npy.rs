//! A minimal `.npy` (NumPy format 1.0) writer for f32 tensors: what `unival preprocess` writes so
//! users can `numpy.load` the model's input next to the original's.

use std::io::Write;
use std::path::Path;

/// The raw data of `values`: little-endian f32, C order (what the `.npy` holds and what the
/// printed sha256 is taken of).
pub fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The `.npy` header for a C-order little-endian f32 array of `shape`: magic, version 1.0, the
/// header length and the dict, space-padded so the data starts at a multiple of 64 bytes (as
/// NumPy writes it).
pub fn f32_header(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // magic (6) + version (2) + length (2) + dict + '\n'
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    // The dict of an f32 tensor of a few dimensions is far below u16::MAX.
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Writes `data` (from [`le_bytes`]) with the header for `shape` to `path`.
pub fn write_f32(path: &Path, shape: &[usize], data: &[u8]) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    file.write_all(&f32_header(shape))?;
    file.write_all(data)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_numpy_format_1_aligned_to_64() {
        for shape in [vec![1usize, 3, 480, 480], vec![7], vec![1, 480000]] {
            let h = f32_header(&shape);
            assert_eq!(h.len() % 64, 0, "{shape:?}");
            assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
            assert_eq!(usize::from(u16::from_le_bytes([h[8], h[9]])), h.len() - 10);
            assert_eq!(h.last(), Some(&b'\n'));
        }
        let text = String::from_utf8_lossy(&f32_header(&[7])).into_owned();
        assert!(text.contains("'shape': (7,)"), "{text}");
        let text = String::from_utf8_lossy(&f32_header(&[1, 3, 2])).into_owned();
        assert!(text.contains("'shape': (1, 3, 2)"), "{text}");
    }
}
