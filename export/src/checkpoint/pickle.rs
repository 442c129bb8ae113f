//! A pickle interpreter that never executes anything (docs/model.md §3.4).
//!
//! It understands protocols 0–5 as far as `torch.save`/fairseq use them. Globals are data: an
//! allowlist of callables is *interpreted* (`torch._utils._rebuild_tensor_v2`, `_rebuild_tensor`,
//! `_rebuild_parameter`, `collections.OrderedDict`, `_codecs.encode`,
//! `numpy.core.multiarray.scalar`); every other `REDUCE`/`NEWOBJ`/`INST`/`OBJ` only records an
//! inert [`Object`] (`os.system` + `REDUCE` yields `Object{module: "os", name: "system"}`).
//! Persistent ids `('storage', torch.XStorage, key, location, numel)` become storage references;
//! no storage bytes are touched here.

use std::collections::HashMap;
use std::rc::Rc;

use super::value::{Dict, Heap, Node, Object, Value};

/// Why a pickle could not be interpreted: byte offset and opcode of the failing instruction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PickleFault {
    pub(crate) offset: usize,
    pub(crate) opcode: u8,
    pub(crate) detail: String,
}

impl PickleFault {
    /// The opcode rendered as `0x80 PROTO`-style text.
    pub(crate) fn opcode_text(&self) -> String {
        let c = self.opcode;
        if c.is_ascii_graphic() {
            format!("0x{c:02x} '{}'", c as char)
        } else {
            format!("0x{c:02x}")
        }
    }
}

type R<T> = Result<T, String>;

/// Interprets `data` and returns the heap and the top-level value.
pub(crate) fn load(data: &[u8]) -> Result<(Heap, Value), PickleFault> {
    let mut m = Machine {
        data,
        pos: 0,
        heap: Heap::default(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        let at = m.pos;
        let Some(&op) = data.get(at) else {
            return Err(PickleFault {
                offset: at,
                opcode: 0,
                detail: "unexpected end of data (no STOP opcode)".into(),
            });
        };
        m.pos += 1;
        match m.step(op) {
            Ok(true) => {
                let root = m.pop().map_err(|detail| PickleFault {
                    offset: at,
                    opcode: op,
                    detail,
                })?;
                return Ok((m.heap, root));
            }
            Ok(false) => {}
            Err(detail) => {
                return Err(PickleFault {
                    offset: at,
                    opcode: op,
                    detail,
                })
            }
        }
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    heap: Heap,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| format!("needs {n} more bytes but the data ends"))?;
        let data: &'a [u8] = self.data;
        let s = &data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn arr<const N: usize>(&mut self) -> R<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn line(&mut self) -> R<&'a str> {
        let data: &'a [u8] = self.data;
        let rest = &data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("text argument without newline")?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| "text argument is not UTF-8")?;
        self.pos += n + 1;
        Ok(s.strip_suffix('\r').unwrap_or(s))
    }

    fn len_prefixed(&mut self, n: u64) -> R<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| "length does not fit in memory".to_string())?;
        self.take(n)
    }

    fn pop(&mut self) -> R<Value> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("stack underflow (would pop past a MARK)".into());
        }
        self.stack.pop().ok_or_else(|| "stack underflow".into())
    }

    fn top_mut_id(&self) -> R<usize> {
        match self.stack.last() {
            Some(Value::Ref(id)) => Ok(*id),
            Some(_) => Err("target of the opcode is not a container".into()),
            None => Err("stack underflow".into()),
        }
    }

    fn pop_mark(&mut self) -> R<Vec<Value>> {
        let m = self.marks.pop().ok_or("no MARK on the stack")?;
        if m > self.stack.len() {
            return Err("MARK above stack top".into());
        }
        Ok(self.stack.split_off(m))
    }

    fn push_node(&mut self, n: Node) {
        let v = self.heap.alloc(n);
        self.stack.push(v);
    }

    fn str_value(b: &[u8]) -> Value {
        Value::Str(Rc::from(String::from_utf8_lossy(b).as_ref()))
    }

    fn memo_get(&self, k: u64) -> R<Value> {
        self.memo
            .get(&k)
            .cloned()
            .ok_or_else(|| format!("memo key {k} was never stored"))
    }

    fn memo_put(&mut self, k: u64) -> R<()> {
        let v = self.stack.last().cloned().ok_or("PUT on empty stack")?;
        self.memo.insert(k, v);
        Ok(())
    }

    /// Executes one opcode; `Ok(true)` at STOP.
    fn step(&mut self, op: u8) -> R<bool> {
        match op {
            0x80 => {
                let [v] = self.arr::<1>()?;
                if v > 5 {
                    return Err(format!("pickle protocol {v} is newer than 5"));
                }
            }
            0x95 => {
                self.take(8)?; // FRAME: the whole stream is in memory already
            }
            b'.' => return Ok(true),
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let v = self.stack.last().cloned().ok_or("DUP on empty stack")?;
                self.stack.push(v);
            }
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool(true)),
            0x89 => self.stack.push(Value::Bool(false)),
            b'J' => {
                let v = i32::from_le_bytes(self.arr()?);
                self.stack.push(Value::Int(v.into()));
            }
            b'K' => {
                let [v] = self.arr::<1>()?;
                self.stack.push(Value::Int(v.into()));
            }
            b'M' => {
                let v = u16::from_le_bytes(self.arr()?);
                self.stack.push(Value::Int(v.into()));
            }
            0x8a => {
                let [n] = self.arr::<1>()?;
                let v = long_value(self.take(n as usize)?);
                self.stack.push(v);
            }
            0x8b => {
                let n = u32::from_le_bytes(self.arr()?);
                let v = long_value(self.len_prefixed(n.into())?);
                self.stack.push(v);
            }
            b'I' | b'L' => {
                let s = self.line()?.trim_end_matches('L').to_string();
                let v = match s.as_str() {
                    "01" if op == b'I' => Value::Bool(true),
                    "00" if op == b'I' => Value::Bool(false),
                    _ => Value::Int(
                        s.parse::<i64>()
                            .map_err(|_| format!("bad or too large integer literal {s:?}"))?,
                    ),
                };
                self.stack.push(v);
            }
            b'G' => {
                let v = f64::from_be_bytes(self.arr()?);
                self.stack.push(Value::Float(v));
            }
            b'F' => {
                let s = self.line()?;
                let v = s
                    .parse::<f64>()
                    .map_err(|_| format!("bad float literal {s:?}"))?;
                self.stack.push(Value::Float(v));
            }
            b'X' => {
                let n = u32::from_le_bytes(self.arr()?);
                let v = Self::str_value(self.len_prefixed(n.into())?);
                self.stack.push(v);
            }
            0x8c => {
                let [n] = self.arr::<1>()?;
                let v = Self::str_value(self.take(n as usize)?);
                self.stack.push(v);
            }
            0x8d => {
                let n = u64::from_le_bytes(self.arr()?);
                let v = Self::str_value(self.len_prefixed(n)?);
                self.stack.push(v);
            }
            b'V' => {
                let s = unescape_raw_unicode(self.line()?);
                self.stack.push(Value::Str(Rc::from(s.as_str())));
            }
            b'S' => {
                let s = self.line()?;
                let body = unquote(s).ok_or_else(|| format!("bad STRING literal {s:?}"))?;
                self.stack.push(Value::Str(Rc::from(body.as_str())));
            }
            b'T' => {
                let n = u32::from_le_bytes(self.arr()?);
                let v = Self::str_value(self.len_prefixed(n.into())?);
                self.stack.push(v);
            }
            b'U' => {
                let [n] = self.arr::<1>()?;
                let v = Self::str_value(self.take(n as usize)?);
                self.stack.push(v);
            }
            b'B' => {
                let n = u32::from_le_bytes(self.arr()?);
                let b = self.len_prefixed(n.into())?;
                self.stack.push(Value::Bytes(Rc::from(b)));
            }
            b'C' => {
                let [n] = self.arr::<1>()?;
                let b = self.take(n as usize)?;
                self.stack.push(Value::Bytes(Rc::from(b)));
            }
            0x8e | 0x96 => {
                let n = u64::from_le_bytes(self.arr()?);
                let b = self.len_prefixed(n)?;
                self.stack.push(Value::Bytes(Rc::from(b)));
            }
            0x97 => return Err("out-of-band buffers (NEXT_BUFFER) are not supported".into()),
            0x98 => {}
            b')' => self.push_node(Node::Tuple(vec![])),
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return Err("stack underflow".into());
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push_node(Node::Tuple(items));
            }
            b't' => {
                let items = self.pop_mark()?;
                self.push_node(Node::Tuple(items));
            }
            b']' => self.push_node(Node::List(vec![])),
            b'l' => {
                let items = self.pop_mark()?;
                self.push_node(Node::List(items));
            }
            b'}' => self.push_node(Node::Dict(Dict::default())),
            b'd' => {
                let items = self.pop_mark()?;
                let d = pairs_to_dict(items)?;
                self.push_node(Node::Dict(d));
            }
            0x8f => self.push_node(Node::Set(vec![])),
            0x91 => {
                let items = self.pop_mark()?;
                self.push_node(Node::Set(items));
            }
            b'a' => {
                let v = self.pop()?;
                self.extend(vec![v])?;
            }
            b'e' | 0x90 => {
                let items = self.pop_mark()?;
                self.extend(items)?;
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![k, v])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.set_items(items)?;
            }
            b'g' => {
                let k = self.line()?.parse::<u64>().map_err(|_| "bad GET index")?;
                let v = self.memo_get(k)?;
                self.stack.push(v);
            }
            b'h' => {
                let [k] = self.arr::<1>()?;
                let v = self.memo_get(k.into())?;
                self.stack.push(v);
            }
            b'j' => {
                let k = u32::from_le_bytes(self.arr()?);
                let v = self.memo_get(k.into())?;
                self.stack.push(v);
            }
            b'p' => {
                let k = self.line()?.parse::<u64>().map_err(|_| "bad PUT index")?;
                self.memo_put(k)?;
            }
            b'q' => {
                let [k] = self.arr::<1>()?;
                self.memo_put(k.into())?;
            }
            b'r' => {
                let k = u32::from_le_bytes(self.arr()?);
                self.memo_put(k.into())?;
            }
            0x94 => {
                let k = self.memo.len() as u64;
                self.memo_put(k)?;
            }
            b'c' => {
                let module = self.line()?.to_string();
                let name = self.line()?.to_string();
                self.push_node(Node::Global { module, name });
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (module, name) {
                    (Value::Str(module), Value::Str(name)) => self.push_node(Node::Global {
                        module: module.to_string(),
                        name: name.to_string(),
                    }),
                    _ => return Err("STACK_GLOBAL needs two strings".into()),
                }
            }
            0x82..=0x84 => return Err("extension registry opcodes (EXT*) are not supported".into()),
            b'Q' => {
                let pid = self.pop()?;
                let v = self.persistent(pid)?;
                self.stack.push(v);
            }
            b'P' => {
                let pid = Value::Str(Rc::from(self.line()?));
                let v = self.persistent(pid)?;
                self.stack.push(v);
            }
            b'R' => {
                let args = self.pop()?;
                let func = self.pop()?;
                let args = self
                    .heap
                    .seq(&args)
                    .ok_or("REDUCE arguments are not a tuple")?
                    .to_vec();
                let v = self.call(&func, args)?;
                self.stack.push(v);
            }
            0x81 => {
                let args = self.pop()?;
                let cls = self.pop()?;
                let args = self
                    .heap
                    .seq(&args)
                    .ok_or("NEWOBJ arguments are not a tuple")?
                    .to_vec();
                let v = self.instantiate(&cls, args)?;
                self.stack.push(v);
            }
            0x92 => {
                let _kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                let args = self
                    .heap
                    .seq(&args)
                    .ok_or("NEWOBJ_EX arguments are not a tuple")?
                    .to_vec();
                let v = self.instantiate(&cls, args)?;
                self.stack.push(v);
            }
            b'i' => {
                let module = self.line()?.to_string();
                let name = self.line()?.to_string();
                let args = self.pop_mark()?;
                self.push_node(Node::Object(Object {
                    module,
                    name,
                    args,
                    ..Object::default()
                }));
            }
            b'o' => {
                let mut items = self.pop_mark()?;
                if items.is_empty() {
                    return Err("OBJ without a class".into());
                }
                let cls = items.remove(0);
                let v = self.instantiate(&cls, items)?;
                self.stack.push(v);
            }
            b'b' => {
                let state = self.pop()?;
                let id = self.top_mut_id()?;
                if let Some(Node::Object(o)) = self.heap.node_mut(id) {
                    o.state = Some(state);
                }
                // BUILD on dicts (OrderedDict `_metadata`), tensors, lists: state is dropped.
            }
            other => return Err(format!("unknown opcode 0x{other:02x}")),
        }
        Ok(false)
    }

    fn extend(&mut self, items: Vec<Value>) -> R<()> {
        let id = self.top_mut_id()?;
        match self.heap.node_mut(id) {
            Some(Node::List(l)) | Some(Node::Set(l)) => l.extend(items),
            Some(Node::Object(o)) => o.list_items.extend(items),
            _ => return Err("APPEND target is not a list".into()),
        }
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> R<()> {
        if items.len() % 2 == 1 {
            return Err("odd number of items for SETITEMS".into());
        }
        let id = self.top_mut_id()?;
        let mut it = items.into_iter();
        match self.heap.node_mut(id) {
            Some(Node::Dict(d)) => {
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.insert(k, v);
                }
            }
            Some(Node::Object(o)) => {
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    o.dict_items.push((k, v));
                }
            }
            _ => return Err("SETITEM target is not a dict".into()),
        }
        Ok(())
    }
}

fn pairs_to_dict(items: Vec<Value>) -> R<Dict> {
    if items.len() % 2 == 1 {
        return Err("odd number of items for DICT".into());
    }
    let mut d = Dict::default();
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        d.insert(k, v);
    }
    Ok(d)
}

#[path = "pickle_calls.rs"]
mod calls;

use calls::{long_value, unescape_raw_unicode, unquote};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "pickle_tests.rs"]
mod tests;
