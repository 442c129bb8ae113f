//! The `manifest.json` type, its reading, writing and hash verification.

use crate::task::{Modality, TaskConfig};
use crate::vocab::VocabInfo;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Version of the bundle layout; the runtime refuses any other.
pub const FORMAT_VERSION: u32 = 1;
/// File name of the manifest inside a bundle directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Why a bundle could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    #[error("{path}: no such model bundle directory (export one with `unival export`)")]
    MissingDir { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid manifest: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: bundle format {found}, this build reads format {expected}; re-export it")]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path}: listed in the manifest but missing")]
    MissingFile { path: PathBuf },
    #[error("{path}: sha256 {actual} does not match the manifest's {expected} (file changed or truncated)")]
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{path}: {bytes} bytes, the manifest says {expected}")]
    SizeMismatch {
        path: PathBuf,
        bytes: u64,
        expected: u64,
    },
}

/// Element type of a graph input or output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F16,
    I64,
    Bool,
}

/// One dimension: fixed, or a symbol shared by the graphs (`batch`, `src_len`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(i64),
    Symbol(String),
}

/// Name, type and shape of one graph input or output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    pub dims: Vec<Dim>,
}

/// One ONNX graph of the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphSpec {
    /// File name relative to the bundle directory.
    pub file: String,
    /// External-data file holding the weights, when the graph exceeds the 2 GB protobuf limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_data: Option<String>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// Weights precision of the graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Fp16,
    /// fp32 graphs whose matrix-product weights are 8-bit codes with symmetric per-channel
    /// (block-wise) scales; activations, LayerNorm and softmax stay fp32 (CPU bundles).
    Int8,
    /// As [`Precision::Int8`] with 4-bit weight codes.
    Int4,
}

/// Shape facts of the transformer that the runtime needs (cache shapes, position limits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub embed_dim: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub ffn_dim: usize,
    pub max_source_positions: usize,
    pub max_target_positions: usize,
    pub token_bucket_size: usize,
    pub image_bucket_size: usize,
    /// Perception branches present in the bundle.
    pub modalities: Vec<Modality>,
    /// Backbone names as the checkpoint's cfg gives them (e.g. `timm_resnet`, `resnet`).
    pub backbones: BTreeMap<String, String>,
    /// Audio front end (spectrogram) settings, for audio bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioFrontEnd>,
}

/// How the waveform becomes the log-mel the audio graph takes (spec §2.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioFrontEnd {
    pub sample_rate: usize,
    pub window_size: usize,
    pub hop_size: usize,
    pub mel_bins: usize,
    pub fmin: f64,
    pub fmax: f64,
    pub frames: usize,
    /// File (in the bundle) with the checkpoint's STFT kernels, `[2, n_fft/2+1, n_fft]` f32.
    pub stft_kernels: String,
}

/// Where the weights came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Checkpoint file name as given to the exporter.
    pub checkpoint: String,
    pub sha256: String,
    /// `ema` or `model`.
    pub weights: String,
    /// The checkpoint's own task `_name`.
    pub saved_task: Option<String>,
}

/// Size and hash of one bundle file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub bytes: u64,
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub exporter_version: String,
    pub name: String,
    pub source: SourceInfo,
    pub precision: Precision,
    pub model: ModelInfo,
    pub vocab: VocabInfo,
    pub task: TaskConfig,
    /// Graphs by name (see [`crate::io::graph`]).
    pub graphs: BTreeMap<String, GraphSpec>,
    /// Every other file of the bundle, by name, with its hash.
    pub files: BTreeMap<String, FileEntry>,
}

impl Manifest {
    /// Reads `dir/manifest.json` and checks the format version. Does not hash the files; see
    /// [`Manifest::verify_files`].
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        if !dir.is_dir() {
            return Err(ManifestError::MissingDir {
                path: dir.to_path_buf(),
            });
        }
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Io {
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|source| ManifestError::Parse {
                path: path.clone(),
                source,
            })?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(ManifestError::Version {
                path,
                found: manifest.format_version,
                expected: FORMAT_VERSION,
            });
        }
        Ok(manifest)
    }

    /// Writes `dir/manifest.json` (pretty-printed).
    pub fn save(&self, dir: &Path) -> Result<(), ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|source| ManifestError::Parse {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, text + "\n").map_err(|source| ManifestError::Io { path, source })
    }

    /// Checks size and sha256 of every listed file; the first mismatch is the error.
    pub fn verify_files(&self, dir: &Path) -> Result<(), ManifestError> {
        for (name, entry) in &self.files {
            let path = dir.join(name);
            let meta = std::fs::metadata(&path)
                .map_err(|_| ManifestError::MissingFile { path: path.clone() })?;
            if meta.len() != entry.bytes {
                return Err(ManifestError::SizeMismatch {
                    path,
                    bytes: meta.len(),
                    expected: entry.bytes,
                });
            }
            let actual = sha256_file(&path)?;
            if actual != entry.sha256 {
                return Err(ManifestError::HashMismatch {
                    path,
                    expected: entry.sha256.clone(),
                    actual,
                });
            }
        }
        Ok(())
    }

    /// Hash of the manifest's file list: identifies the exact bundle (engine caches key on it).
    pub fn bundle_hash(&self) -> String {
        let mut h = Sha256::new();
        for (name, entry) in &self.files {
            h.update(name.as_bytes());
            h.update(entry.sha256.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// Size and sha256 of a file, as recorded in [`Manifest::files`].
pub fn file_entry(path: &Path) -> Result<FileEntry, ManifestError> {
    let bytes = std::fs::metadata(path)
        .map_err(|source| ManifestError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    Ok(FileEntry {
        bytes,
        sha256: sha256_file(path)?,
    })
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, ManifestError> {
    let io_err = |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(io_err)?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
