//! Safetensors input (and a small writer): `u64` LE header length, a JSON header
//! `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`, then the
//! data. Tensors view the memory map directly. The model configuration travels in a JSON file
//! `{"model": {...cfg['model'] fields...}, "task": {...}, "generation": {...}}`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use super::container::map_file;
use super::error::{CheckpointError, Result};
use super::state_dict::StateDict;
use super::tensor::{Bytes, Storage, StorageType, Tensor};

/// `__metadata__` key under which `unival merge` embeds the JSON config.
pub const CONFIG_METADATA_KEY: &str = "unival_config";

/// Reads and validates a safetensors file; also returns the config embedded in its
/// `__metadata__` under [`CONFIG_METADATA_KEY`], if any.
pub(crate) fn read(path: &Path) -> Result<(Arc<Mmap>, StateDict, Option<String>)> {
    let bad = |detail: String| CheckpointError::Safetensors {
        file: path.to_path_buf(),
        detail,
    };
    let map = map_file(path)?;
    let head: [u8; 8] = map
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("shorter than the 8-byte header length".into()))?;
    let n = u64::from_le_bytes(head);
    let data_start = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(8))
        .filter(|&e| e <= map.len())
        .ok_or_else(|| bad(format!("header length {n} exceeds the file")))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&map[8..data_start])
            .map_err(|e| bad(format!("header JSON: {e}")))?;
    let data_len = map.len() - data_start;
    let embedded = header
        .get("__metadata__")
        .and_then(|m| m.get(CONFIG_METADATA_KEY))
        .and_then(|c| c.as_str())
        .map(str::to_string);
    let mut tensors = Vec::with_capacity(header.len());
    for (name, info) in &header {
        if name == "__metadata__" {
            continue;
        }
        let field = |k: &str| {
            info.get(k)
                .ok_or_else(|| bad(format!("tensor '{name}' lacks '{k}'")))
        };
        let dtype_name = field("dtype")?.as_str().unwrap_or_default();
        let dtype = StorageType::from_safetensors_name(dtype_name).ok_or_else(|| {
            CheckpointError::UnsupportedDtype {
                file: path.to_path_buf(),
                key: name.clone(),
                dtype: dtype_name.to_string(),
                detail: "safetensors dtype not supported".into(),
            }
        })?;
        let usizes = |v: &serde_json::Value, what: &str| -> Result<Vec<usize>> {
            v.as_array()
                .ok_or_else(|| bad(format!("tensor '{name}': '{what}' is not an array")))?
                .iter()
                .map(|x| {
                    x.as_u64()
                        .and_then(|x| usize::try_from(x).ok())
                        .ok_or_else(|| bad(format!("tensor '{name}': bad '{what}' entry {x}")))
                })
                .collect()
        };
        let shape = usizes(field("shape")?, "shape")?;
        let offsets = usizes(field("data_offsets")?, "data_offsets")?;
        let [begin, end] = offsets[..] else {
            return Err(bad(format!(
                "tensor '{name}': data_offsets needs 2 entries"
            )));
        };
        if begin > end || end > data_len {
            return Err(bad(format!(
                "tensor '{name}': data_offsets [{begin}, {end}] outside the {data_len}-byte data"
            )));
        }
        let numel = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad(format!("tensor '{name}': shape {shape:?} overflows")))?;
        if numel.checked_mul(dtype.size()) != Some(end - begin) {
            return Err(bad(format!(
                "tensor '{name}': {} bytes for shape {shape:?} of {dtype}",
                end - begin
            )));
        }
        let storage = Arc::new(Storage::new(
            path,
            name.clone(),
            dtype,
            Bytes::Mapped {
                map: Arc::clone(&map),
                start: data_start + begin,
                len: end - begin,
            },
        ));
        let mut strides = vec![1usize; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * shape[i + 1];
        }
        tensors.push((name.clone(), Tensor::new(name, storage, shape, strides, 0)?));
    }
    Ok((map, StateDict::from_tensors(path, tensors), embedded))
}

/// The three config sections of a safetensors checkpoint.
pub(crate) struct SafeConfig {
    pub(crate) model: serde_json::Map<String, serde_json::Value>,
    pub(crate) task: serde_json::Value,
    pub(crate) generation: serde_json::Value,
}

/// Reads the JSON config that accompanies a safetensors file.
pub(crate) fn read_config(path: &Path) -> Result<SafeConfig> {
    let text = std::fs::read(path).map_err(|e| CheckpointError::io(path, e))?;
    parse_config(path, &text)
}

/// Parses a JSON config (`path` names its source in errors).
pub(crate) fn parse_config(path: &Path, text: &[u8]) -> Result<SafeConfig> {
    let bad = |detail: String| CheckpointError::Safetensors {
        file: path.to_path_buf(),
        detail,
    };
    let mut v: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| bad(format!("config JSON: {e}")))?;
    let model = match v.get_mut("model").map(serde_json::Value::take) {
        Some(serde_json::Value::Object(m)) => m,
        _ => return Err(bad("config has no \"model\" object".into())),
    };
    let task = v
        .get_mut("task")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    let generation = v
        .get_mut("generation")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    Ok(SafeConfig {
        model,
        task,
        generation,
    })
}

/// Writes tensors as a safetensors file (contiguous row-major copies, dtypes kept), e.g. to
/// hand merged or converted weights to [`super::Checkpoint::open_safetensors`].
pub fn write_safetensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
) -> Result<()> {
    let io = |e| CheckpointError::io(path, e);
    let tensors: Vec<(&str, &Tensor)> = tensors.into_iter().collect();
    let head = safetensors_header(None, tensors.iter().copied()).map_err(|e| {
        CheckpointError::Safetensors {
            file: path.to_path_buf(),
            detail: e.to_string(),
        }
    })?;
    let mut w = BufWriter::new(File::create(path).map_err(io)?);
    w.write_all(&head).map_err(io)?;
    for (_, t) in &tensors {
        match t.contiguous_bytes() {
            Some(b) => w.write_all(b).map_err(io)?,
            None => write_strided(&mut w, t).map_err(io)?,
        }
    }
    w.flush().map_err(io)
}

/// Everything a safetensors file holds before its data: the header's length (u64 LE) and the
/// JSON header (padded with spaces to 8 bytes) for `tensors` stored back to back in that order,
/// with `metadata` as `__metadata__` when given. Shared by every writer, so the layout is
/// defined once.
pub fn safetensors_header<'a, N: AsRef<str>>(
    metadata: Option<serde_json::Value>,
    tensors: impl IntoIterator<Item = (N, &'a Tensor)>,
) -> serde_json::Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    if let Some(metadata) = metadata {
        header.insert("__metadata__".into(), metadata);
    }
    let mut offset = 0usize;
    for (name, t) in tensors {
        let len = t.numel() * t.dtype().size();
        header.insert(
            name.as_ref().to_string(),
            serde_json::json!({
                "dtype": t.dtype().safetensors_name(),
                "shape": t.shape(),
                "data_offsets": [offset, offset + len],
            }),
        );
        offset += len;
    }
    let mut json = serde_json::to_vec(&header)?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut head = (json.len() as u64).to_le_bytes().to_vec();
    head.extend_from_slice(&json);
    Ok(head)
}

/// Copies a strided view element by element in row-major order.
fn write_strided(w: &mut impl Write, t: &Tensor) -> std::io::Result<()> {
    let size = t.dtype().size();
    let bytes = t.storage().as_bytes();
    let rank = t.shape().len();
    let mut idx = vec![0usize; rank];
    for _ in 0..t.numel() {
        let at = t.storage_offset()
            + idx
                .iter()
                .zip(t.strides())
                .map(|(i, s)| i * s)
                .sum::<usize>();
        w.write_all(bytes.get(at * size..(at + 1) * size).unwrap_or(&[]))?;
        for k in (0..rank).rev() {
            idx[k] += 1;
            if idx[k] < t.shape()[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    Ok(())
}
