//! Serialises a model to disk, moving weights to an external-data file when the protobuf would
//! pass ONNX's 2 GB limit (or when asked to).

use super::proto::{ModelProto, StringStringEntryProto, DATA_LOCATION_EXTERNAL};
use prost::Message;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Protobuf's hard limit on one message; above it weights must live outside the `.onnx` file.
pub const PROTOBUF_LIMIT: u64 = 2_000_000_000;
/// Initializers smaller than this stay inline even in external-data mode.
const INLINE_BELOW: usize = 1024;
/// Alignment of each tensor in the external file (page size, so runtimes can map it).
const ALIGN: u64 = 4096;

/// Why writing a graph failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error("{path}: cannot write: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What was written.
#[derive(Debug, Clone)]
pub struct WrittenGraph {
    /// The `.onnx` file.
    pub model: PathBuf,
    /// The external-data file, when one was needed.
    pub external_data: Option<PathBuf>,
}

/// Writes `model` to `path`. Weights go to `<path>.data` when `force_external` is set or the
/// initializers exceed [`PROTOBUF_LIMIT`].
pub fn write_model(
    mut model: ModelProto,
    path: &Path,
    force_external: bool,
) -> Result<WrittenGraph, WriteError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| WriteError::Io { path: p, source }
    };
    let total: u64 = model
        .graph
        .as_ref()
        .map(|g| g.initializer.iter().map(|t| t.raw_data.len() as u64).sum())
        .unwrap_or(0);
    let mut external = None;
    if force_external || total > PROTOBUF_LIMIT {
        let data_path = path.with_extension("onnx.data");
        let location = data_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = std::fs::File::create(&data_path).map_err(io(&data_path))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 22, file);
        let mut offset = 0u64;
        if let Some(g) = model.graph.as_mut() {
            for t in g.initializer.iter_mut() {
                if t.raw_data.len() < INLINE_BELOW {
                    continue;
                }
                let pad = (ALIGN - offset % ALIGN) % ALIGN;
                out.write_all(&vec![0u8; pad as usize])
                    .map_err(io(&data_path))?;
                offset += pad;
                let raw = std::mem::take(&mut t.raw_data);
                out.write_all(&raw).map_err(io(&data_path))?;
                let entry = |k: &str, v: String| StringStringEntryProto {
                    key: k.into(),
                    value: v,
                };
                t.external_data = vec![
                    entry("location", location.clone()),
                    entry("offset", offset.to_string()),
                    entry("length", raw.len().to_string()),
                ];
                t.data_location = DATA_LOCATION_EXTERNAL;
                offset += raw.len() as u64;
            }
        }
        out.flush().map_err(io(&data_path))?;
        external = Some(data_path);
    }
    let bytes = model.encode_to_vec();
    drop(model);
    std::fs::write(path, bytes).map_err(io(path))?;
    Ok(WrittenGraph {
        model: path.to_path_buf(),
        external_data: external,
    })
}
