//! Scoped access to checkpoint weights (`w.pp("layers").pp(0).get("fc1.weight", &[..])`), with
//! shape checks and a record of every key consumed, so export can refuse keys it did not
//! understand (ARCHITECTURE.md §6.3). A scope also carries the prefix of the graph nodes built from
//! it: `pp` extends both, so a block's node names follow its module path (a graph's root scope
//! drops the `encoder.`/`decoder.` part with [`Weights::nodes_at`]).

use super::{GraphError, LN_EPS};
use crate::checkpoint::StateDict;
use crate::onnx::ops::{layer_norm, linear};
use crate::onnx::{GraphBuilder, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Display;

/// A view of the state dict under a key prefix.
#[derive(Clone)]
pub struct Weights<'a> {
    sd: &'a StateDict,
    prefix: String,
    /// Prefix of the node names built from this scope.
    nodes: String,
    used: &'a RefCell<BTreeSet<String>>,
}

fn join(prefix: &str, name: impl Display) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl<'a> Weights<'a> {
    /// The root view; `used` collects consumed keys.
    pub fn new(sd: &'a StateDict, used: &'a RefCell<BTreeSet<String>>) -> Self {
        Weights {
            sd,
            prefix: String::new(),
            nodes: String::new(),
            used,
        }
    }

    /// The view under `prefix.name`; its nodes are named under `nodes.name`.
    pub fn pp(&self, name: impl Display) -> Weights<'a> {
        let name = name.to_string();
        Weights {
            sd: self.sd,
            prefix: join(&self.prefix, &name),
            nodes: join(&self.nodes, &name),
            used: self.used,
        }
    }

    /// The same weights with node names under `nodes` instead.
    pub fn nodes_at(&self, nodes: &str) -> Weights<'a> {
        Weights {
            nodes: nodes.to_string(),
            ..self.clone()
        }
    }

    /// The name of node (or step) `step` built from this scope.
    pub fn node(&self, step: impl Display) -> String {
        join(&self.nodes, step)
    }

    /// The node-name prefix of this scope.
    pub fn node_prefix(&self) -> &str {
        &self.nodes
    }

    /// The checkpoint file the weights come from (for error messages).
    pub fn file(&self) -> &'a std::path::Path {
        self.sd.file()
    }

    /// Full key of `name` under this view.
    pub fn key(&self, name: &str) -> String {
        join(&self.prefix, name)
    }

    /// Whether the checkpoint has `name` under this view.
    pub fn has(&self, name: &str) -> bool {
        self.sd.contains(&self.key(name))
    }

    /// Shape of `name`.
    pub fn shape(&self, name: &str) -> Result<Vec<usize>, GraphError> {
        Ok(self.sd.get(&self.key(name))?.shape().to_vec())
    }

    /// Values of `name` as f32, checking the shape is `expected`.
    pub fn get(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, GraphError> {
        let key = self.key(name);
        let t = self.sd.get(&key)?;
        if t.shape() != expected {
            return Err(GraphError::Shape {
                key,
                expected: expected.to_vec(),
                actual: t.shape().to_vec(),
            });
        }
        self.used.borrow_mut().insert(key);
        Ok(t.to_f32()?)
    }

    /// Values and shape of `name`, whatever its shape.
    pub fn get_any(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), GraphError> {
        let key = self.key(name);
        let t = self.sd.get(&key)?;
        let shape = t.shape().to_vec();
        self.used.borrow_mut().insert(key);
        Ok((shape, t.to_f32()?))
    }

    /// Marks `name` as understood without reading it (buffers recomputed from formulas, unused
    /// heads).
    pub fn skip(&self, name: &str) {
        self.used.borrow_mut().insert(self.key(name));
    }
}

/// A PyTorch `Linear`: weight `[out, in]`, optional bias; its nodes are named after the scope
/// it was read from unless renamed with [`Linear::named`].
pub struct Linear {
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    pub in_dim: usize,
    pub out_dim: usize,
    pub name: String,
}

impl Linear {
    /// Reads `<name>.weight` `[out, in]` and `<name>.bias` `[out]`.
    pub fn new(w: &Weights, in_dim: usize, out_dim: usize) -> Result<Self, GraphError> {
        Ok(Linear {
            weight: w.get("weight", &[out_dim, in_dim])?,
            bias: Some(w.get("bias", &[out_dim])?),
            in_dim,
            out_dim,
            name: w.node_prefix().to_string(),
        })
    }

    /// The same layer with its nodes named under `name`.
    pub fn named(self, name: impl Into<String>) -> Self {
        Linear {
            name: name.into(),
            ..self
        }
    }

    /// Scales the output by `s`: `(x·Wᵀ + b)·s = x·(s·W)ᵀ + s·b`, so the scale costs no node
    /// (queries are scaled this way, docs/model.md §2.8).
    pub fn scaled(mut self, s: f32) -> Self {
        self.weight.iter_mut().for_each(|w| *w *= s);
        if let Some(b) = self.bias.as_mut() {
            b.iter_mut().for_each(|b| *b *= s);
        }
        self
    }

    /// Wires `x · Wᵀ + b`.
    pub fn build(&self, g: &mut GraphBuilder, x: Value) -> Value {
        linear(
            g,
            &self.name,
            x,
            &self.weight,
            self.bias.as_deref(),
            self.in_dim,
            self.out_dim,
        )
    }
}

/// A LayerNorm (eps [`LN_EPS`]) with its affine parameters, named after its scope.
pub struct Norm {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub name: String,
}

impl Norm {
    /// Reads `<name>.weight` and `<name>.bias`, both `[dim]`.
    pub fn new(w: &Weights, dim: usize) -> Result<Self, GraphError> {
        Ok(Norm {
            weight: w.get("weight", &[dim])?,
            bias: w.get("bias", &[dim])?,
            name: w.node_prefix().to_string(),
        })
    }

    /// [`Norm::new`] when `present`, else `None` (optional NormFormer norms).
    pub fn optional(present: bool, w: &Weights, dim: usize) -> Result<Option<Self>, GraphError> {
        present.then(|| Norm::new(w, dim)).transpose()
    }

    /// Wires the normalisation of `x`.
    pub fn build(&self, g: &mut GraphBuilder, x: Value) -> Value {
        layer_norm(g, &self.name, x, &self.weight, &self.bias, LN_EPS)
    }
}
