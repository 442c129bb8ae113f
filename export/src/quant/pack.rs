//! The arithmetic of weight quantisation: symmetric per-output-channel scales, rounding, and
//! the byte layouts ONNX Runtime's kernels read.
//!
//! Two layouts:
//! - [`BlockQuantized`]: ONNX Runtime's `com.microsoft.MatMulNBits` weight `B` `[N, k_blocks,
//!   blob]` (`blob = block_size · bits / 8`), codes packed low-first along K (for 4 bits, byte
//!   `j` of a block holds element `2j` in its low nibble and `2j + 1` in its high nibble), with
//!   one scale per output channel and K-block (`scales [N, k_blocks]`). Codes are stored
//!   unsigned with the kernel's default zero point `2^(bits-1)` (8 or 128), so the weight is
//!   `(code − 2^(bits-1)) · scale`: symmetric. Blocks refine per-channel scaling (one scale per
//!   channel per `block_size` inputs); see
//!   <https://github.com/microsoft/onnxruntime/blob/main/docs/ContribOperators.md#com.microsoft.MatMulNBits>.
//! - [`ChannelQuantized`]: an int8 `[K, N]` matrix with one scale per output column, for the
//!   standard `MatMulInteger` (weight zero point 0).
//!
//! Scales are `max |w| / q_max` with `q_max = 2^(bits-1) − 1` (7 or 127), codes
//! `round(w / scale)` (ties away from zero), so every dequantised weight is within half a step
//! (`scale / 2`) of the original.

use super::QuantError;

/// Bit widths [`quantize_blockwise`] accepts (the widths `MatMulNBits` runs on CPU).
pub const SUPPORTED_BITS: [u8; 2] = [4, 8];

/// A `[N, K]` weight (row = output channel) quantised block-wise along K.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockQuantized {
    /// Output channels (rows).
    pub n: usize,
    /// Inputs per channel (the reduction axis).
    pub k: usize,
    pub bits: u8,
    pub block_size: usize,
    /// `[n, k_blocks, blob]` packed unsigned codes; the tail of the last block is zero weight.
    pub codes: Vec<u8>,
    /// `[n, k_blocks]` scales.
    pub scales: Vec<f32>,
}

impl BlockQuantized {
    /// Blocks per row: `ceil(k / block_size)`.
    pub fn k_blocks(&self) -> usize {
        self.k.div_ceil(self.block_size)
    }

    /// Bytes per block: `block_size · bits / 8`.
    pub fn blob(&self) -> usize {
        self.block_size * usize::from(self.bits) / 8
    }

    /// The unsigned code of element `(row, col)`.
    pub fn code(&self, row: usize, col: usize) -> u8 {
        let (kb, blob) = (self.k_blocks(), self.blob());
        let (b, i) = (col / self.block_size, col % self.block_size);
        let base = (row * kb + b) * blob;
        match self.bits {
            4 => {
                let byte = self.codes[base + i / 2];
                if i % 2 == 0 {
                    byte & 0x0f
                } else {
                    byte >> 4
                }
            }
            _ => self.codes[base + i],
        }
    }

    /// The zero point the codes are stored around (`2^(bits-1)`).
    pub fn zero_point(&self) -> i32 {
        1 << (self.bits - 1)
    }

    /// The dequantised `[n, k]` weight, row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        let kb = self.k_blocks();
        let zp = self.zero_point();
        let mut out = Vec::with_capacity(self.n * self.k);
        for r in 0..self.n {
            for c in 0..self.k {
                let s = self.scales[r * kb + c / self.block_size];
                out.push((i32::from(self.code(r, c)) - zp) as f32 * s);
            }
        }
        out
    }
}

/// The block size of an 8-bit lookup table: the largest of 128, 64, 32, 16 dividing `k` (so
/// rows reshape back to `k` without padding); `None` keeps the float lookup.
pub fn lookup_block(k: usize) -> Option<usize> {
    [128, 64, 32, 16].into_iter().find(|b| k.is_multiple_of(*b))
}

/// `block_size` shrunk to the largest power of two ≤ `k` (at least 16), so a narrow weight is
/// not padded to a block wider than its rows.
pub fn effective_block(block_size: usize, k: usize) -> usize {
    let floor_pow2 = if k == 0 { 1 } else { 1 << k.ilog2() };
    block_size.min(floor_pow2).max(16)
}

/// Quantises the row-major `[n, k]` weight `w` to `bits` (4 or 8) with one symmetric scale per
/// row and block of `block_size` (a power of two ≥ 16) consecutive inputs.
///
/// Fails with [`QuantError::Unsupported`] for other widths or block sizes, with
/// [`QuantError::Shape`] when `w.len() != n · k`, and with [`QuantError::NonFinite`] when a
/// weight is NaN or infinite (`what` names the tensor in the error).
pub fn quantize_blockwise(
    what: &str,
    w: &[f32],
    n: usize,
    k: usize,
    bits: u8,
    block_size: usize,
) -> Result<BlockQuantized, QuantError> {
    if !SUPPORTED_BITS.contains(&bits) {
        return Err(QuantError::Unsupported(format!(
            "{bits}-bit weights (MatMulNBits takes {SUPPORTED_BITS:?})"
        )));
    }
    if block_size < 16 || !block_size.is_power_of_two() {
        return Err(QuantError::Unsupported(format!(
            "block size {block_size} (a power of two ≥ 16)"
        )));
    }
    check_input(what, w, n, k)?;
    let kb = k.div_ceil(block_size);
    let blob = block_size * usize::from(bits) / 8;
    let q_max = ((1i32 << (bits - 1)) - 1) as f32;
    let zp = 1i32 << (bits - 1);
    let mut codes = vec![0u8; n * kb * blob];
    let mut scales = vec![0f32; n * kb];
    for r in 0..n {
        let row = &w[r * k..(r + 1) * k];
        for b in 0..kb {
            let block = &row[b * block_size..((b + 1) * block_size).min(k)];
            let scale = block.iter().fold(0f32, |m, v| m.max(v.abs())) / q_max;
            scales[r * kb + b] = scale;
            let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            let out = &mut codes[(r * kb + b) * blob..(r * kb + b + 1) * blob];
            // Padding past K keeps code = zero point (weight 0).
            let mut unsigned = vec![zp as u8; block_size];
            for (u, v) in unsigned.iter_mut().zip(block) {
                let q = (v * inv).round().clamp(-q_max, q_max) as i32;
                *u = (q + zp) as u8;
            }
            match bits {
                4 => {
                    for (byte, pair) in out.iter_mut().zip(unsigned.chunks_exact(2)) {
                        *byte = pair[0] | (pair[1] << 4);
                    }
                }
                _ => out.copy_from_slice(&unsigned),
            }
        }
    }
    Ok(BlockQuantized {
        n,
        k,
        bits,
        block_size,
        codes,
        scales,
    })
}

/// A `[K, N]` weight quantised to int8 with one scale per output column.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelQuantized {
    pub k: usize,
    pub n: usize,
    /// `[k, n]` signed codes in `-127..=127`.
    pub codes: Vec<i8>,
    /// `[n]` scales.
    pub scales: Vec<f32>,
}

impl ChannelQuantized {
    /// The dequantised `[k, n]` weight, row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        self.codes
            .iter()
            .enumerate()
            .map(|(i, &q)| f32::from(q) * self.scales[i % self.n])
            .collect()
    }
}

/// Quantises the row-major `[k, n]` weight `w` (a `MatMul` right-hand side) to int8 with one
/// symmetric scale per column (output channel). Fails like [`quantize_blockwise`].
pub fn quantize_per_column(
    what: &str,
    w: &[f32],
    k: usize,
    n: usize,
) -> Result<ChannelQuantized, QuantError> {
    check_input(what, w, k, n)?;
    let mut scales = vec![0f32; n];
    for row in w.chunks_exact(n.max(1)) {
        for (s, v) in scales.iter_mut().zip(row) {
            *s = s.max(v.abs());
        }
    }
    for s in &mut scales {
        *s /= 127.0;
    }
    let codes = w
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let s = scales[i % n];
            if s > 0.0 {
                (v / s).round().clamp(-127.0, 127.0) as i8
            } else {
                0
            }
        })
        .collect();
    Ok(ChannelQuantized {
        k,
        n,
        codes,
        scales,
    })
}

fn check_input(what: &str, w: &[f32], rows: usize, cols: usize) -> Result<(), QuantError> {
    if w.len() != rows * cols || rows == 0 || cols == 0 {
        return Err(QuantError::Shape {
            tensor: what.to_string(),
            expected: vec![rows, cols],
            values: w.len(),
        });
    }
    if let Some(i) = w.iter().position(|v| !v.is_finite()) {
        return Err(QuantError::NonFinite {
            tensor: what.to_string(),
            index: i,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
    }

    #[test]
    fn blockwise_dequantised_weights_are_within_half_a_step() {
        for (bits, block, n, k) in [
            (4, 32, 5, 96),
            (4, 16, 3, 40),
            (8, 64, 4, 200),
            (8, 128, 2, 128),
        ] {
            let mut w = random(n * k, u64::from(bits) + k as u64);
            w[7] = 3.5; // an outlier widens only its own block's step
            let q = quantize_blockwise("w", &w, n, k, bits, block).unwrap();
            assert_eq!(
                q.codes.len(),
                n * k.div_ceil(block) * block * usize::from(bits) / 8
            );
            let d = q.dequantize();
            for r in 0..n {
                for c in 0..k {
                    let s = q.scales[r * q.k_blocks() + c / block];
                    let err = (d[r * k + c] - w[r * k + c]).abs();
                    assert!(
                        err <= s / 2.0 + 1e-7,
                        "bits {bits} ({r},{c}): {err} > {s}/2"
                    );
                }
            }
        }
    }

    #[test]
    fn block_scales_are_the_block_absmax_over_q_max() {
        let (n, k, block) = (2, 64, 32);
        let mut w = vec![0.01f32; n * k];
        w[5] = -0.7; // row 0, block 0
        w[40] = 0.35; // row 0, block 1
        w[64 + 33] = 1.4; // row 1, block 1
        let q4 = quantize_blockwise("w", &w, n, k, 4, block).unwrap();
        assert_eq!(
            q4.scales,
            vec![0.7 / 7.0, 0.35 / 7.0, 0.01 / 7.0, 1.4 / 7.0]
        );
        let q8 = quantize_blockwise("w", &w, n, k, 8, block).unwrap();
        assert_eq!(q8.scales[0], 0.7 / 127.0);
        // The extreme of each block maps to ±q_max exactly.
        assert_eq!(q4.code(0, 5), 8 - 7);
        assert_eq!(q4.code(1, 33), 8 + 7);
        assert_eq!(q8.code(0, 5), 128 - 127);
    }

    #[test]
    fn four_bit_codes_pack_low_nibble_first_and_pad_with_the_zero_point() {
        // One row, K = 20 in blocks of 16; scale 1/7 in both blocks, code = q + 8.
        let mut w: Vec<f32> = (0..16).map(|i| ((i % 15) as f32 - 7.0) / 7.0).collect();
        w.extend([1.0, -1.0, 0.0, 3.0 / 7.0]);
        let q = quantize_blockwise("w", &w, 1, 20, 4, 16).unwrap();
        assert_eq!(q.codes.len(), 2 * 8);
        // Elements 0 and 1 (codes 1, 2) share byte 0: low nibble first.
        assert_eq!(q.codes[0], 1 | (2 << 4));
        assert_eq!(q.codes[7], 15 | (1 << 4)); // elements 14 (q=7) and 15 (q=-7)
                                               // Second block: elements 16..20 (codes 15, 1, 8,
                                               // 11), then padding codes of 8 (weight 0).
        assert_eq!(q.codes[8], 15 | (1 << 4));
        assert_eq!(q.codes[9], 8 | (11 << 4));
        assert!(q.codes[10..].iter().all(|&b| b == 0x88));
        assert_eq!(q.dequantize().len(), 20);
    }

    #[test]
    fn per_column_scales_and_codes() {
        let (k, n) = (3, 2);
        let w = vec![0.5, -2.0, -1.0, 1.0, 0.25, 0.0];
        let q = quantize_per_column("w", &w, k, n).unwrap();
        assert_eq!(q.scales, vec![1.0 / 127.0, 2.0 / 127.0]);
        assert_eq!(q.codes, vec![64, -127, -127, 64, 32, 0]);
        for (d, o) in q.dequantize().iter().zip(&w) {
            assert!((d - o).abs() <= 1.0 / 127.0, "{d} vs {o}");
        }
    }

    #[test]
    fn bad_inputs_are_refused() {
        let w = vec![0.0f32; 32];
        assert!(matches!(
            quantize_blockwise("w", &w, 1, 32, 3, 32),
            Err(QuantError::Unsupported(_))
        ));
        assert!(matches!(
            quantize_blockwise("w", &w, 1, 32, 4, 24),
            Err(QuantError::Unsupported(_))
        ));
        assert!(matches!(
            quantize_blockwise("w", &w, 2, 32, 4, 32),
            Err(QuantError::Shape { .. })
        ));
        let mut bad = w.clone();
        bad[3] = f32::NAN;
        assert!(matches!(
            quantize_per_column("w", &bad, 4, 8),
            Err(QuantError::NonFinite { index: 3, .. })
        ));
        // All-zero weights quantise to exact zeros.
        let q = quantize_blockwise("w", &w, 1, 32, 8, 32).unwrap();
        assert!(q.dequantize().iter().all(|&v| v == 0.0));
    }
}
