//! The arithmetic of UnIVAL's `preprocess/average_save_models.py`, element by element and bit
//! for bit as PyTorch (2.x, CPU) computes it:
//!
//! ```text
//! avg = θ₀.clone() * λ₀           # the first checkpoint
//! avg += λᵢ * θᵢ                  # each further checkpoint, in order (in place)
//! ```
//!
//! - `θ * λ` keeps θ's dtype. fp32, fp16 and bf16 multiply in f32 with λ rounded to f32 (the
//!   reduced-float kernels take the Python scalar as `float`), then round once to the dtype;
//!   fp64 multiplies in f64. (PyTorch before 2.1 first rounded λ to fp16 for fp16 tensors: the
//!   results differ only when λ is not an fp16 number, e.g. 0.2, never for 0.5 or 0.25.)
//! - `avg += x` keeps avg's dtype: the sum is computed in f32 (f64 when either side is fp64) and
//!   rounded once to avg's dtype.
//!
//! Integer and bool entries (relative-position bucket tables, `num_batches_tracked`) stay
//! integers, see [`merge_integers`]. The original turns them into float32 tensors, which fairseq
//! truncates back to integers when it loads the state dict: `0.3·7 + 0.7·7` in float32 can come
//! back as 6, a scaled table (weights not summing to 1) stops being a bucket table, and counts
//! above 2²⁴ lose digits. Here equal tables are kept as they are and differing ones become
//! `round(Σ λᵢ·nᵢ)`.
//!
//! Work is done in chunks of [`CHUNK`] elements, so memory stays a few MB whatever the tensor.

use std::borrow::Cow;
use std::io::{self, Write};

use half::{bf16, f16};

use crate::checkpoint::{StorageType, Tensor};

/// Elements processed at a time.
const CHUNK: usize = 1 << 16;

/// Rounds an f64 to the nearest value of `dtype` the way c10 converts (double → float → dtype).
pub(crate) fn round_to(dtype: StorageType, x: f64) -> f64 {
    match dtype {
        StorageType::F64 => x,
        StorageType::F32 => f64::from(x as f32),
        StorageType::F16 => f16::from_f32(x as f32).to_f64(),
        StorageType::BF16 => bf16::from_f32(x as f32).to_f64(),
        // Integer dtypes never reach the float path.
        _ => x,
    }
}

/// `θ * λ` for one element of a `dtype` tensor.
pub(crate) fn scale(dtype: StorageType, theta: f64, lambda: f64) -> f64 {
    if dtype == StorageType::F64 {
        theta * lambda
    } else {
        round_to(dtype, f64::from((theta as f32) * (lambda as f32)))
    }
}

/// `acc += x` for one element: `acc` of `acc_dtype`, `x` of `x_dtype`.
pub(crate) fn accumulate(acc_dtype: StorageType, acc: f64, x_dtype: StorageType, x: f64) -> f64 {
    if acc_dtype == StorageType::F64 || x_dtype == StorageType::F64 {
        round_to(acc_dtype, acc + x)
    } else {
        round_to(acc_dtype, f64::from((acc as f32) + (x as f32)))
    }
}

/// The tensor's bytes in row-major order (a copy only for strided views).
fn row_major(t: &Tensor) -> Cow<'_, [u8]> {
    if let Some(b) = t.contiguous_bytes() {
        return Cow::Borrowed(b);
    }
    let size = t.dtype().size();
    let bytes = t.storage().as_bytes();
    let rank = t.shape().len();
    let mut idx = vec![0usize; rank];
    let mut out = Vec::with_capacity(t.numel() * size);
    for _ in 0..t.numel() {
        let at = t.storage_offset()
            + idx
                .iter()
                .zip(t.strides())
                .map(|(i, s)| i * s)
                .sum::<usize>();
        // In bounds: Tensor::new checked the highest addressed element.
        out.extend_from_slice(bytes.get(at * size..(at + 1) * size).unwrap_or(&[]));
        for k in (0..rank).rev() {
            idx[k] += 1;
            if idx[k] < t.shape()[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    Cow::Owned(out)
}

/// Element `i` of little-endian `bytes` of a float dtype, exactly (every value fits an f64).
fn float_at(dtype: StorageType, bytes: &[u8], i: usize) -> f64 {
    let n = dtype.size();
    let b = &bytes[i * n..(i + 1) * n];
    match dtype {
        StorageType::F64 => f64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        StorageType::F32 => f64::from(f32::from_le_bytes(b.try_into().unwrap_or([0; 4]))),
        StorageType::F16 => f16::from_le_bytes(b.try_into().unwrap_or([0; 2])).to_f64(),
        StorageType::BF16 => bf16::from_le_bytes(b.try_into().unwrap_or([0; 2])).to_f64(),
        _ => 0.0,
    }
}

/// Element `i` of little-endian `bytes` of an integer or bool dtype.
fn int_at(dtype: StorageType, bytes: &[u8], i: usize) -> i64 {
    let n = dtype.size();
    let b = &bytes[i * n..(i + 1) * n];
    match dtype {
        StorageType::I64 => i64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        StorageType::I32 => i64::from(i32::from_le_bytes(b.try_into().unwrap_or([0; 4]))),
        StorageType::I16 => i64::from(i16::from_le_bytes(b.try_into().unwrap_or([0; 2]))),
        StorageType::I8 => i64::from(b[0] as i8),
        _ => i64::from(b[0]),
    }
}

/// Appends `v` (already a value of `dtype`) as little-endian bytes.
fn put_float(dtype: StorageType, v: f64, out: &mut Vec<u8>) {
    match dtype {
        StorageType::F64 => out.extend(v.to_le_bytes()),
        StorageType::F32 => out.extend((v as f32).to_le_bytes()),
        StorageType::F16 => out.extend(f16::from_f64(v).to_le_bytes()),
        _ => out.extend(bf16::from_f64(v).to_le_bytes()),
    }
}

/// Appends `v`, clamped to the range of the integer `dtype`, as little-endian bytes.
fn put_int(dtype: StorageType, v: i64, out: &mut Vec<u8>) {
    match dtype {
        StorageType::I64 => out.extend(v.to_le_bytes()),
        StorageType::I32 => {
            out.extend((v.clamp(i32::MIN.into(), i32::MAX.into()) as i32).to_le_bytes())
        }
        StorageType::I16 => {
            out.extend((v.clamp(i16::MIN.into(), i16::MAX.into()) as i16).to_le_bytes())
        }
        StorageType::I8 => out.push(v.clamp(i8::MIN.into(), i8::MAX.into()) as i8 as u8),
        StorageType::Bool => out.push(u8::from(v != 0)),
        _ => out.push(v.clamp(0, 255) as u8),
    }
}

/// Writes `Σ λᵢ·θᵢ` of one state-dict entry (the first tensor's dtype and shape) to `sink`.
/// The tensors must have one shape and all be float or all integer (checked beforehand).
pub(crate) fn write_merged(
    tensors: &[&Tensor],
    weights: &[f64],
    sink: &mut dyn Write,
) -> io::Result<()> {
    let bytes: Vec<Cow<'_, [u8]>> = tensors.iter().map(|t| row_major(t)).collect();
    let dtypes: Vec<StorageType> = tensors.iter().map(|t| t.dtype()).collect();
    let Some(&out_dtype) = dtypes.first() else {
        return Ok(());
    };
    let numel = tensors[0].numel();
    if out_dtype.is_float() {
        write_floats(&bytes, &dtypes, weights, numel, sink)
    } else {
        merge_integers(&bytes, &dtypes, weights, numel, sink)
    }
}

fn write_floats(
    bytes: &[Cow<'_, [u8]>],
    dtypes: &[StorageType],
    weights: &[f64],
    numel: usize,
    sink: &mut dyn Write,
) -> io::Result<()> {
    let out_dtype = dtypes[0];
    let mut buf = Vec::with_capacity(CHUNK * out_dtype.size());
    for start in (0..numel).step_by(CHUNK) {
        buf.clear();
        for e in start..(start + CHUNK).min(numel) {
            let mut acc = scale(out_dtype, float_at(out_dtype, &bytes[0], e), weights[0]);
            for m in 1..bytes.len() {
                let x = scale(dtypes[m], float_at(dtypes[m], &bytes[m], e), weights[m]);
                acc = accumulate(out_dtype, acc, dtypes[m], x);
            }
            put_float(out_dtype, acc, &mut buf);
        }
        sink.write_all(&buf)?;
    }
    Ok(())
}

/// Integer entries: kept as stored when every checkpoint stores the same values (bucket tables
/// are architecture constants), otherwise `round(Σ λᵢ·nᵢ)` computed in f64 (counters).
fn merge_integers(
    bytes: &[Cow<'_, [u8]>],
    dtypes: &[StorageType],
    weights: &[f64],
    numel: usize,
    sink: &mut dyn Write,
) -> io::Result<()> {
    let out_dtype = dtypes[0];
    let same = (1..bytes.len()).all(|m| {
        (0..numel).all(|e| int_at(dtypes[m], &bytes[m], e) == int_at(out_dtype, &bytes[0], e))
    });
    let mut buf = Vec::with_capacity(CHUNK * out_dtype.size());
    for start in (0..numel).step_by(CHUNK) {
        buf.clear();
        for e in start..(start + CHUNK).min(numel) {
            let v = if same {
                int_at(out_dtype, &bytes[0], e)
            } else {
                let sum: f64 = (0..bytes.len())
                    .map(|m| weights[m] * int_at(dtypes[m], &bytes[m], e) as f64)
                    .sum();
                sum.round() as i64
            };
            put_int(out_dtype, v, &mut buf);
        }
        sink.write_all(&buf)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn fp16_rounds_after_each_operation() {
        let h = |x: f32| f16::from_f32(x).to_f64();
        // 1.0009765625 (1 + 2⁻¹⁰) · 0.5 is exact; the sum of two such halves rounds in fp16.
        let a = h(1.0 + 1.0 / 1024.0);
        let x = scale(StorageType::F16, a, 0.5);
        assert_eq!(x, a / 2.0);
        // 0.1 is not an fp16 number: the product is rounded from f32 to fp16.
        let y = scale(StorageType::F16, h(3.0), 0.1);
        assert_eq!(y, h(3.0f32 * 0.1f32));
        let s = accumulate(StorageType::F16, h(2048.0), StorageType::F16, h(1.0));
        assert_eq!(s, 2048.0, "2049 is not an fp16 number: ties go to even");
    }

    #[test]
    fn f32_uses_lambda_as_f32_and_f64_keeps_it() {
        let x = scale(StorageType::F32, 3.0, 0.1);
        assert_eq!(x, f64::from(3.0f32 * 0.1f32));
        assert_eq!(scale(StorageType::F64, 3.0, 0.1), 3.0 * 0.1);
    }

    #[test]
    fn integer_tables_are_kept_and_counters_rounded() {
        let b = |v: &[i64]| Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>());
        let d = [StorageType::I64, StorageType::I64];
        let mut out = Vec::new();
        merge_integers(&[b(&[7, 3]), b(&[7, 3])], &d, &[0.3, 0.3], 2, &mut out).unwrap();
        assert_eq!(out, b(&[7, 3]).to_vec());
        out.clear();
        merge_integers(&[b(&[10]), b(&[21])], &d, &[0.5, 0.5], 1, &mut out).unwrap();
        assert_eq!(out, b(&[16]).to_vec(), "15.5 rounds away from zero");
    }
}
