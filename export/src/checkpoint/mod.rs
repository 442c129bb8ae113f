//! Reading released fairseq/UnIVAL checkpoints without Python and without executing anything
//! (docs/model.md §3.3–3.4).
//!
//! [`Checkpoint::open`] accepts a torch zip `.pt` (memory-mapped; tensors view the map) or a
//! `.safetensors` file with a JSON config beside it. It picks the weights (`extra_state['ema']`
//! when present, as the original VQA evaluation does, else `model`), reads `cfg['model']`,
//! `cfg['task']` and `cfg['generation']`, and never materialises `last_optimizer_state`: storages
//! are only touched for the state dict that was chosen.
//!
//! Writing checkpoints in the same format (for tests and benchmarks) lives in [`writer`];
//! [`read_pickle_json`] reads the original's plain pickle side files (`ans2label.pkl`).

mod container;
mod error;
mod pickle;
mod plain_pickle;
mod safetensors;
mod state_dict;
mod tensor;
mod value;
pub mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use memmap2::Mmap;
use sha2::{Digest, Sha256};

pub use error::{CheckpointError, Result};
pub use plain_pickle::read_pickle_json;
pub use safetensors::{safetensors_header, write_safetensors, CONFIG_METADATA_KEY};
pub use state_dict::StateDict;
pub use tensor::{Storage, StorageType, Tensor};

pub(crate) use container::TorchZip;
pub(crate) use value::{Heap, Node, Object, Value};

/// Which weights to read from a checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightsChoice {
    /// `extra_state['ema']` when the file has it (VQA, video QA), otherwise `model`.
    #[default]
    Auto,
    /// `extra_state['ema']`; `NoEma` error if absent.
    Ema,
    /// `state['model']`.
    Model,
}

/// Where the chosen weights came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum WeightsSource {
    /// `extra_state['ema']`.
    Ema,
    /// `state['model']` (or the single tensor set of a safetensors file).
    Model,
}

/// What a checkpoint holds besides its weights: what a caller needs to choose the weights
/// before they are read (see [`Checkpoint::open_choosing`]).
#[derive(Debug, Clone, Copy)]
pub struct Contents<'a> {
    /// Whether the file stores EMA weights.
    pub has_ema: bool,
    /// `cfg['task']` as JSON (`Null` when absent).
    pub task_cfg: &'a serde_json::Value,
}

/// An opened checkpoint: chosen weights plus the configuration saved with them.
pub struct Checkpoint {
    /// The file that was opened (the `.pt` or the `.safetensors`).
    pub path: PathBuf,
    /// The chosen weights.
    pub weights: StateDict,
    /// Whether `weights` are the EMA or the raw model weights.
    pub weights_source: WeightsSource,
    /// Whether the file stores EMA weights at all.
    pub has_ema: bool,
    /// `cfg['model']` (an `argparse.Namespace`) as a JSON map: the authoritative architecture.
    pub model_args: serde_json::Map<String, serde_json::Value>,
    /// `cfg['task']` as JSON (`Null` when absent).
    pub task_cfg: serde_json::Value,
    /// `cfg['generation']` as JSON (`Null` when absent).
    pub generation_cfg: serde_json::Value,
    map: Arc<Mmap>,
    sha256: OnceLock<String>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("path", &self.path)
            .field("weights", &self.weights.len())
            .field("weights_source", &self.weights_source)
            .field("has_ema", &self.has_ema)
            .finish()
    }
}

impl Checkpoint {
    /// Opens a torch zip checkpoint, or a `.safetensors` file whose config is `<stem>.json`
    /// in the same directory.
    pub fn open(path: impl AsRef<Path>, choice: WeightsChoice) -> Result<Checkpoint> {
        Self::open_choosing(path, |_| choice)
    }

    /// [`Checkpoint::open`] with the weights chosen by `choose` from the file's [`Contents`],
    /// so a caller whose choice depends on the saved task opens the file once.
    pub fn open_choosing(
        path: impl AsRef<Path>,
        choose: impl FnOnce(&Contents) -> WeightsChoice,
    ) -> Result<Checkpoint> {
        let path = path.as_ref();
        if path.extension().is_some_and(|e| e == "safetensors") {
            return Self::safetensors_choosing(path, &path.with_extension("json"), choose);
        }
        let raw = RawCheckpoint::open(path)?;
        Self::from_pickle(path, raw.map, &raw.zip, &raw.heap, &raw.root, choose)
    }

    /// Opens `weights` (safetensors) with its JSON config
    /// `{"model": {...cfg['model']...}, "task": {...}, "generation": {...}}`.
    pub fn open_safetensors(
        weights: impl AsRef<Path>,
        config: impl AsRef<Path>,
        choice: WeightsChoice,
    ) -> Result<Checkpoint> {
        Self::safetensors_choosing(weights.as_ref(), config.as_ref(), |_| choice)
    }

    /// A missing `config` file falls back to the config embedded in the file's
    /// `__metadata__` (as `unival merge` writes it), so a merged file travels alone.
    fn safetensors_choosing(
        path: &Path,
        config: &Path,
        choose: impl FnOnce(&Contents) -> WeightsChoice,
    ) -> Result<Checkpoint> {
        let (map, weights, embedded) = safetensors::read(path)?;
        let cfg = match embedded {
            Some(text) if !config.exists() => safetensors::parse_config(path, text.as_bytes())?,
            _ => safetensors::read_config(config)?,
        };
        let contents = Contents {
            has_ema: false,
            task_cfg: &cfg.task,
        };
        if choose(&contents) == WeightsChoice::Ema {
            return Err(CheckpointError::NoEma {
                file: path.to_path_buf(),
            });
        }
        Ok(Checkpoint {
            path: path.to_path_buf(),
            weights,
            weights_source: WeightsSource::Model,
            has_ema: false,
            model_args: cfg.model,
            task_cfg: cfg.task,
            generation_cfg: cfg.generation,
            map,
            sha256: OnceLock::new(),
        })
    }

    /// Lower-case hex SHA-256 of the weights file (computed on first use, then cached).
    pub fn sha256(&self) -> &str {
        self.sha256.get_or_init(|| {
            let mut h = Sha256::new();
            for chunk in self.map.chunks(1 << 22) {
                h.update(chunk);
            }
            hex::encode(h.finalize())
        })
    }

    fn from_pickle(
        path: &Path,
        map: Arc<Mmap>,
        zip: &TorchZip,
        heap: &Heap,
        root: &Value,
        choose: impl FnOnce(&Contents) -> WeightsChoice,
    ) -> Result<Checkpoint> {
        let top = heap
            .dict(root)
            .ok_or_else(|| CheckpointError::not_unival(path, "top-level object is not a dict"))?;
        let model = top
            .get("model")
            .and_then(|m| heap.dict(m))
            .ok_or_else(|| CheckpointError::not_unival(path, "no 'model' state dict"))?;
        let ema = top
            .get("extra_state")
            .and_then(|e| heap.dict(e))
            .and_then(|e| e.get("ema"))
            .and_then(|e| heap.dict(e));

        let cfg = top.get("cfg").and_then(|c| heap.dict(c));
        // Old fairseq files keep the Namespace in `args` and have no `cfg`.
        let namespace = cfg
            .and_then(|c| c.get("model"))
            .or_else(|| top.get("args"))
            .and_then(|m| heap.object_attrs(m).map(|_| m))
            .ok_or_else(|| CheckpointError::not_unival(path, "no cfg['model'] namespace"))?;
        let json = |v: &Value, what: &str| {
            heap.to_json(v)
                .map_err(|e| CheckpointError::not_unival(path, format!("{what}: {e}")))
        };
        let model_args = match json(namespace, "cfg['model']")? {
            serde_json::Value::Object(m) => m,
            _ => {
                return Err(CheckpointError::not_unival(
                    path,
                    "cfg['model'] is not a namespace",
                ))
            }
        };
        let section = |name: &str| match cfg.and_then(|c| c.get(name)) {
            Some(v) => json(v, name),
            None => Ok(serde_json::Value::Null),
        };
        let task_cfg = section("task")?;
        let generation_cfg = section("generation")?;
        let contents = Contents {
            has_ema: ema.is_some(),
            task_cfg: &task_cfg,
        };
        let (chosen, source) = match (choose(&contents), ema) {
            (WeightsChoice::Auto | WeightsChoice::Ema, Some(e)) => (e, WeightsSource::Ema),
            (WeightsChoice::Ema, None) => {
                return Err(CheckpointError::NoEma {
                    file: path.to_path_buf(),
                })
            }
            _ => (model, WeightsSource::Model),
        };

        let mut cache = HashMap::new();
        let weights = state_dict::from_pickle(path, heap, chosen, zip, &mut cache)?;
        if weights.is_empty() {
            return Err(CheckpointError::not_unival(
                path,
                "the state dict holds no tensors",
            ));
        }
        Ok(Checkpoint {
            path: path.to_path_buf(),
            weights,
            weights_source: source,
            has_ema: ema.is_some(),
            model_args,
            task_cfg,
            generation_cfg,
            map,
            sha256: OnceLock::new(),
        })
    }
}

/// A torch zip checkpoint's whole pickled object tree over its mapped records, for tools that
/// rewrite a checkpoint (`unival merge` keeps the first input's metadata).
pub(crate) struct RawCheckpoint {
    /// The memory map every mapped storage views.
    pub(crate) map: Arc<Mmap>,
    /// The zip records.
    pub(crate) zip: TorchZip,
    /// Containers of the unpickled tree.
    pub(crate) heap: Heap,
    /// The top-level object (fairseq's dict).
    pub(crate) root: Value,
}

impl RawCheckpoint {
    /// Maps `path` and unpickles its `data.pkl` (nothing is executed).
    pub(crate) fn open(path: &Path) -> Result<RawCheckpoint> {
        let map = container::map_file(path)?;
        let zip = TorchZip::open(path, Arc::clone(&map))?;
        let pkl = zip.data_pkl()?;
        let (heap, root) = pickle::load(&pkl).map_err(|f| CheckpointError::Pickle {
            file: path.to_path_buf(),
            offset: f.offset,
            opcode: f.opcode_text(),
            detail: f.detail.clone(),
        })?;
        Ok(RawCheckpoint {
            map,
            zip,
            heap,
            root,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "corrupt_tests.rs"]
mod corrupt_tests;
