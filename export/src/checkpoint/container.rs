//! The torch zip container (docs/model.md §3.4): `<prefix>/data.pkl`, `<prefix>/data/<key>`
//! storages, `<prefix>/version`, `<prefix>/byteorder`. The prefix is not fixed (`archive/` when
//! fairseq saves through a file handle, `<stem>/` after a re-save by path), so it is found by
//! locating the record that ends in `/data.pkl`.
//!
//! The file is memory-mapped; torch writes every record STORED (uncompressed), so storages are
//! byte ranges of the map and nothing is copied. A compressed record is inflated into memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use zip::CompressionMethod;

use super::error::{CheckpointError, Result};
use super::tensor::{Bytes, Storage, StorageType};

/// Location of one zip record inside the map.
#[derive(Clone, Copy, Debug)]
struct Record {
    index: usize,
    data_start: usize,
    size: usize,
    stored: bool,
}

/// An opened torch zip checkpoint: the map, the record prefix, and where each record lies.
pub(crate) struct TorchZip {
    file: PathBuf,
    map: Arc<Mmap>,
    prefix: String,
    records: HashMap<String, Record>,
}

/// Memory-maps `path` read-only.
pub(crate) fn map_file(path: &Path) -> Result<Arc<Mmap>> {
    let f = File::open(path).map_err(|e| CheckpointError::io(path, e))?;
    // SAFETY: the map is read-only and private to this process. If another process truncates
    // the file while it is mapped, reads may fault; that is the documented memmap2 caveat and
    // the same contract every mmap-based weight loader accepts.
    let map = unsafe { Mmap::map(&f) }.map_err(|e| CheckpointError::io(path, e))?;
    Ok(Arc::new(map))
}

impl TorchZip {
    /// Opens the zip directory of an already mapped file and finds the `data.pkl` prefix.
    pub(crate) fn open(file: &Path, map: Arc<Mmap>) -> Result<TorchZip> {
        let not_zip = |detail: String| CheckpointError::NotZip {
            file: file.to_path_buf(),
            detail,
        };
        let mut archive =
            zip::ZipArchive::new(Cursor::new(&map[..])).map_err(|e| not_zip(e.to_string()))?;
        let mut records = HashMap::new();
        let mut prefix = None;
        for index in 0..archive.len() {
            let entry = archive
                .by_index_raw(index)
                .map_err(|e| not_zip(format!("record #{index}: {e}")))?;
            let name = entry.name().to_string();
            let data_start = usize::try_from(entry.data_start())
                .map_err(|_| not_zip(format!("record '{name}' offset too large")))?;
            let size = usize::try_from(entry.compressed_size())
                .map_err(|_| not_zip(format!("record '{name}' too large")))?;
            let end = data_start.checked_add(size);
            if end.is_none_or(|end| end > map.len()) {
                return Err(CheckpointError::BadRecord {
                    file: file.to_path_buf(),
                    record: name,
                    detail: format!(
                        "extends past the end of the file ({} bytes at {data_start}, file has {})",
                        size,
                        map.len()
                    ),
                });
            }
            let stored = entry.compression() == CompressionMethod::Stored;
            if prefix.is_none() {
                if let Some(p) = name.strip_suffix("data.pkl") {
                    if p.is_empty() || p.ends_with('/') {
                        prefix = Some(p.to_string());
                    }
                }
            }
            records.insert(
                name,
                Record {
                    index,
                    data_start,
                    size,
                    stored,
                },
            );
        }
        let prefix = prefix.ok_or_else(|| CheckpointError::NoDataPkl {
            file: file.to_path_buf(),
        })?;
        Ok(TorchZip {
            file: file.to_path_buf(),
            map,
            prefix,
            records,
        })
    }

    /// Bytes of a record (`name` relative to the prefix), mapped when STORED.
    fn record_bytes(&self, name: &str) -> Result<Bytes> {
        let full = format!("{}{}", self.prefix, name);
        let rec = *self
            .records
            .get(&full)
            .ok_or_else(|| CheckpointError::BadRecord {
                file: self.file.clone(),
                record: full.clone(),
                detail: "is missing from the zip archive".into(),
            })?;
        if rec.stored {
            return Ok(Bytes::Mapped {
                map: Arc::clone(&self.map),
                start: rec.data_start,
                len: rec.size,
            });
        }
        let bad = |detail: String| CheckpointError::BadRecord {
            file: self.file.clone(),
            record: full.clone(),
            detail,
        };
        let mut archive = zip::ZipArchive::new(Cursor::new(&self.map[..]))
            .map_err(|e| bad(format!("cannot reopen archive: {e}")))?;
        let mut entry = archive
            .by_index(rec.index)
            .map_err(|e| bad(format!("cannot be read: {e}")))?;
        let mut out = Vec::new();
        entry
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("cannot be inflated: {e}")))?;
        Ok(Bytes::Owned(out))
    }

    /// The pickle stream `<prefix>/data.pkl`.
    pub(crate) fn data_pkl(&self) -> Result<Vec<u8>> {
        Ok(match self.record_bytes("data.pkl")? {
            Bytes::Mapped { map, start, len } => map[start..start + len].to_vec(),
            Bytes::Owned(v) => v,
        })
    }

    /// Storage `<prefix>/data/<key>` as `dtype`; checks it holds at least `numel` elements.
    pub(crate) fn storage(&self, key: &str, dtype: StorageType, numel: usize) -> Result<Storage> {
        let bytes = self.record_bytes(&format!("data/{key}"))?;
        let storage = Storage::new(&self.file, key.to_string(), dtype, bytes);
        let need = numel.checked_mul(dtype.size());
        if need.is_none_or(|n| storage.as_bytes().len() < n) {
            return Err(CheckpointError::BadRecord {
                file: self.file.clone(),
                record: format!("{}data/{key}", self.prefix),
                detail: format!(
                    "holds {} bytes but the pickle declares {numel} {dtype} elements (truncated?)",
                    storage.as_bytes().len()
                ),
            });
        }
        Ok(storage)
    }
}
