//! Tensors as views (offset, shape, strides) into storages that usually point straight into the
//! memory-mapped checkpoint (docs/model.md §3.3: fp16/fp32/bf16 floats, int64 buffers, shared
//! storages).
//!
//! A view is validated once when it is built ([`Tensor::new`]): every element it can address
//! lies inside its storage, so the accessors below never index out of bounds.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use half::{bf16, f16};
use memmap2::Mmap;
use serde::Serialize;

use super::error::{CheckpointError, Result};

/// Element type of a stored tensor (the torch storage class or safetensors dtype).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum StorageType {
    /// IEEE binary32 (`torch.FloatStorage`).
    F32,
    /// IEEE binary16 (`torch.HalfStorage`), the storage of `--save-on-cuda` fp16 saves.
    F16,
    /// bfloat16 (`torch.BFloat16Storage`).
    BF16,
    /// IEEE binary64 (`torch.DoubleStorage`).
    F64,
    /// Signed 64-bit integer (`torch.LongStorage`): bucket buffers, `num_batches_tracked`.
    I64,
    /// Signed 32-bit integer (`torch.IntStorage`).
    I32,
    /// Signed 16-bit integer (`torch.ShortStorage`).
    I16,
    /// Signed 8-bit integer (`torch.CharStorage`).
    I8,
    /// Unsigned byte (`torch.ByteStorage`).
    U8,
    /// Boolean stored as one byte (`torch.BoolStorage`).
    Bool,
}

impl StorageType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            StorageType::F64 | StorageType::I64 => 8,
            StorageType::F32 | StorageType::I32 => 4,
            StorageType::F16 | StorageType::BF16 | StorageType::I16 => 2,
            StorageType::I8 | StorageType::U8 | StorageType::Bool => 1,
        }
    }

    /// Whether the type holds floating-point values.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            StorageType::F32 | StorageType::F16 | StorageType::BF16 | StorageType::F64
        )
    }

    /// The torch storage class name (`HalfStorage`, ...) of a dtype.
    pub fn torch_storage_name(self) -> &'static str {
        match self {
            StorageType::F32 => "FloatStorage",
            StorageType::F16 => "HalfStorage",
            StorageType::BF16 => "BFloat16Storage",
            StorageType::F64 => "DoubleStorage",
            StorageType::I64 => "LongStorage",
            StorageType::I32 => "IntStorage",
            StorageType::I16 => "ShortStorage",
            StorageType::I8 => "CharStorage",
            StorageType::U8 => "ByteStorage",
            StorageType::Bool => "BoolStorage",
        }
    }

    /// Maps a torch storage class name (`HalfStorage`, `UntypedStorage` = bytes) to a dtype.
    pub fn from_torch_storage_name(name: &str) -> Option<StorageType> {
        Some(match name {
            "FloatStorage" => StorageType::F32,
            "HalfStorage" => StorageType::F16,
            "BFloat16Storage" => StorageType::BF16,
            "DoubleStorage" => StorageType::F64,
            "LongStorage" => StorageType::I64,
            "IntStorage" => StorageType::I32,
            "ShortStorage" => StorageType::I16,
            "CharStorage" => StorageType::I8,
            "ByteStorage" | "UntypedStorage" => StorageType::U8,
            "BoolStorage" => StorageType::Bool,
            _ => return None,
        })
    }

    /// The safetensors dtype tag (`F32`, `F16`, `BF16`, `I64`, ...).
    pub fn safetensors_name(self) -> &'static str {
        match self {
            StorageType::F32 => "F32",
            StorageType::F16 => "F16",
            StorageType::BF16 => "BF16",
            StorageType::F64 => "F64",
            StorageType::I64 => "I64",
            StorageType::I32 => "I32",
            StorageType::I16 => "I16",
            StorageType::I8 => "I8",
            StorageType::U8 => "U8",
            StorageType::Bool => "BOOL",
        }
    }

    /// Inverse of [`StorageType::safetensors_name`].
    pub fn from_safetensors_name(name: &str) -> Option<StorageType> {
        [
            StorageType::F32,
            StorageType::F16,
            StorageType::BF16,
            StorageType::F64,
            StorageType::I64,
            StorageType::I32,
            StorageType::I16,
            StorageType::I8,
            StorageType::U8,
            StorageType::Bool,
        ]
        .into_iter()
        .find(|d| d.safetensors_name() == name)
    }
}

impl fmt::Display for StorageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.safetensors_name())
    }
}

/// Where a storage's bytes live: a range of the memory map (STORED zip records, safetensors
/// data) or an owned buffer (a compressed record that had to be inflated).
pub(crate) enum Bytes {
    /// `map[start..start + len]`.
    Mapped {
        map: Arc<Mmap>,
        start: usize,
        len: usize,
    },
    /// Inflated copy.
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            // The range was checked against the map length when the storage was created.
            Bytes::Mapped { map, start, len } => map.get(*start..*start + *len).unwrap_or(&[]),
            Bytes::Owned(v) => v,
        }
    }
}

/// One storage record (`<prefix>/data/<key>` or a safetensors byte range), shared by every
/// tensor that views it (e.g. the three tied embeddings of an fp16 save, docs/model.md §3.3).
pub struct Storage {
    file: PathBuf,
    key: String,
    dtype: StorageType,
    bytes: Bytes,
}

impl Storage {
    /// Builds a storage; `bytes` must already be bounds-checked against the map.
    pub(crate) fn new(file: &Path, key: String, dtype: StorageType, bytes: Bytes) -> Self {
        Storage {
            file: file.to_path_buf(),
            key,
            dtype,
            bytes,
        }
    }

    /// The record key (`"3"` for `archive/data/3`), or the tensor name for safetensors.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Element type of the storage.
    pub fn dtype(&self) -> StorageType {
        self.dtype
    }

    /// Number of whole elements the storage holds.
    pub fn numel(&self) -> usize {
        self.bytes.as_slice().len() / self.dtype.size()
    }

    /// Raw little-endian bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("key", &self.key)
            .field("dtype", &self.dtype)
            .field("bytes", &self.as_bytes().len())
            .finish()
    }
}

/// A strided view of a [`Storage`]: `element[i0,..,in] = storage[offset + Σ ik·stride_k]`.
#[derive(Clone)]
pub struct Tensor {
    name: Arc<str>,
    storage: Arc<Storage>,
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor")
            .field("name", &self.name)
            .field("dtype", &self.dtype())
            .field("shape", &self.shape)
            .field("strides", &self.strides)
            .field("offset", &self.offset)
            .field("storage", &self.storage.key)
            .finish()
    }
}

impl Tensor {
    /// Builds a view after checking that it stays inside the storage.
    ///
    /// Fails with `BadTensor` when shape and strides differ in rank or the index arithmetic
    /// overflows, and with `StorageTooSmall` when the highest addressed element is past the end.
    pub(crate) fn new(
        name: &str,
        storage: Arc<Storage>,
        shape: Vec<usize>,
        strides: Vec<usize>,
        offset: usize,
    ) -> Result<Tensor> {
        let bad = |detail: String| CheckpointError::BadTensor {
            file: storage.file.clone(),
            key: name.to_string(),
            detail,
        };
        if shape.len() != strides.len() {
            return Err(bad(format!(
                "shape {shape:?} and strides {strides:?} differ in rank"
            )));
        }
        let mut numel: usize = 1;
        for &d in &shape {
            numel = numel
                .checked_mul(d)
                .ok_or_else(|| bad(format!("element count of {shape:?} overflows")))?;
        }
        if numel > 0 {
            let mut last = offset;
            for (&d, &s) in shape.iter().zip(&strides) {
                let step = (d - 1)
                    .checked_mul(s)
                    .and_then(|x| x.checked_add(last))
                    .ok_or_else(|| {
                        bad(format!("index range of {shape:?}/{strides:?} overflows"))
                    })?;
                last = step;
            }
            let available = storage.numel();
            if last >= available {
                return Err(CheckpointError::StorageTooSmall {
                    file: storage.file.clone(),
                    key: name.to_string(),
                    needed: last as u64 + 1,
                    available: available as u64,
                });
            }
        }
        Ok(Tensor {
            name: Arc::from(name),
            storage,
            shape,
            strides,
            offset,
        })
    }

    /// State-dict key this tensor was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Element type.
    pub fn dtype(&self) -> StorageType {
        self.storage.dtype
    }

    /// Shape, outermost dimension first (`[]` for a scalar).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Strides in elements (torch convention).
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Offset of element `[0,..,0]` inside the storage, in elements.
    pub fn storage_offset(&self) -> usize {
        self.offset
    }

    /// Number of elements (product of the shape; 1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The storage this view reads.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// Whether both tensors view the same storage record (tied weights saved once).
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// Whether the view is row-major contiguous (dimensions of size 1 may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1usize;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected = expected.saturating_mul(d);
        }
        true
    }

    /// Raw little-endian bytes of a contiguous view (`None` if the view is strided), so an
    /// exporter can copy weights without converting them.
    pub fn contiguous_bytes(&self) -> Option<&[u8]> {
        if !self.is_contiguous() {
            return None;
        }
        let size = self.dtype().size();
        let start = self.offset * size;
        self.storage
            .as_bytes()
            .get(start..start + self.numel() * size)
    }

    /// Storage element indices of the view in row-major order.
    fn indices(&self) -> Vec<usize> {
        let n = self.numel();
        if self.is_contiguous() {
            return (self.offset..self.offset + n).collect();
        }
        let mut out = Vec::with_capacity(n);
        let rank = self.shape.len();
        let mut idx = vec![0usize; rank];
        for _ in 0..n {
            out.push(
                self.offset
                    + idx
                        .iter()
                        .zip(&self.strides)
                        .map(|(i, s)| i * s)
                        .sum::<usize>(),
            );
            for k in (0..rank).rev() {
                idx[k] += 1;
                if idx[k] < self.shape[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
        out
    }

    /// Decodes element `i` of the storage with `f` over its `N` little-endian bytes.
    fn gather<const N: usize, T>(&self, f: impl Fn([u8; N]) -> T) -> Vec<T> {
        let bytes = self.storage.as_bytes();
        let read = |i: usize| {
            let mut b = [0u8; N];
            // In bounds by construction (Tensor::new checked the highest index).
            if let Some(src) = bytes.get(i * N..i * N + N) {
                b.copy_from_slice(src);
            }
            f(b)
        };
        if self.is_contiguous() {
            let start = self.offset * N;
            let end = start + self.numel() * N;
            return bytes
                .get(start..end)
                .unwrap_or(&[])
                .chunks_exact(N)
                .map(|c| {
                    let mut b = [0u8; N];
                    b.copy_from_slice(c);
                    f(b)
                })
                .collect();
        }
        self.indices().into_iter().map(read).collect()
    }

    /// Values as `f32` in row-major order (f16/bf16/f64 converted). Fails on integer tensors.
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        Ok(match self.dtype() {
            StorageType::F32 => self.gather(f32::from_le_bytes),
            StorageType::F16 => self.gather(|b| f16::from_le_bytes(b).to_f32()),
            StorageType::BF16 => self.gather(|b| bf16::from_le_bytes(b).to_f32()),
            StorageType::F64 => self.gather(|b| f64::from_le_bytes(b) as f32),
            other => return Err(self.dtype_error(other, "to_f32 on a non-float tensor")),
        })
    }

    /// Values as `i64` in row-major order (any integer or bool dtype). Fails on float tensors.
    pub fn to_i64(&self) -> Result<Vec<i64>> {
        Ok(match self.dtype() {
            StorageType::I64 => self.gather(i64::from_le_bytes),
            StorageType::I32 => self.gather(|b| i64::from(i32::from_le_bytes(b))),
            StorageType::I16 => self.gather(|b| i64::from(i16::from_le_bytes(b))),
            StorageType::I8 => self.gather(|b: [u8; 1]| i64::from(b[0] as i8)),
            StorageType::U8 | StorageType::Bool => self.gather(|b: [u8; 1]| i64::from(b[0])),
            other => return Err(self.dtype_error(other, "to_i64 on a float tensor")),
        })
    }

    fn dtype_error(&self, dtype: StorageType, detail: &str) -> CheckpointError {
        CheckpointError::UnsupportedDtype {
            file: self.storage.file.clone(),
            key: self.name.to_string(),
            dtype: dtype.to_string(),
            detail: detail.to_string(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn owned(dtype: StorageType, bytes: Vec<u8>) -> Arc<Storage> {
        Arc::new(Storage::new(
            Path::new("t.pt"),
            "0".into(),
            dtype,
            Bytes::Owned(bytes),
        ))
    }

    fn f32_storage(v: &[f32]) -> Arc<Storage> {
        owned(
            StorageType::F32,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    #[test]
    fn strided_view_reads_transposed_order() {
        let s = f32_storage(&[0., 1., 2., 3., 4., 5.]);
        // storage is a 2x3 row-major matrix; view its transpose [3,2].
        let t = Tensor::new("w", s, vec![3, 2], vec![1, 3], 0).unwrap();
        assert!(!t.is_contiguous());
        assert!(t.contiguous_bytes().is_none());
        assert_eq!(t.to_f32().unwrap(), vec![0., 3., 1., 4., 2., 5.]);
    }

    #[test]
    fn offset_view_and_bounds() {
        let s = f32_storage(&[0., 1., 2., 3., 4., 5.]);
        let t = Tensor::new("w", s.clone(), vec![2], vec![1], 4).unwrap();
        assert_eq!(t.to_f32().unwrap(), vec![4., 5.]);
        let err = Tensor::new("w", s.clone(), vec![2], vec![1], 5).unwrap_err();
        assert!(
            matches!(
                err,
                CheckpointError::StorageTooSmall {
                    needed: 7,
                    available: 6,
                    ..
                }
            ),
            "{err}"
        );
        let err = Tensor::new("w", s, vec![usize::MAX, 2], vec![2, 1], 0).unwrap_err();
        assert!(matches!(err, CheckpointError::BadTensor { .. }), "{err}");
    }

    #[test]
    fn half_types_convert_and_ints_refuse_to_f32() {
        let h = owned(
            StorageType::F16,
            [1.5f32, -2.0]
                .iter()
                .flat_map(|x| f16::from_f32(*x).to_le_bytes())
                .collect(),
        );
        let t = Tensor::new("h", h, vec![2], vec![1], 0).unwrap();
        assert_eq!(t.to_f32().unwrap(), vec![1.5, -2.0]);
        assert!(t.to_i64().is_err());
        let b = owned(
            StorageType::BF16,
            bf16::from_f32(3.0).to_le_bytes().to_vec(),
        );
        let t = Tensor::new("b", b, vec![], vec![], 0).unwrap();
        assert_eq!(t.numel(), 1);
        assert_eq!(t.to_f32().unwrap(), vec![3.0]);
        let l = owned(StorageType::I64, (-7i64).to_le_bytes().to_vec());
        let t = Tensor::new("l", l, vec![1], vec![1], 0).unwrap();
        assert_eq!(t.to_i64().unwrap(), vec![-7]);
        assert!(t.to_f32().is_err());
    }

    #[test]
    fn empty_tensor_needs_no_storage() {
        let s = f32_storage(&[]);
        let t = Tensor::new("e", s, vec![0, 4], vec![4, 1], 0).unwrap();
        assert_eq!(t.numel(), 0);
        assert!(t.to_f32().unwrap().is_empty());
    }

    #[test]
    fn dtype_names_round_trip() {
        for d in [
            StorageType::F32,
            StorageType::F16,
            StorageType::BF16,
            StorageType::I64,
            StorageType::Bool,
        ] {
            assert_eq!(
                StorageType::from_safetensors_name(d.safetensors_name()),
                Some(d)
            );
            assert_eq!(
                StorageType::from_torch_storage_name(d.torch_storage_name()),
                Some(d)
            );
        }
        assert_eq!(StorageType::from_torch_storage_name("QInt8Storage"), None);
    }
}
