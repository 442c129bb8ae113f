//! Writing checkpoints in exactly the format `torch.save` produces (docs/model.md §3.4): a zip
//! archive of STORED records aligned to 64 bytes — `<prefix>/data.pkl` (pickle protocol 2),
//! `<prefix>/byteorder`, `<prefix>/data/<key>` storages, `<prefix>/version`,
//! `<prefix>/.data/serialization_id`.
//!
//! The object tree is described by [`PyObj`]; tensors reference storages by key, and storage
//! bytes are streamed record by record through [`TorchZipWriter::write_storage`], so a
//! gigabyte checkpoint never has to be held in memory.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::error::{CheckpointError, Result};
use super::tensor::StorageType;

/// A Python object of the subset fairseq checkpoints contain.
#[derive(Clone, Debug, PartialEq)]
pub enum PyObj {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// `int`.
    Int(i64),
    /// `float`.
    Float(f64),
    /// `str`.
    Str(String),
    /// `list`.
    List(Vec<PyObj>),
    /// `tuple`.
    Tuple(Vec<PyObj>),
    /// `dict` with arbitrary keys.
    Dict(Vec<(PyObj, PyObj)>),
    /// `collections.OrderedDict` with string keys (a state dict).
    OrderedDict(Vec<(String, PyObj)>),
    /// `argparse.Namespace(**attrs)` (`cfg['model']`), pickled as NEWOBJ + BUILD.
    Namespace(Vec<(String, PyObj)>),
    /// A tensor rebuilt by `torch._utils._rebuild_tensor_v2` from a persistent storage.
    Tensor(TensorMeta),
    /// `bytes`, pickled as protocol 2 does: `_codecs.encode(<latin-1 text>, 'latin1')`.
    Bytes(Vec<u8>),
    /// An integer wider than `i64`: little-endian two's complement (LONG1).
    BigInt(Vec<u8>),
    /// A global reference (`module.name`): a class or function.
    Global {
        /// Module path.
        module: String,
        /// Attribute name.
        name: String,
    },
    /// `callable(*args)`, then `BUILD` with `state` when present: how objects of other classes
    /// are written back (rebuilt by calling their class or factory).
    Reduce {
        /// The callable (usually a [`PyObj::Global`]).
        callable: Box<PyObj>,
        /// Positional arguments.
        args: Vec<PyObj>,
        /// `__setstate__` / `__dict__` state.
        state: Option<Box<PyObj>>,
    },
}

impl PyObj {
    /// `Str` from anything string-like.
    pub fn str(s: impl Into<String>) -> PyObj {
        PyObj::Str(s.into())
    }

    /// A `dict` with string keys.
    pub fn dict<K: Into<String>>(entries: impl IntoIterator<Item = (K, PyObj)>) -> PyObj {
        PyObj::Dict(
            entries
                .into_iter()
                .map(|(k, v)| (PyObj::Str(k.into()), v))
                .collect(),
        )
    }
}

/// Metadata of one pickled tensor: a view of storage record `storage`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorMeta {
    /// Record key (`data/<storage>`); tensors with equal keys share the storage.
    pub storage: String,
    /// Storage element type (selects `torch.HalfStorage`, ...).
    pub dtype: StorageType,
    /// Elements in the storage record.
    pub storage_numel: usize,
    /// Offset of the first element, in elements.
    pub offset: usize,
    /// Shape.
    pub shape: Vec<usize>,
    /// Strides in elements.
    pub strides: Vec<usize>,
}

impl TensorMeta {
    /// A contiguous tensor covering all of its own storage.
    pub fn contiguous(
        storage: impl Into<String>,
        dtype: StorageType,
        shape: &[usize],
    ) -> TensorMeta {
        let mut strides = vec![1usize; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * shape[i + 1];
        }
        TensorMeta {
            storage: storage.into(),
            dtype,
            storage_numel: shape.iter().product(),
            offset: 0,
            shape: shape.to_vec(),
            strides,
        }
    }
}

/// Serialises `obj` as a protocol-2 pickle the way `torch.save` lays it out.
pub fn pickle(obj: &PyObj) -> Vec<u8> {
    let mut out = vec![0x80, 2];
    emit(&mut out, obj);
    out.push(b'.');
    out
}

fn emit_global(out: &mut Vec<u8>, module: &str, name: &str) {
    out.push(b'c');
    out.extend_from_slice(module.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
}

fn emit_int(out: &mut Vec<u8>, i: i64) {
    if (0..256).contains(&i) {
        out.extend([b'K', i as u8]);
    } else if (0..65536).contains(&i) {
        out.push(b'M');
        out.extend((i as u16).to_le_bytes());
    } else if i32::try_from(i).is_ok() {
        out.push(b'J');
        out.extend((i as i32).to_le_bytes());
    } else {
        out.extend([0x8a, 8]);
        out.extend(i.to_le_bytes());
    }
}

fn emit_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'X');
    out.extend((s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn emit_tuple(out: &mut Vec<u8>, items: &[PyObj]) {
    match items.len() {
        0 => out.push(b')'),
        n @ 1..=3 => {
            items.iter().for_each(|x| emit(out, x));
            out.push(0x84 + n as u8);
        }
        _ => {
            out.push(b'(');
            items.iter().for_each(|x| emit(out, x));
            out.push(b't');
        }
    }
}

/// SETITEMS in batches of 1000, as CPython's pickler does.
fn emit_items<'a>(out: &mut Vec<u8>, entries: impl Iterator<Item = (PyObjKey<'a>, &'a PyObj)>) {
    let entries: Vec<_> = entries.collect();
    for batch in entries.chunks(1000) {
        out.push(b'(');
        for (k, v) in batch {
            match k {
                PyObjKey::Str(s) => emit_str(out, s),
                PyObjKey::Obj(o) => emit(out, o),
            }
            emit(out, v);
        }
        out.push(b'u');
    }
}

enum PyObjKey<'a> {
    Str(&'a str),
    Obj(&'a PyObj),
}

fn ints(v: &[usize]) -> Vec<PyObj> {
    v.iter().map(|&x| PyObj::Int(x as i64)).collect()
}

fn emit(out: &mut Vec<u8>, obj: &PyObj) {
    match obj {
        PyObj::None => out.push(b'N'),
        PyObj::Bool(b) => out.push(if *b { 0x88 } else { 0x89 }),
        PyObj::Int(i) => emit_int(out, *i),
        PyObj::Float(f) => {
            out.push(b'G');
            out.extend(f.to_be_bytes());
        }
        PyObj::Str(s) => emit_str(out, s),
        PyObj::List(items) => {
            out.push(b']');
            if !items.is_empty() {
                out.push(b'(');
                items.iter().for_each(|x| emit(out, x));
                out.push(b'e');
            }
        }
        PyObj::Tuple(items) => emit_tuple(out, items),
        PyObj::Dict(entries) => {
            out.push(b'}');
            emit_items(out, entries.iter().map(|(k, v)| (PyObjKey::Obj(k), v)));
        }
        PyObj::OrderedDict(entries) => {
            emit_global(out, "collections", "OrderedDict");
            out.extend([b')', b'R']);
            emit_items(out, entries.iter().map(|(k, v)| (PyObjKey::Str(k), v)));
        }
        PyObj::Namespace(attrs) => {
            emit_global(out, "argparse", "Namespace");
            out.extend([b')', 0x81, b'}']);
            emit_items(out, attrs.iter().map(|(k, v)| (PyObjKey::Str(k), v)));
            out.push(b'b');
        }
        PyObj::Bytes(b) => {
            emit_global(out, "_codecs", "encode");
            let text: String = b.iter().map(|&c| char::from(c)).collect();
            emit_tuple(out, &[PyObj::Str(text), PyObj::str("latin1")]);
            out.push(b'R');
        }
        PyObj::BigInt(b) => {
            match u8::try_from(b.len()) {
                Ok(n) => out.extend([0x8a, n]),
                Err(_) => {
                    out.push(0x8b);
                    out.extend((b.len() as u32).to_le_bytes());
                }
            }
            out.extend(b);
        }
        PyObj::Global { module, name } => emit_global(out, module, name),
        PyObj::Reduce {
            callable,
            args,
            state,
        } => {
            emit(out, callable);
            emit_tuple(out, args);
            out.push(b'R');
            if let Some(s) = state {
                emit(out, s);
                out.push(b'b');
            }
        }
        PyObj::Tensor(t) => {
            emit_global(out, "torch._utils", "_rebuild_tensor_v2");
            out.extend([b'(', b'(']);
            emit_str(out, "storage");
            emit_global(out, "torch", t.dtype.torch_storage_name());
            emit_str(out, &t.storage);
            emit_str(out, "cpu");
            emit_int(out, t.storage_numel as i64);
            out.extend([b't', b'Q']);
            emit_int(out, t.offset as i64);
            emit_tuple(out, &ints(&t.shape));
            emit_tuple(out, &ints(&t.strides));
            out.push(0x89);
            emit(out, &PyObj::OrderedDict(vec![]));
            out.extend([b't', b'R']);
        }
    }
}

/// Streams a torch zip checkpoint record by record.
pub struct TorchZipWriter<W: Write + Seek> {
    file: PathBuf,
    prefix: String,
    zip: ZipWriter<W>,
}

impl TorchZipWriter<BufWriter<File>> {
    /// Creates `path`; records are named `<prefix>/...` (torch uses `archive`).
    pub fn create(path: &Path, prefix: &str) -> Result<Self> {
        let f = File::create(path).map_err(|e| CheckpointError::io(path, e))?;
        Ok(Self::new(
            path,
            prefix,
            BufWriter::with_capacity(1 << 20, f),
        ))
    }
}

impl<W: Write + Seek> TorchZipWriter<W> {
    /// Wraps any seekable sink; `file` is only used in error messages.
    pub fn new(file: &Path, prefix: &str, sink: W) -> Self {
        TorchZipWriter {
            file: file.to_path_buf(),
            prefix: prefix.trim_end_matches('/').to_string(),
            zip: ZipWriter::new(sink),
        }
    }

    fn io(&self, e: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::io(&self.file, std::io::Error::other(e.to_string()))
    }

    fn start(&mut self, name: &str) -> Result<()> {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .with_alignment(64)
            .large_file(false);
        let full = format!("{}/{}", self.prefix, name);
        self.zip.start_file(full, options).map_err(|e| self.io(e))
    }

    fn record(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.start(name)?;
        self.zip.write_all(bytes).map_err(|e| self.io(e))
    }

    /// Writes `data.pkl` for `obj` and the `byteorder` record. Call first.
    pub fn write_pickle(&mut self, obj: &PyObj) -> Result<()> {
        self.write_pickle_bytes(&pickle(obj))
    }

    /// Writes an already serialised `data.pkl` (e.g. a hand-made or mutated stream in tests)
    /// and the `byteorder` record. Call first.
    pub fn write_pickle_bytes(&mut self, data: &[u8]) -> Result<()> {
        self.record("data.pkl", data)?;
        self.record("byteorder", b"little")
    }

    /// Writes storage record `data/<key>`; `fill` streams its little-endian bytes.
    pub fn write_storage(
        &mut self,
        key: &str,
        fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        self.start(&format!("data/{key}"))?;
        fill(&mut self.zip).map_err(|e| CheckpointError::io(&self.file, e))
    }

    /// Writes `version` and `.data/serialization_id` and the zip directory.
    pub fn finish(mut self, serialization_id: &str) -> Result<W> {
        self.record("version", b"3\n")?;
        self.record(".data/serialization_id", serialization_id.as_bytes())?;
        let file = self.file.clone();
        let mut sink = self
            .zip
            .finish()
            .map_err(|e| CheckpointError::io(&file, std::io::Error::other(e.to_string())))?;
        sink.flush().map_err(|e| CheckpointError::io(&file, e))?;
        Ok(sink)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::checkpoint::{pickle as unpickle, Checkpoint, WeightsChoice};

    #[test]
    fn pickle_round_trips_through_the_reader() {
        let obj = PyObj::dict([
            ("a", PyObj::Int(-5)),
            ("b", PyObj::Int(1 << 40)),
            ("c", PyObj::Float(0.5)),
            ("d", PyObj::List(vec![PyObj::Bool(true), PyObj::None])),
            ("e", PyObj::Tuple(vec![PyObj::Int(1); 5])),
            ("f", PyObj::Int(70000)),
        ]);
        let (heap, root) = unpickle::load(&pickle(&obj)).unwrap();
        let j = heap.to_json(&root).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"a": -5, "b": 1u64 << 40, "c": 0.5, "d": [true, null],
                               "e": [1, 1, 1, 1, 1], "f": 70000})
        );
    }

    #[test]
    fn written_zip_is_aligned_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pt");
        let w = TensorMeta {
            storage: "0".into(),
            dtype: StorageType::F32,
            storage_numel: 6,
            offset: 0,
            shape: vec![3, 2],
            strides: vec![1, 3],
        };
        let mut view = TensorMeta::contiguous("0", StorageType::F32, &[2]);
        view.storage_numel = 6;
        view.offset = 4;
        let state = PyObj::OrderedDict(vec![
            ("w".into(), PyObj::Tensor(w)),
            ("tail".into(), PyObj::Tensor(view)),
        ]);
        let top = PyObj::dict([
            ("model", state),
            (
                "cfg",
                PyObj::dict([(
                    "model",
                    PyObj::Namespace(vec![("encoder_embed_dim".into(), PyObj::Int(8))]),
                )]),
            ),
        ]);
        let mut zw = TorchZipWriter::create(&path, "checkpoint_best").unwrap();
        zw.write_pickle(&top).unwrap();
        zw.write_storage("0", |out| {
            (0..6).try_for_each(|i| out.write_all(&(i as f32).to_le_bytes()))
        })
        .unwrap();
        zw.finish("1234").unwrap();

        let ck = Checkpoint::open(&path, WeightsChoice::Auto).unwrap();
        assert_eq!(ck.model_args["encoder_embed_dim"], 8);
        let w = ck.weights.get("w").unwrap();
        assert_eq!(w.to_f32().unwrap(), vec![0., 3., 1., 4., 2., 5.]);
        assert!(w.shares_storage(ck.weights.get("tail").unwrap()));
        assert_eq!(
            ck.weights.get("tail").unwrap().to_f32().unwrap(),
            vec![4., 5.]
        );

        let mut archive = zip::ZipArchive::new(File::open(&path).unwrap()).unwrap();
        for i in 0..archive.len() {
            let f = archive.by_index_raw(i).unwrap();
            assert_eq!(f.compression(), CompressionMethod::Stored);
            assert_eq!(f.data_start() % 64, 0, "{}", f.name());
            assert!(f.name().starts_with("checkpoint_best/"));
        }
    }
}
