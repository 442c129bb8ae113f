//! The callable side of the pickle interpreter: persistent ids, `REDUCE`/`NEWOBJ` with the
//! allowlist of interpreted globals, and decoding of literal arguments. Everything outside the
//! allowlist becomes an inert [`Object`].

use std::rc::Rc;

use super::{Machine, R};
use crate::checkpoint::value::{Dict, Node, Object, StorageRef, TensorRef, Value};

impl Machine<'_> {
    pub(super) fn global_of(&self, v: &Value) -> Option<(String, String)> {
        match self.heap.node(v) {
            Some(Node::Global { module, name }) => Some((module.clone(), name.clone())),
            _ => None,
        }
    }

    /// BINPERSID: torch's `('storage', marker, key, location, numel)`; anything else stays inert.
    pub(super) fn persistent(&mut self, pid: Value) -> R<Value> {
        let items = self
            .heap
            .seq(&pid)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        if let [Value::Str(tag), marker, key, _location, numel] = items.as_slice() {
            if &**tag == "storage" {
                let class = self
                    .global_of(marker)
                    .map(|(_, n)| n)
                    .ok_or("storage persistent id without a storage class")?;
                let key = match key {
                    Value::Str(s) => s.to_string(),
                    Value::Int(i) => i.to_string(),
                    _ => return Err("storage key is not a string".into()),
                };
                let Value::Int(numel) = numel else {
                    return Err("storage size is not an integer".into());
                };
                return Ok(self.heap.alloc(Node::Storage(StorageRef {
                    class,
                    key,
                    numel: *numel,
                })));
            }
        }
        Ok(self.heap.alloc(Node::Object(Object {
            module: "<persistent>".into(),
            name: "pid".into(),
            args: vec![pid],
            ..Object::default()
        })))
    }

    /// NEWOBJ / OBJ: an inert object of the class (argparse.Namespace gets its state via BUILD).
    pub(super) fn instantiate(&mut self, cls: &Value, args: Vec<Value>) -> R<Value> {
        let (module, name) = self
            .global_of(cls)
            .unwrap_or_else(|| ("".into(), "<call>".into()));
        if module == "collections" && name == "OrderedDict" {
            return Ok(self.heap.alloc(Node::Dict(Dict::default())));
        }
        Ok(self.heap.alloc(Node::Object(Object {
            module,
            name,
            args,
            ..Object::default()
        })))
    }

    /// REDUCE: interprets the allowlist, records everything else as an inert object.
    pub(super) fn call(&mut self, func: &Value, args: Vec<Value>) -> R<Value> {
        let (module, name) = self
            .global_of(func)
            .unwrap_or_else(|| ("".into(), "<call>".into()));
        match (module.as_str(), name.as_str()) {
            ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
                self.rebuild_tensor(&args)
            }
            ("torch._utils", "_rebuild_parameter")
            | ("torch._utils", "_rebuild_parameter_with_state") => args
                .into_iter()
                .next()
                .ok_or_else(|| "_rebuild_parameter without data".into()),
            ("collections", "OrderedDict") => {
                let mut d = Dict::default();
                if let Some(pairs) = args.first().and_then(|a| self.heap.seq(a)) {
                    for p in pairs {
                        if let Some([k, v]) = self.heap.seq(p).map(<[Value]>::to_vec).as_deref() {
                            d.insert(k.clone(), v.clone());
                        }
                    }
                }
                Ok(self.heap.alloc(Node::Dict(d)))
            }
            ("_codecs", "encode") => match args.first() {
                Some(Value::Str(s)) => {
                    // Python 2 byte strings pickled by Python 3 arrive as latin-1 text.
                    let bytes: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
                    Ok(Value::Bytes(Rc::from(bytes)))
                }
                Some(Value::Bytes(b)) => Ok(Value::Bytes(Rc::clone(b))),
                _ => Err("_codecs.encode without a string".into()),
            },
            ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => {
                Ok(self.numpy_scalar(&args).unwrap_or_else(|| {
                    self.heap.alloc(Node::Object(Object {
                        module: module.clone(),
                        name: name.clone(),
                        args: args.clone(),
                        ..Object::default()
                    }))
                }))
            }
            _ => Ok(self.heap.alloc(Node::Object(Object {
                module,
                name,
                args,
                ..Object::default()
            }))),
        }
    }

    /// `numpy.core.multiarray.scalar(numpy.dtype(code), raw bytes)` → an int/float/bool.
    fn numpy_scalar(&self, args: &[Value]) -> Option<Value> {
        let (dtype, raw) = (args.first()?, args.get(1)?);
        let code = match self.heap.node(dtype)? {
            Node::Object(o) if o.name == "dtype" => match o.args.first()? {
                Value::Str(s) => s.to_string(),
                _ => return None,
            },
            _ => return None,
        };
        let Value::Bytes(b) = raw else { return None };
        let b: &[u8] = b;
        Some(match (code.as_str(), b.len()) {
            ("f8", 8) => Value::Float(f64::from_le_bytes(b.try_into().ok()?)),
            ("f4", 4) => Value::Float(f32::from_le_bytes(b.try_into().ok()?).into()),
            ("f2", 2) => Value::Float(half::f16::from_le_bytes(b.try_into().ok()?).to_f64()),
            ("i8", 8) => Value::Int(i64::from_le_bytes(b.try_into().ok()?)),
            ("i4", 4) => Value::Int(i32::from_le_bytes(b.try_into().ok()?).into()),
            ("i2", 2) => Value::Int(i16::from_le_bytes(b.try_into().ok()?).into()),
            ("i1", 1) => Value::Int((b[0] as i8).into()),
            ("u1", 1) => Value::Int(b[0].into()),
            ("u2", 2) => Value::Int(u16::from_le_bytes(b.try_into().ok()?).into()),
            ("u4", 4) => Value::Int(u32::from_le_bytes(b.try_into().ok()?).into()),
            ("u8", 8) => long_value(b),
            ("b1", 1) => Value::Bool(b[0] != 0),
            _ => return None,
        })
    }

    fn ints(&self, v: &Value, what: &str) -> R<Vec<i64>> {
        let items = self
            .heap
            .seq(v)
            .ok_or_else(|| format!("tensor {what} is not a tuple"))?;
        items
            .iter()
            .map(|x| match x {
                Value::Int(i) => Ok(*i),
                _ => Err(format!("tensor {what} holds a non-integer")),
            })
            .collect()
    }

    fn rebuild_tensor(&mut self, args: &[Value]) -> R<Value> {
        let [storage, offset, size, stride, ..] = args else {
            return Err("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)".into());
        };
        let storage = match self.heap.node(storage) {
            Some(Node::Storage(s)) => s.clone(),
            _ => return Err("_rebuild_tensor_v2: first argument is not a storage".into()),
        };
        let Value::Int(offset) = offset else {
            return Err("_rebuild_tensor_v2: storage offset is not an integer".into());
        };
        let t = TensorRef {
            storage,
            offset: *offset,
            shape: self.ints(size, "size")?,
            stride: self.ints(stride, "stride")?,
        };
        Ok(self.heap.alloc(Node::Tensor(t)))
    }
}

/// LONG1/LONG4 payload (little-endian two's complement) as an int when it fits `i64`.
pub(super) fn long_value(b: &[u8]) -> Value {
    if b.is_empty() {
        return Value::Int(0);
    }
    let negative = b[b.len() - 1] & 0x80 != 0;
    let fill = if negative { 0xff } else { 0 };
    if b.len() <= 8 {
        let mut a = [fill; 8];
        a[..b.len()].copy_from_slice(b);
        return Value::Int(i64::from_le_bytes(a));
    }
    if b[8..].iter().all(|&x| x == fill) && ((b[7] & 0x80 != 0) == negative) {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        return Value::Int(i64::from_le_bytes(a));
    }
    Value::BigInt(Rc::from(b))
}

/// Protocol-0 `STRING` argument: a Python repr in single or double quotes.
pub(super) fn unquote(s: &str) -> Option<String> {
    let q = s.chars().next()?;
    if !(q == '\'' || q == '"') || s.len() < 2 || !s.ends_with(q) {
        return None;
    }
    let body = &s[1..s.len() - 1];
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'x' => {
                let h: String = chars.by_ref().take(2).collect();
                out.push(char::from(u8::from_str_radix(&h, 16).ok()?));
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// Protocol-0 `UNICODE` argument (raw-unicode-escape): only `\uXXXX`/`\UXXXXXXXX` are escapes.
pub(super) fn unescape_raw_unicode(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let width = match tail.as_bytes().get(1) {
            Some(b'u') => 4,
            Some(b'U') => 8,
            _ => 0,
        };
        let decoded = (width > 0)
            .then(|| tail.get(2..2 + width))
            .flatten()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32);
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[2 + width..];
            }
            None => {
                out.push('\\');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
