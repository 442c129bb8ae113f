//! The files an ONNX graph makes ONNX Runtime open: every tensor's external-data `location`
//! (`TensorProto.external_data`, key `location`). ONNX Runtime resolves a location against the
//! graph's folder and opens it, so a graph in a shared bundle could read any file; the runtime
//! checks every location with [`crate::confine::bundle_path`] before a session is created.
//!
//! A small streaming protobuf reader does it: it walks only the messages that can hold tensors
//! (model → graph → node → attribute → tensor, sub-graphs, functions, sparse tensors) and skips
//! every other field by seeking, so a graph with gigabytes of inline weights is never read into
//! memory. Field numbers are those of `onnx.proto` (ONNX IR version 10).

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

/// Deepest nesting of sub-graphs followed; beyond it the file is refused (a crafted file could
/// otherwise nest messages until the stack runs out).
const MAX_DEPTH: usize = 64;
/// Longest string read (a tensor name, an external-data key or value).
const MAX_STRING: u64 = 64 * 1024;

/// One external-data reference: the tensor and the location it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalRef {
    pub tensor: String,
    pub location: String,
}

/// Which message a byte range holds.
#[derive(Debug, Clone, Copy)]
enum Msg {
    Model,
    Graph,
    Node,
    Attribute,
    Function,
    Tensor,
    SparseTensor,
    StringEntry,
}

impl Msg {
    /// The message a length-delimited field of `self` holds, if it can lead to a tensor.
    fn child(self, field: u64) -> Option<Msg> {
        Some(match (self, field) {
            (Msg::Model, 7) => Msg::Graph,
            (Msg::Model, 25) => Msg::Function,
            (Msg::Graph, 1) => Msg::Node,
            (Msg::Graph, 5) => Msg::Tensor,
            (Msg::Graph, 15) => Msg::SparseTensor,
            (Msg::Node, 5) => Msg::Attribute,
            (Msg::Function, 7) => Msg::Node,
            (Msg::Attribute, 5 | 10) => Msg::Tensor,
            (Msg::Attribute, 6 | 11) => Msg::Graph,
            (Msg::Attribute, 22 | 23) => Msg::SparseTensor,
            (Msg::SparseTensor, 1 | 2) => Msg::Tensor,
            (Msg::Tensor, 13) => Msg::StringEntry,
            _ => return None,
        })
    }
}

/// What a tensor or an external-data entry is made of, as far as this scan cares.
#[derive(Default)]
struct Fields {
    name: String,
    key: String,
    value: String,
    entries: Vec<(String, String)>,
}

struct Scanner<R> {
    r: R,
    pos: u64,
}

/// Why a graph file could not be scanned (an I/O error or not a protobuf).
pub type ScanError = String;

impl<R: Read + Seek> Scanner<R> {
    fn byte(&mut self) -> Result<u8, ScanError> {
        let mut b = [0u8; 1];
        self.r
            .read_exact(&mut b)
            .map_err(|e| format!("truncated at byte {}: {e}", self.pos))?;
        self.pos += 1;
        Ok(b[0])
    }

    fn varint(&mut self) -> Result<u64, ScanError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("varint too long at byte {}", self.pos))
    }

    fn skip(&mut self, n: u64) -> Result<(), ScanError> {
        let step = i64::try_from(n).map_err(|_| format!("field too long at byte {}", self.pos))?;
        self.r
            .seek_relative(step)
            .map_err(|e| format!("cannot skip at byte {}: {e}", self.pos))?;
        self.pos += n;
        Ok(())
    }

    fn string(&mut self, n: u64) -> Result<String, ScanError> {
        if n > MAX_STRING {
            return Err(format!("a {n}-byte string at byte {}", self.pos));
        }
        let mut buf = vec![0u8; n as usize];
        self.r
            .read_exact(&mut buf)
            .map_err(|e| format!("truncated at byte {}: {e}", self.pos))?;
        self.pos += n;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Walks message `msg`, which ends at byte `end`, adding its tensors' references to `out`.
    fn message(
        &mut self,
        msg: Msg,
        end: u64,
        depth: usize,
        out: &mut Vec<ExternalRef>,
    ) -> Result<Fields, ScanError> {
        if depth > MAX_DEPTH {
            return Err(format!("messages nested deeper than {MAX_DEPTH}"));
        }
        let mut f = Fields::default();
        while self.pos < end {
            let tag = self.varint()?;
            let (field, wire) = (tag >> 3, tag & 7);
            match wire {
                0 => {
                    self.varint()?;
                }
                1 => self.skip(8)?,
                5 => self.skip(4)?,
                2 => {
                    let len = self.varint()?;
                    let stop =
                        self.pos
                            .checked_add(len)
                            .filter(|&s| s <= end)
                            .ok_or_else(|| {
                                format!("a field overruns its message at byte {}", self.pos)
                            })?;
                    self.field(msg, field, len, stop, depth, out, &mut f)?;
                    if self.pos != stop {
                        return Err(format!("a field ends early at byte {}", self.pos));
                    }
                }
                _ => return Err(format!("wire type {wire} at byte {}", self.pos)),
            }
        }
        if self.pos != end {
            return Err(format!("a message overruns its end at byte {}", self.pos));
        }
        if let Msg::Tensor = msg {
            for (k, v) in &f.entries {
                if k == "location" {
                    out.push(ExternalRef {
                        tensor: f.name.clone(),
                        location: v.clone(),
                    });
                }
            }
        }
        Ok(f)
    }

    /// One length-delimited field of `msg`: a child message walked, a string kept, or skipped.
    fn field(
        &mut self,
        msg: Msg,
        field: u64,
        len: u64,
        stop: u64,
        depth: usize,
        out: &mut Vec<ExternalRef>,
        f: &mut Fields,
    ) -> Result<(), ScanError> {
        if let Some(child) = msg.child(field) {
            let inner = self.message(child, stop, depth + 1, out)?;
            if let Msg::StringEntry = child {
                f.entries.push((inner.key, inner.value));
            }
            return Ok(());
        }
        match (msg, field) {
            (Msg::Tensor, 8) => f.name = self.string(len)?,
            (Msg::StringEntry, 1) => f.key = self.string(len)?,
            (Msg::StringEntry, 2) => f.value = self.string(len)?,
            _ => self.skip(len)?,
        }
        Ok(())
    }
}

/// Every external-data reference in the ONNX model file at `path`.
pub fn external_refs(path: &Path) -> Result<Vec<ExternalRef>, ScanError> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    let mut s = Scanner {
        r: BufReader::with_capacity(64 * 1024, file),
        pos: 0,
    };
    let mut out = Vec::new();
    s.message(Msg::Model, len, 0, &mut out)?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    /// Protobuf encoding helpers for hand-made graphs (tests here and in `manifest`).
    pub fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn bytes_field(field: u64, body: &[u8], out: &mut Vec<u8>) {
        varint(field << 3 | 2, out);
        varint(body.len() as u64, out);
        out.extend_from_slice(body);
    }

    /// A TensorProto named `name` with raw data and, when given, an external location.
    pub fn tensor(name: &str, location: Option<&str>) -> Vec<u8> {
        let mut t = Vec::new();
        varint(1 << 3, &mut t); // dims
        varint(4, &mut t);
        bytes_field(8, name.as_bytes(), &mut t);
        bytes_field(9, &[0u8; 300], &mut t); // raw_data, skipped
        if let Some(loc) = location {
            for (k, v) in [("location", loc), ("offset", "0"), ("length", "16")] {
                let mut e = Vec::new();
                bytes_field(1, k.as_bytes(), &mut e);
                bytes_field(2, v.as_bytes(), &mut e);
                bytes_field(13, &e, &mut t);
            }
            varint(14 << 3, &mut t);
            varint(1, &mut t);
        }
        t
    }

    /// A ModelProto holding `tensors` as initializers, plus one in an `If` node's sub-graph.
    pub fn model(tensors: &[Vec<u8>], nested: Option<Vec<u8>>) -> Vec<u8> {
        let mut g = Vec::new();
        bytes_field(2, b"main", &mut g);
        for t in tensors {
            bytes_field(5, t, &mut g);
        }
        if let Some(t) = nested {
            let mut sub = Vec::new();
            bytes_field(5, &t, &mut sub);
            let mut attr = Vec::new();
            bytes_field(1, b"then_branch", &mut attr);
            bytes_field(6, &sub, &mut attr);
            let mut node = Vec::new();
            bytes_field(4, b"If", &mut node);
            bytes_field(5, &attr, &mut node);
            bytes_field(1, &node, &mut g);
        }
        let mut m = Vec::new();
        varint(1 << 3, &mut m); // ir_version
        varint(10, &mut m);
        bytes_field(2, b"unival", &mut m);
        bytes_field(7, &g, &mut m);
        m
    }

    #[test]
    fn finds_locations_in_initializers_and_sub_graphs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.onnx");
        let bytes = model(
            &[tensor("w0", None), tensor("w1", Some("g.onnx.data"))],
            Some(tensor("deep", Some("../x"))),
        );
        std::fs::write(&path, bytes).unwrap();
        let refs = external_refs(&path).unwrap();
        assert_eq!(
            refs,
            vec![
                ExternalRef {
                    tensor: "w1".into(),
                    location: "g.onnx.data".into()
                },
                ExternalRef {
                    tensor: "deep".into(),
                    location: "../x".into()
                },
            ]
        );
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.onnx");
        let good = model(&[tensor("w1", Some("a"))], None);
        for cut in [1, good.len() / 2, good.len() - 1] {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert!(external_refs(&path).is_err(), "cut at {cut}");
        }
        std::fs::write(&path, [0xffu8; 32]).unwrap();
        assert!(external_refs(&path).is_err());
        // Deep nesting: graph → node → attribute → graph → … 100 times.
        let mut g = Vec::new();
        for _ in 0..100 {
            let mut attr = Vec::new();
            bytes_field(6, &g, &mut attr);
            let mut node = Vec::new();
            bytes_field(5, &attr, &mut node);
            g.clear();
            bytes_field(1, &node, &mut g);
        }
        let mut m = Vec::new();
        bytes_field(7, &g, &mut m);
        std::fs::write(&path, m).unwrap();
        let err = external_refs(&path).unwrap_err();
        assert!(err.contains("nested deeper"), "{err}");
    }
}
