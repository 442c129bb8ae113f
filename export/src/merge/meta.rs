//! Copies the first checkpoint's metadata (`cfg`, `args`, `optimizer_history`, `extra_state`…)
//! from its unpickled tree back into [`PyObj`]s for the merged file.
//!
//! Plain data (numbers, strings, bytes, lists, tuples, dicts, sets, `argparse.Namespace`) is
//! copied as is; tensors keep their values (their storages are copied record by record, see
//! [`MetaCopier::storages`]); objects of other classes are written back as
//! `class(*args)` + `BUILD state`. Dict subclasses become plain dicts (Python keeps their order).

use std::collections::HashMap;

use crate::checkpoint::writer::{PyObj, TensorMeta};
use crate::checkpoint::{Heap, Node, Object, StorageType, Value};

/// Deepest nesting copied (fairseq's metadata is a few levels deep; a cycle would be endless).
const MAX_DEPTH: usize = 64;

/// A storage of the first checkpoint that the copied metadata refers to.
pub(crate) struct CopiedStorage {
    /// Record key in the first checkpoint.
    pub(crate) old_key: String,
    /// Record key in the merged file.
    pub(crate) new_key: String,
    /// Element type.
    pub(crate) dtype: StorageType,
    /// Elements the pickle declares.
    pub(crate) numel: usize,
}

/// Converts values of one heap, renaming the storages they use.
pub(crate) struct MetaCopier<'a> {
    heap: &'a Heap,
    next_key: usize,
    renamed: HashMap<String, usize>,
    /// Storages to copy, in first-use order.
    pub(crate) storages: Vec<CopiedStorage>,
}

impl<'a> MetaCopier<'a> {
    /// New storage keys start at `first_key` (the merged tensors use the keys below it).
    pub(crate) fn new(heap: &'a Heap, first_key: usize) -> Self {
        MetaCopier {
            heap,
            next_key: first_key,
            renamed: HashMap::new(),
            storages: Vec::new(),
        }
    }

    /// The heap's dict behind `v`, as `(key, value)` entries.
    pub(crate) fn dict_entries(&self, v: &Value) -> Option<&'a [(Value, Value)]> {
        self.heap.dict(v).map(|d| d.entries())
    }

    /// Copies `v`; `path` names it in errors (`extra_state.metrics`).
    pub(crate) fn copy(&mut self, v: &Value, path: &str) -> Result<PyObj, (String, String)> {
        self.rec(v, path, 0)
    }

    fn rec(&mut self, v: &Value, path: &str, depth: usize) -> Result<PyObj, (String, String)> {
        if depth > MAX_DEPTH {
            return Err((path.into(), "nested too deeply (or cyclic)".into()));
        }
        Ok(match v {
            Value::None => PyObj::None,
            Value::Bool(b) => PyObj::Bool(*b),
            Value::Int(i) => PyObj::Int(*i),
            Value::BigInt(b) => PyObj::BigInt(b.to_vec()),
            Value::Float(f) => PyObj::Float(*f),
            Value::Str(s) => PyObj::Str(s.to_string()),
            Value::Bytes(b) => PyObj::Bytes(b.to_vec()),
            Value::Ref(_) => self.node(v, path, depth)?,
        })
    }

    fn items(
        &mut self,
        items: &[Value],
        path: &str,
        depth: usize,
    ) -> Result<Vec<PyObj>, (String, String)> {
        items
            .iter()
            .enumerate()
            .map(|(i, x)| self.rec(x, &format!("{path}[{i}]"), depth + 1))
            .collect()
    }

    fn node(&mut self, v: &Value, path: &str, depth: usize) -> Result<PyObj, (String, String)> {
        let heap = self.heap;
        Ok(match heap.node(v) {
            None => PyObj::None,
            Some(Node::Tuple(items)) => PyObj::Tuple(self.items(items, path, depth)?),
            Some(Node::List(items)) => PyObj::List(self.items(items, path, depth)?),
            Some(Node::Set(items)) => PyObj::Reduce {
                callable: Box::new(global("builtins", "set")),
                args: vec![PyObj::List(self.items(items, path, depth)?)],
                state: None,
            },
            Some(Node::Dict(d)) => {
                let mut out = Vec::with_capacity(d.entries().len());
                for (k, x) in d.entries() {
                    let name = key_text(k);
                    let key = self.rec(k, path, depth + 1)?;
                    out.push((key, self.rec(x, &format!("{path}.{name}"), depth + 1)?));
                }
                PyObj::Dict(out)
            }
            Some(Node::Global { module, name }) => global(module, name),
            Some(Node::Object(o)) => self.object(o, path, depth)?,
            Some(Node::Storage(_)) => {
                return Err((path.into(), "a bare storage outside a tensor".into()))
            }
            Some(Node::Tensor(t)) => {
                let dtype =
                    StorageType::from_torch_storage_name(&t.storage.class).ok_or_else(|| {
                        (
                            path.to_string(),
                            format!("storage class {}", t.storage.class),
                        )
                    })?;
                let usize_of = |x: i64| {
                    usize::try_from(x).map_err(|_| (path.to_string(), format!("negative size {x}")))
                };
                let numel = usize_of(t.storage.numel)?;
                let key = self.storage_key(&t.storage.key, dtype, numel);
                PyObj::Tensor(TensorMeta {
                    storage: key,
                    dtype,
                    storage_numel: numel,
                    offset: usize_of(t.offset)?,
                    shape: t
                        .shape
                        .iter()
                        .map(|&x| usize_of(x))
                        .collect::<Result<_, _>>()?,
                    strides: t
                        .stride
                        .iter()
                        .map(|&x| usize_of(x))
                        .collect::<Result<_, _>>()?,
                })
            }
        })
    }

    fn object(&mut self, o: &Object, path: &str, depth: usize) -> Result<PyObj, (String, String)> {
        if o.module == "argparse" && o.name == "Namespace" {
            if let Some(attrs) = o.state.as_ref().and_then(|s| self.heap.dict(s)) {
                let mut out = Vec::with_capacity(attrs.entries().len());
                for (k, x) in attrs.entries() {
                    let Value::Str(name) = k else {
                        return Err((path.into(), "namespace attribute is not a string".into()));
                    };
                    out.push((
                        name.to_string(),
                        self.rec(x, &format!("{path}.{name}"), depth + 1)?,
                    ));
                }
                return Ok(PyObj::Namespace(out));
            }
        }
        let args = self.items(&o.args, path, depth)?;
        let state = match &o.state {
            Some(s) => Some(Box::new(self.rec(s, path, depth + 1)?)),
            None => None,
        };
        Ok(PyObj::Reduce {
            callable: Box::new(global(&o.module, &o.name)),
            args,
            state,
        })
    }

    fn storage_key(&mut self, old: &str, dtype: StorageType, numel: usize) -> String {
        if let Some(&i) = self.renamed.get(old) {
            return self.storages[i].new_key.clone();
        }
        let new_key = self.next_key.to_string();
        self.next_key += 1;
        self.renamed.insert(old.to_string(), self.storages.len());
        self.storages.push(CopiedStorage {
            old_key: old.to_string(),
            new_key: new_key.clone(),
            dtype,
            numel,
        });
        new_key
    }
}

/// A JSON config value as the Python object fairseq would have saved (objects → dicts).
pub(crate) fn from_json(v: &serde_json::Value) -> PyObj {
    use serde_json::Value as J;
    match v {
        J::Null => PyObj::None,
        J::Bool(b) => PyObj::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => PyObj::Int(i),
            None => PyObj::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => PyObj::Str(s.clone()),
        J::Array(items) => PyObj::List(items.iter().map(from_json).collect()),
        J::Object(m) => PyObj::dict(m.iter().map(|(k, x)| (k.clone(), from_json(x)))),
    }
}

fn global(module: &str, name: &str) -> PyObj {
    PyObj::Global {
        module: module.to_string(),
        name: name.to_string(),
    }
}

/// A dict key as text for error paths.
pub(crate) fn key_text(k: &Value) -> String {
    match k {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}
