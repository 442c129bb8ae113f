//! A named set of tensors (`state['model']` or `extra_state['ema']`, docs/model.md §3.1), in file
//! order, with the lookups an exporter needs: by name, with a shape check, with a typed error that
//! names the file and key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::container::TorchZip;
use super::error::{CheckpointError, Result};
use super::tensor::{Storage, StorageType, Tensor};
use super::value::{Dict, Heap, Node, Value};

/// Tensors by state-dict key, in the order the file lists them.
#[derive(Clone, Debug)]
pub struct StateDict {
    file: PathBuf,
    tensors: Vec<(String, Tensor)>,
    index: HashMap<String, usize>,
}

impl StateDict {
    /// Builds a state dict from `(name, tensor)` pairs; a repeated name keeps the last tensor.
    pub fn from_tensors(file: &Path, tensors: Vec<(String, Tensor)>) -> StateDict {
        let mut sd = StateDict {
            file: file.to_path_buf(),
            tensors: Vec::with_capacity(tensors.len()),
            index: HashMap::new(),
        };
        for (name, t) in tensors {
            if let Some(&i) = sd.index.get(&name) {
                sd.tensors[i].1 = t;
            } else {
                sd.index.insert(name.clone(), sd.tensors.len());
                sd.tensors.push((name, t));
            }
        }
        sd
    }

    /// The file the tensors come from (used in error messages).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The tensor stored under `name`; `MissingKey` naming file and key otherwise.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.index
            .get(name)
            .and_then(|&i| self.tensors.get(i))
            .map(|(_, t)| t)
            .ok_or_else(|| CheckpointError::MissingKey {
                file: self.file.clone(),
                keys: vec![name.to_string()],
            })
    }

    /// The tensor under `name`, checked to have exactly `shape` (`BadShape` otherwise).
    pub fn expect_shape(&self, name: &str, shape: &[usize]) -> Result<&Tensor> {
        let t = self.get(name)?;
        if t.shape() != shape {
            return Err(CheckpointError::BadShape {
                file: self.file.clone(),
                key: name.to_string(),
                expected: shape.to_vec(),
                actual: t.shape().to_vec(),
            });
        }
        Ok(t)
    }

    /// Fails with one `MissingKey` error listing every absent name.
    pub fn require<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let keys: Vec<String> = names
            .into_iter()
            .filter(|n| !self.contains(n))
            .map(str::to_string)
            .collect();
        if keys.is_empty() {
            Ok(())
        } else {
            Err(CheckpointError::MissingKey {
                file: self.file.clone(),
                keys,
            })
        }
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Key names in file order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(k, _)| k.as_str())
    }

    /// `(name, tensor)` pairs in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(k, t)| (k.as_str(), t))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }
}

/// Materialises the tensors of a pickled dict (`OrderedDict` of rebuilt tensors) over the zip's
/// storages. Storages are shared through `cache` (keyed by record), so tensors that the file
/// stores once are one [`Storage`] here too. Entries that are not tensors are skipped.
pub(crate) fn from_pickle(
    file: &Path,
    heap: &Heap,
    dict: &Dict,
    zip: &TorchZip,
    cache: &mut HashMap<String, Arc<Storage>>,
) -> Result<StateDict> {
    let mut tensors = Vec::with_capacity(dict.entries().len());
    for (k, v) in dict.entries() {
        let Value::Str(name) = k else { continue };
        let Some(Node::Tensor(t)) = heap.node(v) else {
            continue;
        };
        let bad = |detail: String| CheckpointError::BadTensor {
            file: file.to_path_buf(),
            key: name.to_string(),
            detail,
        };
        let dtype = StorageType::from_torch_storage_name(&t.storage.class).ok_or_else(|| {
            CheckpointError::UnsupportedDtype {
                file: file.to_path_buf(),
                key: name.to_string(),
                dtype: t.storage.class.clone(),
                detail: "storage class not understood".into(),
            }
        })?;
        let numel = usize::try_from(t.storage.numel)
            .map_err(|_| bad(format!("negative storage size {}", t.storage.numel)))?;
        let storage = match cache.get(&t.storage.key) {
            Some(s) if s.dtype() == dtype => Arc::clone(s),
            Some(s) => {
                return Err(bad(format!(
                    "storage '{}' is used both as {} and {dtype}",
                    t.storage.key,
                    s.dtype()
                )))
            }
            None => {
                let s = Arc::new(zip.storage(&t.storage.key, dtype, numel)?);
                cache.insert(t.storage.key.clone(), Arc::clone(&s));
                s
            }
        };
        let to_usize = |v: &[i64], what: &str| -> Result<Vec<usize>> {
            v.iter()
                .map(|&x| usize::try_from(x).map_err(|_| bad(format!("negative {what} {x}"))))
                .collect()
        };
        let shape = to_usize(&t.shape, "size")?;
        let strides = to_usize(&t.stride, "stride")?;
        let offset = usize::try_from(t.offset)
            .map_err(|_| bad(format!("negative storage offset {}", t.offset)))?;
        let tensor = Tensor::new(name, storage, shape, strides, offset)?;
        tensors.push((name.to_string(), tensor));
    }
    Ok(StateDict::from_tensors(file, tensors))
}
