//! The `manifest.json` type, its reading, writing and hash verification.

use crate::confine::bundle_path;
use crate::io;
use crate::onnx_refs::external_refs;
use crate::task::{Modality, TaskConfig};
use crate::vocab::VocabInfo;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Version of the bundle layout; the runtime refuses any other. Format 2: the task's
/// perception settings are one per-modality [`crate::task::Perception`], and the decoder graph
/// always takes `beam_order` and `vocab_rows` (format 1 had neither guarantee).
pub const FORMAT_VERSION: u32 = 2;
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
    #[error("{path}: the bundle was exported with format {found}, this build reads format {expected} only; re-export it with this version: {command}")]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
        /// The `unival export` command line that re-creates the bundle.
        command: String,
    },
    #[error("{path}: graph `{graph}` lacks input `{input}`, which format {FORMAT_VERSION} requires (the bundle was not written by `unival export`; re-export it)")]
    MissingInput {
        path: PathBuf,
        graph: String,
        input: &'static str,
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
    /// A name that would reach outside the bundle folder ([`crate::confine`]).
    #[error("{named_in}: refusing `{entry}`: it {reason}; a bundle may name only plain files inside its own folder")]
    OutsideBundle {
        /// The manifest or graph file that names it.
        named_in: PathBuf,
        /// The offending name, as written.
        entry: String,
        reason: String,
    },
    /// A graph's tensor keeps its data in a file the manifest does not list (so unverified).
    #[error("{graph}: tensor `{tensor}` keeps its data in `{location}`, which the manifest does not list (its sha256 is unchecked)")]
    UnlistedExternalData {
        graph: PathBuf,
        tensor: String,
        location: String,
    },
    /// A graph file that is not a readable ONNX protobuf.
    #[error("{path}: not a readable ONNX model: {reason}")]
    BadGraph { path: PathBuf, reason: String },
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

/// How the waveform becomes the log-mel the audio graph takes (docs/model.md §2.4).
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
        let parse_error = |source| ManifestError::Parse {
            path: path.clone(),
            source,
        };
        // The version first: another format's fields would not parse, and its error would hide
        // the one thing to do (re-export).
        let probe: VersionProbe = serde_json::from_str(&text).map_err(parse_error)?;
        if probe.format_version != FORMAT_VERSION {
            return Err(ManifestError::Version {
                command: probe.export_command(dir),
                path,
                found: probe.format_version,
                expected: FORMAT_VERSION,
            });
        }
        let manifest: Manifest = serde_json::from_str(&text).map_err(parse_error)?;
        manifest.check_decoder_inputs(&path)?;
        for name in manifest.named_files() {
            bundle_path(dir, name, &path)?;
        }
        Ok(manifest)
    }

    /// Every file name the manifest refers to: the hashed files, the graphs and their
    /// external data, the audio front end's kernels. Each must stay inside the bundle
    /// ([`crate::confine`]).
    pub fn named_files(&self) -> impl Iterator<Item = &str> {
        let graphs = self
            .graphs
            .values()
            .flat_map(|g| std::iter::once(&g.file).chain(&g.external_data));
        let kernels = self.model.audio.iter().map(|a| &a.stft_kernels);
        self.files
            .keys()
            .chain(graphs)
            .chain(kernels)
            .map(String::as_str)
    }

    /// The path of graph file or bundle file `name` in `dir`, confined to it
    /// ([`crate::confine::bundle_path`]).
    pub fn file_path(&self, dir: &Path, name: &str) -> Result<PathBuf, ManifestError> {
        bundle_path(dir, name, &dir.join(MANIFEST_FILE))
    }

    /// Checks every external-data `location` inside every graph ([`crate::onnx_refs`]): each
    /// must be a plain file name inside `dir` that the manifest lists (and so hashes). Run it
    /// before ONNX Runtime opens a graph: it resolves locations itself and would read anything.
    pub fn check_external_data(&self, dir: &Path) -> Result<(), ManifestError> {
        for spec in self.graphs.values() {
            let graph = self.file_path(dir, &spec.file)?;
            let refs = external_refs(&graph).map_err(|reason| ManifestError::BadGraph {
                path: graph.clone(),
                reason,
            })?;
            for r in refs {
                bundle_path(dir, &r.location, &graph)?;
                if !self.files.contains_key(&r.location) {
                    return Err(ManifestError::UnlistedExternalData {
                        graph,
                        tensor: r.tensor,
                        location: r.location,
                    });
                }
            }
        }
        Ok(())
    }

    /// Format 2 guarantees the decoder's `beam_order` (the cache is reordered in the graph) and
    /// `vocab_rows` (constrained steps score only the allowed rows) inputs; the runtime has no
    /// path without them.
    fn check_decoder_inputs(&self, path: &Path) -> Result<(), ManifestError> {
        let Some(decoder) = self.graphs.get(io::graph::DECODER) else {
            return Ok(());
        };
        for input in [io::BEAM_ORDER, io::VOCAB_ROWS] {
            if !decoder.inputs.iter().any(|s| s.name == input) {
                return Err(ManifestError::MissingInput {
                    path: path.to_path_buf(),
                    graph: io::graph::DECODER.to_string(),
                    input,
                });
            }
        }
        Ok(())
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
            let path = self.file_path(dir, name)?;
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

/// The fields every format shares, read before the rest so that a manifest of another
/// format gets a version error naming the command that re-exports it.
#[derive(Deserialize)]
struct VersionProbe {
    format_version: u32,
    #[serde(default)]
    source: Option<ProbeSource>,
    #[serde(default)]
    task: Option<ProbeTask>,
}

#[derive(Deserialize)]
struct ProbeSource {
    checkpoint: String,
}

#[derive(Deserialize)]
struct ProbeTask {
    task: String,
}

impl VersionProbe {
    /// `unival export --checkpoint … --task … --out DIR`, with the manifest's own checkpoint
    /// and task where it records them.
    fn export_command(&self, dir: &Path) -> String {
        let checkpoint = self
            .source
            .as_ref()
            .map_or("CHECKPOINT", |s| s.checkpoint.as_str());
        let mut command = format!("unival export --checkpoint {checkpoint}");
        if let Some(t) = &self.task {
            command.push_str(&format!(" --task {}", t.task));
        }
        command.push_str(&format!(" --out {}", dir.display()));
        command
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::task::TaskKind;

    fn decoder_with(inputs: &[&str]) -> GraphSpec {
        GraphSpec {
            file: "decoder.onnx".into(),
            external_data: None,
            inputs: inputs
                .iter()
                .map(|n| TensorSpec {
                    name: (*n).into(),
                    dtype: DType::I64,
                    dims: vec![Dim::Symbol("n".into())],
                })
                .collect(),
            outputs: Vec::new(),
        }
    }

    fn manifest(decoder: GraphSpec) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            exporter_version: "test".into(),
            name: "t".into(),
            source: SourceInfo {
                checkpoint: "ckpt.pt".into(),
                sha256: String::new(),
                weights: "model".into(),
                saved_task: None,
            },
            precision: Precision::Fp32,
            model: ModelInfo {
                embed_dim: 8,
                heads: 2,
                head_dim: 4,
                encoder_layers: 1,
                decoder_layers: 1,
                ffn_dim: 16,
                max_source_positions: 16,
                max_target_positions: 16,
                token_bucket_size: 8,
                image_bucket_size: 8,
                modalities: vec![Modality::Image],
                backbones: BTreeMap::new(),
                audio: None,
            },
            vocab: VocabInfo::standard(8192, 1000),
            task: TaskKind::Caption.defaults(),
            graphs: BTreeMap::from([(io::graph::DECODER.to_string(), decoder)]),
            files: BTreeMap::new(),
        }
    }

    #[test]
    fn format_two_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(decoder_with(&[io::TOKENS, io::BEAM_ORDER, io::VOCAB_ROWS]));
        m.save(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(text.contains(r#""modality": "image""#), "{text}");
    }

    #[test]
    fn a_format_one_bundle_is_told_how_to_re_export() {
        let dir = tempfile::tempdir().unwrap();
        let old = serde_json::json!({
            "format_version": 1,
            "source": {"checkpoint": "caption_best.pt"},
            "task": {"task": "caption", "image_size": 480, "num_frames": 0},
        });
        std::fs::write(dir.path().join(MANIFEST_FILE), old.to_string()).unwrap();
        let err = Manifest::load(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                ManifestError::Version {
                    found: 1,
                    expected: 2,
                    ..
                }
            ),
            "{err}"
        );
        let text = err.to_string();
        let want = format!(
            "exported with format 1, this build reads format 2 only; re-export it with this \
             version: unival export --checkpoint caption_best.pt --task caption --out {}",
            dir.path().display()
        );
        assert!(text.contains(&want), "{text}");
    }

    #[test]
    fn a_decoder_without_beam_order_or_vocab_rows_is_refused() {
        for missing in [io::BEAM_ORDER, io::VOCAB_ROWS] {
            let dir = tempfile::tempdir().unwrap();
            let inputs: Vec<&str> = [io::TOKENS, io::BEAM_ORDER, io::VOCAB_ROWS]
                .into_iter()
                .filter(|n| *n != missing)
                .collect();
            manifest(decoder_with(&inputs)).save(dir.path()).unwrap();
            let err = Manifest::load(dir.path()).unwrap_err();
            assert!(
                matches!(&err, ManifestError::MissingInput { input, .. } if *input == missing),
                "{err}"
            );
        }
    }
}
