//! Scoped access to checkpoint weights (`w.pp("layers").pp(0).get("fc1.weight", &[..])`), with
//! shape checks and a record of every key consumed, so export can refuse keys it did not
//! understand (STYLE.md rule 5).

use super::GraphError;
use crate::checkpoint::StateDict;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Display;

/// A view of the state dict under a key prefix.
#[derive(Clone)]
pub struct Weights<'a> {
    sd: &'a StateDict,
    prefix: String,
    used: &'a RefCell<BTreeSet<String>>,
}

impl<'a> Weights<'a> {
    /// The root view; `used` collects consumed keys.
    pub fn new(sd: &'a StateDict, used: &'a RefCell<BTreeSet<String>>) -> Self {
        Weights {
            sd,
            prefix: String::new(),
            used,
        }
    }

    /// The view under `prefix.name`.
    pub fn pp(&self, name: impl Display) -> Weights<'a> {
        let prefix = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        Weights {
            sd: self.sd,
            prefix,
            used: self.used,
        }
    }

    /// The checkpoint file the weights come from (for error messages).
    pub fn file(&self) -> &'a std::path::Path {
        self.sd.file()
    }

    /// Full key of `name` under this view.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
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

/// A PyTorch `Linear`: weight `[out, in]`, optional bias.
pub struct Linear {
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    pub in_dim: usize,
    pub out_dim: usize,
}

impl Linear {
    /// Reads `<name>.weight` `[out, in]` and `<name>.bias` `[out]`.
    pub fn new(w: &Weights, in_dim: usize, out_dim: usize) -> Result<Self, GraphError> {
        Ok(Linear {
            weight: w.get("weight", &[out_dim, in_dim])?,
            bias: Some(w.get("bias", &[out_dim])?),
            in_dim,
            out_dim,
        })
    }
}

/// A LayerNorm's affine parameters.
pub struct Norm {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Norm {
    /// Reads `<name>.weight` and `<name>.bias`, both `[dim]`.
    pub fn new(w: &Weights, dim: usize) -> Result<Self, GraphError> {
        Ok(Norm {
            weight: w.get("weight", &[dim])?,
            bias: w.get("bias", &[dim])?,
        })
    }
}
