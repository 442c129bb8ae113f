//! The data model the pickle interpreter builds: inert values in an arena.
//!
//! Containers live in a flat [`Heap`] and values refer to them by index, which gives Python's
//! reference semantics (memo `GET` of a dict that is filled later sees the filled dict) without
//! reference cycles or recursive drops. Strings and bytes are `Rc`, so memo reuse never copies
//! them: memory stays proportional to the pickle's size whatever it contains.

use std::collections::HashMap;
use std::rc::Rc;

/// Index of a container in the [`Heap`].
pub(crate) type NodeId = usize;

/// A pickle value: a scalar or a reference to a heap node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer that does not fit `i64`: little-endian two's complement bytes.
    BigInt(Rc<[u8]>),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Ref(NodeId),
}

/// Hashable form of scalar dict keys, so `SETITEM` on big dicts is O(1).
#[derive(Hash, PartialEq, Eq, Debug)]
enum Key {
    None,
    Bool(bool),
    Int(i64),
    Str(Rc<str>),
}

impl Key {
    fn of(v: &Value) -> Option<Key> {
        Some(match v {
            Value::None => Key::None,
            Value::Bool(b) => Key::Bool(*b),
            Value::Int(i) => Key::Int(*i),
            Value::Str(s) => Key::Str(Rc::clone(s)),
            _ => return None,
        })
    }
}

/// An insertion-ordered dict (Python dicts and `collections.OrderedDict`).
#[derive(Default, Debug)]
pub(crate) struct Dict {
    entries: Vec<(Value, Value)>,
    index: HashMap<Key, usize>,
}

impl Dict {
    /// Python `d[k] = v`: replaces an existing scalar key in place, appends otherwise.
    pub(crate) fn insert(&mut self, k: Value, v: Value) {
        match Key::of(&k) {
            Some(key) => {
                if let Some(&i) = self.index.get(&key) {
                    self.entries[i].1 = v;
                } else {
                    self.index.insert(key, self.entries.len());
                    self.entries.push((k, v));
                }
            }
            None => self.entries.push((k, v)),
        }
    }

    /// Value of a string key.
    pub(crate) fn get(&self, k: &str) -> Option<&Value> {
        self.index
            .get(&Key::Str(Rc::from(k)))
            .and_then(|&i| self.entries.get(i))
            .map(|(_, v)| v)
    }

    /// Entries in insertion order.
    pub(crate) fn entries(&self) -> &[(Value, Value)] {
        &self.entries
    }
}

/// `('storage', <Global marker>, key, location, numel)` from a persistent id.
#[derive(Debug, Clone)]
pub(crate) struct StorageRef {
    /// Storage class name (`HalfStorage`), kept as text so unknown ones fail only when used.
    pub(crate) class: String,
    pub(crate) key: String,
    pub(crate) numel: i64,
}

/// What `torch._utils._rebuild_tensor_v2` would have built, as data.
#[derive(Debug, Clone)]
pub(crate) struct TensorRef {
    pub(crate) storage: StorageRef,
    pub(crate) offset: i64,
    pub(crate) shape: Vec<i64>,
    pub(crate) stride: Vec<i64>,
}

/// An instance of a class that is never constructed: its class, constructor arguments, state.
#[derive(Debug, Default)]
pub(crate) struct Object {
    pub(crate) module: String,
    pub(crate) name: String,
    pub(crate) args: Vec<Value>,
    pub(crate) state: Option<Value>,
    pub(crate) list_items: Vec<Value>,
    pub(crate) dict_items: Vec<(Value, Value)>,
}

/// A heap node.
#[derive(Debug)]
pub(crate) enum Node {
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Dict),
    Set(Vec<Value>),
    /// A `GLOBAL`/`STACK_GLOBAL` reference, kept as data.
    Global {
        module: String,
        name: String,
    },
    Object(Object),
    Storage(StorageRef),
    Tensor(TensorRef),
}

/// Arena of containers.
#[derive(Default, Debug)]
pub(crate) struct Heap {
    nodes: Vec<Node>,
}

impl Heap {
    /// Stores a node and returns a reference value to it.
    pub(crate) fn alloc(&mut self, n: Node) -> Value {
        self.nodes.push(n);
        Value::Ref(self.nodes.len() - 1)
    }

    /// The node a value refers to, if it is a reference.
    pub(crate) fn node(&self, v: &Value) -> Option<&Node> {
        match v {
            Value::Ref(i) => self.nodes.get(*i),
            _ => None,
        }
    }

    /// Mutable node access by id.
    pub(crate) fn node_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.nodes.get_mut(id)
    }

    /// The dict a value refers to.
    pub(crate) fn dict(&self, v: &Value) -> Option<&Dict> {
        match self.node(v) {
            Some(Node::Dict(d)) => Some(d),
            _ => None,
        }
    }

    /// The tuple or list elements a value refers to.
    pub(crate) fn seq(&self, v: &Value) -> Option<&[Value]> {
        match self.node(v) {
            Some(Node::Tuple(t)) | Some(Node::List(t)) | Some(Node::Set(t)) => Some(t),
            _ => None,
        }
    }

    /// `obj.__dict__` of an `argparse.Namespace` (or any object whose BUILD state is a dict).
    pub(crate) fn object_attrs(&self, v: &Value) -> Option<&Dict> {
        match self.node(v) {
            Some(Node::Object(o)) => o.state.as_ref().and_then(|s| self.dict(s)),
            _ => None,
        }
    }

    /// Converts a value to JSON for configs. Depth is capped (cycles, hostile nesting) and so
    /// is the number of values produced (shared sub-trees could otherwise blow up).
    pub(crate) fn to_json(&self, v: &Value) -> Result<serde_json::Value, String> {
        let mut budget = 1_000_000usize;
        self.json_rec(v, 0, &mut budget)
    }

    fn json_rec(
        &self,
        v: &Value,
        depth: usize,
        budget: &mut usize,
    ) -> Result<serde_json::Value, String> {
        use serde_json::Value as J;
        if depth > 64 {
            return Err("value nested deeper than 64 levels (or cyclic)".into());
        }
        *budget = budget
            .checked_sub(1)
            .ok_or("value expands to more than 1,000,000 JSON values")?;
        Ok(match v {
            Value::None => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::BigInt(b) => J::String(format!(
                "0x{}",
                hex::encode(b.iter().rev().copied().collect::<Vec<u8>>())
            )),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.to_string()),
            Value::Bytes(b) => J::Array(b.iter().map(|x| J::from(*x)).collect()),
            Value::Ref(_) => match self.node(v) {
                None => J::Null,
                Some(Node::Tuple(items) | Node::List(items) | Node::Set(items)) => J::Array(
                    items
                        .iter()
                        .map(|x| self.json_rec(x, depth + 1, budget))
                        .collect::<Result<_, _>>()?,
                ),
                Some(Node::Dict(d)) => self.json_map(d.entries(), depth, budget)?,
                Some(Node::Global { module, name }) => {
                    serde_json::json!({ "__global__": format!("{module}.{name}") })
                }
                Some(Node::Object(o)) => {
                    if let Some(attrs) = o.state.as_ref().and_then(|s| self.dict(s)) {
                        if o.module == "argparse" && o.name == "Namespace" {
                            return self.json_map(attrs.entries(), depth, budget);
                        }
                    }
                    let args = o
                        .args
                        .iter()
                        .map(|x| self.json_rec(x, depth + 1, budget))
                        .collect::<Result<Vec<_>, _>>()?;
                    let state = match &o.state {
                        Some(s) => self.json_rec(s, depth + 1, budget)?,
                        None => J::Null,
                    };
                    serde_json::json!({
                        "__class__": format!("{}.{}", o.module, o.name),
                        "args": args,
                        "state": state,
                    })
                }
                Some(Node::Storage(s)) => serde_json::json!({ "__storage__": s.key }),
                Some(Node::Tensor(t)) => serde_json::json!({
                    "__tensor__": { "storage": t.storage.class, "shape": t.shape }
                }),
            },
        })
    }

    fn json_map(
        &self,
        entries: &[(Value, Value)],
        depth: usize,
        budget: &mut usize,
    ) -> Result<serde_json::Value, String> {
        let mut m = serde_json::Map::new();
        for (k, v) in entries {
            let key = match k {
                Value::Str(s) => s.to_string(),
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
                Value::None => "None".to_string(),
                Value::Float(f) => f.to_string(),
                other => self.json_rec(other, depth + 1, budget)?.to_string(),
            };
            m.insert(key, self.json_rec(v, depth + 1, budget)?);
        }
        Ok(serde_json::Value::Object(m))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn dict_insert_replaces_scalar_keys_in_order() {
        let mut d = Dict::default();
        d.insert(Value::Str("a".into()), Value::Int(1));
        d.insert(Value::Str("b".into()), Value::Int(2));
        d.insert(Value::Str("a".into()), Value::Int(3));
        assert_eq!(d.entries().len(), 2);
        assert_eq!(d.get("a"), Some(&Value::Int(3)));
        assert_eq!(d.entries()[1].0, Value::Str("b".into()));
    }

    #[test]
    fn json_of_cyclic_list_is_an_error_not_a_stack_overflow() {
        let mut h = Heap::default();
        let l = h.alloc(Node::List(vec![]));
        let Value::Ref(id) = l else { unreachable!() };
        if let Some(Node::List(items)) = h.node_mut(id) {
            items.push(l.clone());
        }
        assert!(h.to_json(&l).unwrap_err().contains("deeper"));
    }

    #[test]
    fn namespace_becomes_a_map() {
        let mut h = Heap::default();
        let mut d = Dict::default();
        d.insert(Value::Str("encoder_embed_dim".into()), Value::Int(64));
        d.insert(Value::Str("x".into()), Value::Float(0.5));
        let state = h.alloc(Node::Dict(d));
        let ns = h.alloc(Node::Object(Object {
            module: "argparse".into(),
            name: "Namespace".into(),
            state: Some(state),
            ..Object::default()
        }));
        let j = h.to_json(&ns).unwrap();
        assert_eq!(j["encoder_embed_dim"], 64);
        assert_eq!(j["x"], 0.5);
    }
}
