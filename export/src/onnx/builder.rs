//! A small ONNX graph builder: values are `Copy` handles, every node name derives from the
//! caller's prefix, and only this file touches protobuf strings (ARCHITECTURE.md §6.2); the
//! messages themselves are made by [`super::make`].

use super::format::WeightFormat;
pub use super::make::Attr;
use super::make::{attribute, tensor};
use super::proto::{
    attribute_type, data_type, dimension, AttributeProto, DimensionProto, GraphProto, ModelProto,
    NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto,
};
use super::tables::QuantTable;
use crate::quant::{QuantError, QuantOptions};
use half::f16;
use std::collections::{HashMap, HashSet};
use unival_manifest::{DType, Dim, TensorSpec};

/// Opset the graphs target: 17 has `LayerNormalization`; ONNX Runtime ≥ 1.20 runs it.
pub const OPSET: i64 = 17;
/// IR version matching opset 17.
pub const IR_VERSION: i64 = 8;

/// Where a late initializer goes: all products' codes, then all lookup tables', then all
/// integer convolutions'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateGroup {
    Products = 0,
    Lookups = 1,
    Convs = 2,
}

/// Handle to a tensor in the graph under construction (like tract's `OutletId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Value(usize);

/// A node whose value names are resolved only at [`GraphBuilder::finish`], so outputs can be
/// renamed to their public names after the fact.
struct PendingNode {
    op: String,
    /// Operator domain; empty for the ONNX default.
    domain: String,
    /// The node is named `{name of this value}.{suffix}`.
    name: (Value, String),
    inputs: Vec<Value>,
    outputs: Vec<Value>,
    attrs: Vec<AttributeProto>,
    /// Subgraph attributes (`If`'s `then_branch`/`else_branch`), resolved with the rest.
    bodies: Vec<(&'static str, PendingBody)>,
}

/// A branch body under construction: nodes added by [`GraphBuilder::if_else`]'s closures, which
/// read any value of the enclosing graph by name (ONNX outer scope), and the one value it
/// returns.
struct PendingBody {
    nodes: Vec<PendingNode>,
    output: Value,
    dtype: DType,
}

/// Builds one ONNX graph. Floating-point weights are stored in `weight_type` (fp32 or fp16);
/// computation follows the stored type, with the numerically sensitive ops (LayerNorm, softmax)
/// kept in fp32 by the op helpers.
pub struct GraphBuilder {
    name: String,
    names: Vec<String>,
    taken: HashSet<String>,
    nodes: Vec<PendingNode>,
    initializers: Vec<(Value, TensorProto)>,
    /// Initializers placed after all of `initializers`, group by group (the quantised
    /// weights: products in the order they were wired, then lookup tables).
    late_initializers: [Vec<(Value, TensorProto)>; 3],
    /// Quantisation state of the tables made with [`GraphBuilder::table`].
    pub(super) tables: HashMap<Value, QuantTable>,
    /// `DynamicQuantizeLinear` outputs of each value integer convolutions read (made once).
    pub(super) quantized_inputs: HashMap<Value, [Value; 3]>,
    /// Operator domains other than the default that nodes use (opset version 1 each).
    domains: Vec<String>,
    /// Weight quantisation the emitters apply; `None` keeps weights float.
    quant: Option<QuantOptions>,
    /// The first weight that could not be quantised; [`GraphBuilder::take_error`] reports it.
    error: Option<QuantError>,
    /// Values that are graph inputs or initializers (never renamed).
    fixed: HashSet<usize>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    input_specs: Vec<TensorSpec>,
    output_specs: Vec<TensorSpec>,
    float: DType,
    initializer_bytes: u64,
}

fn elem_type(d: DType) -> i32 {
    match d {
        DType::F32 => data_type::FLOAT,
        DType::F16 => data_type::FLOAT16,
        DType::I64 => data_type::INT64,
        DType::Bool => data_type::BOOL,
    }
}

fn value_info(name: &str, dtype: DType, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| DimensionProto {
            value: Some(match d {
                Dim::Fixed(n) => dimension::Value::DimValue(*n),
                Dim::Symbol(s) => dimension::Value::DimParam(s.clone()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: elem_type(dtype),
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// Little-endian bytes of f32 values converted to `dtype` (F32 or F16).
pub fn float_bytes(data: &[f32], dtype: DType) -> Vec<u8> {
    match dtype {
        DType::F16 => data
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect(),
        _ => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

impl GraphBuilder {
    /// A new, empty graph whose weights are stored as `format` says (a bare `DType`: float
    /// weights and activations of that type, F32 or F16).
    pub fn new(name: &str, format: impl Into<WeightFormat>) -> Self {
        let WeightFormat { float, quant } = format.into();
        GraphBuilder {
            late_initializers: [Vec::new(), Vec::new(), Vec::new()],
            quantized_inputs: HashMap::new(),
            tables: HashMap::new(),
            domains: Vec::new(),
            quant,
            error: None,
            name: name.to_string(),
            names: Vec::new(),
            taken: HashSet::new(),
            fixed: HashSet::new(),
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            input_specs: Vec::new(),
            output_specs: Vec::new(),
            float,
            initializer_bytes: 0,
        }
    }

    /// The element type float activations have inside this graph.
    pub fn float_type(&self) -> DType {
        self.float
    }

    /// The weight quantisation emitters apply (`None`: weights stay float).
    pub fn quant_options(&self) -> Option<&QuantOptions> {
        self.quant.as_ref()
    }

    /// Records that a weight could not be quantised; the first such error is kept.
    pub fn defer_error(&mut self, e: QuantError) {
        self.error.get_or_insert(e);
    }

    /// The first weight error recorded while building; a graph with one must not be written.
    pub fn take_error(&mut self) -> Option<QuantError> {
        self.error.take()
    }

    /// Takes the unique name `wanted` (or `wanted_k`) without making a value: the name a
    /// float weight would have had, which its quantised forms derive theirs from.
    pub fn reserve_name(&mut self, wanted: &str) -> String {
        self.unique_name(wanted)
    }

    fn unique_name(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        let mut k = 1;
        while self.taken.contains(&name) {
            name = format!("{wanted}_{k}");
            k += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    fn fresh(&mut self, wanted: &str) -> Value {
        let name = self.unique_name(wanted);
        self.names.push(name);
        Value(self.names.len() - 1)
    }

    /// The ONNX name of a value.
    pub fn name_of(&self, v: Value) -> &str {
        &self.names[v.0]
    }

    /// Declares a graph input. Float inputs are declared as fp32 at the boundary and cast to the
    /// graph's float type inside, so callers always feed fp32.
    pub fn input(&mut self, name: &str, dtype: DType, dims: Vec<Dim>) -> Value {
        let v = self.fresh(name);
        self.fixed.insert(v.0);
        self.inputs.push(value_info(name, dtype, &dims));
        self.input_specs.push(TensorSpec {
            name: name.to_string(),
            dtype,
            dims,
        });
        if dtype == DType::F32 && self.float == DType::F16 {
            return self.cast(&format!("{name}.to_f16"), v, DType::F16);
        }
        v
    }

    /// Declares `v` as a graph output named `name`. Float outputs are cast back to fp32; the
    /// producing value takes the public name (an `Identity` is added for inputs and weights).
    pub fn output(&mut self, name: &str, v: Value, dtype: DType, dims: Vec<Dim>) {
        let mut v = v;
        if dtype == DType::F32 && self.float == DType::F16 {
            v = self.cast(&format!("{name}.to_f32"), v, DType::F32);
        }
        if self.fixed.contains(&v.0) {
            v = self.node("Identity", &format!("{name}.identity"), &[v], &[]);
        }
        if self.names[v.0] != name {
            // An internal value already holding the public name gives it up.
            if let Some(holder) = self.names.iter().position(|n| n == name) {
                self.names[holder] = self.unique_name(&format!("{name}.internal"));
            } else {
                self.taken.insert(name.to_string());
            }
            self.names[v.0] = name.to_string();
        }
        self.outputs.push(value_info(name, dtype, &dims));
        self.output_specs.push(TensorSpec {
            name: name.to_string(),
            dtype,
            dims,
        });
    }

    fn push_initializer(&mut self, name: &str, dims: &[usize], dt: i32, raw: Vec<u8>) -> Value {
        let v = self.fresh(name);
        self.fixed.insert(v.0);
        self.initializer_bytes += raw.len() as u64;
        // Named at `finish`, when value names are final.
        self.initializers.push((v, tensor("", dims, dt, raw)));
        v
    }

    /// An initializer placed after all ordinary ones, in `group` (quantised weights).
    pub fn late_initializer(
        &mut self,
        group: LateGroup,
        name: &str,
        (dims, dt): (&[usize], i32),
        raw: Vec<u8>,
    ) -> Value {
        let v = self.reserve_initializer(name);
        self.place_initializer(group, v, dims, dt, raw);
        v
    }

    /// A value for an initializer whose data [`GraphBuilder::place_initializer`] gives later
    /// (codes shared by a lookup wired before the product that makes them).
    pub fn reserve_initializer(&mut self, name: &str) -> Value {
        let v = self.fresh(name);
        self.fixed.insert(v.0);
        v
    }

    /// The data of the reserved initializer `v`, placed in `group`.
    pub fn place_initializer(
        &mut self,
        group: LateGroup,
        v: Value,
        dims: &[usize],
        dt: i32,
        raw: Vec<u8>,
    ) {
        self.initializer_bytes += raw.len() as u64;
        self.late_initializers[group as usize].push((v, tensor("", dims, dt, raw)));
    }

    /// A float weight stored in the graph's float type. `data.len()` must equal the product of
    /// `dims` (callers check shapes against the checkpoint first).
    pub fn weight(&mut self, name: &str, dims: &[usize], data: &[f32]) -> Value {
        let raw = float_bytes(data, self.float);
        self.push_initializer(name, dims, elem_type(self.float), raw)
    }

    /// A float weight kept in fp32 whatever the graph's type (LayerNorm parameters, masks).
    pub fn weight_f32(&mut self, name: &str, dims: &[usize], data: &[f32]) -> Value {
        let raw = float_bytes(data, DType::F32);
        self.push_initializer(name, dims, data_type::FLOAT, raw)
    }

    /// An int64 constant (shapes, indices, axes).
    pub fn const_i64(&mut self, name: &str, dims: &[usize], data: &[i64]) -> Value {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push_initializer(name, dims, data_type::INT64, raw)
    }

    /// A 1-D int64 constant.
    pub fn ints(&mut self, name: &str, data: &[i64]) -> Value {
        self.const_i64(name, &[data.len()], data)
    }

    /// A scalar in the graph's float type.
    pub fn scalar(&mut self, name: &str, x: f32) -> Value {
        self.weight(name, &[], &[x])
    }

    /// Adds a node with one output and returns it.
    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[Value],
        attrs: &[(&str, Attr)],
    ) -> Value {
        self.node_multi(op, name, inputs, attrs, 1)[0]
    }

    /// Adds a node with `n_out` outputs.
    pub fn node_multi(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[Value],
        attrs: &[(&str, Attr)],
        n_out: usize,
    ) -> Vec<Value> {
        let outs: Vec<Value> = (0..n_out)
            .map(|i| {
                if n_out == 1 {
                    self.fresh(name)
                } else {
                    self.fresh(&format!("{name}.{i}"))
                }
            })
            .collect();
        let attrs = attrs.iter().map(|(k, a)| attribute(k, a)).collect();
        self.nodes.push(PendingNode {
            op: op.to_string(),
            domain: String::new(),
            name: (outs[0], "node".to_string()),
            inputs: inputs.to_vec(),
            outputs: outs.clone(),
            attrs,
            bodies: Vec::new(),
        });
        outs
    }

    /// Adds a node of operator `op` in `domain` (not the default one) with one output named
    /// `name`; the node itself is named `{output}.{name_suffix}`.
    pub fn contrib_node(
        &mut self,
        (op, domain): (&str, &str),
        name: &str,
        name_suffix: &str,
        inputs: &[Value],
        attrs: &[(&str, Attr)],
    ) -> Value {
        let out = self.fresh(name);
        self.node_into((op, domain), &[out], (out, name_suffix), inputs, attrs);
        out
    }

    /// A value named `wanted` (made unique) for a later [`GraphBuilder::node_into`] to produce.
    pub fn value(&mut self, wanted: &str) -> Value {
        self.fresh(wanted)
    }

    /// Adds a node of `op` in `domain` (empty: the default) computing `outputs`, named
    /// `{name of anchor}.{suffix}` (sequences that replace one operator name their nodes after
    /// its output).
    pub fn node_into(
        &mut self,
        (op, domain): (&str, &str),
        outputs: &[Value],
        (anchor, suffix): (Value, &str),
        inputs: &[Value],
        attrs: &[(&str, Attr)],
    ) {
        if !domain.is_empty() && !self.domains.iter().any(|d| d == domain) {
            self.domains.push(domain.to_string());
        }
        self.nodes.push(PendingNode {
            op: op.to_string(),
            domain: domain.to_string(),
            name: (anchor, suffix.to_string()),
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            attrs: attrs.iter().map(|(k, a)| attribute(k, a)).collect(),
            bodies: Vec::new(),
        });
    }

    /// `If(cond)`: one output of element type `dtype`, computed by `then_branch` when the
    /// one-element bool `cond` is true and by `else_branch` otherwise. ONNX Runtime executes
    /// only the branch taken, so the other costs nothing. Each closure adds its nodes to this
    /// builder as usual and returns the branch's result; those nodes become the branch body
    /// (no inputs, one output), reading every other value (graph inputs, initializers, earlier
    /// nodes' outputs) from the enclosing graph by name. Initializers a closure creates stay in
    /// the main graph. The branches' shapes may differ; the output's shape is left unknown.
    pub fn if_else(
        &mut self,
        name: &str,
        cond: Value,
        dtype: DType,
        then_branch: impl FnOnce(&mut GraphBuilder) -> Value,
        else_branch: impl FnOnce(&mut GraphBuilder) -> Value,
    ) -> Value {
        let then_body = self.body(&format!("{name}.then"), then_branch, dtype);
        let else_body = self.body(&format!("{name}.else"), else_branch, dtype);
        let out = self.fresh(name);
        self.nodes.push(PendingNode {
            op: "If".to_string(),
            domain: String::new(),
            name: (out, "node".to_string()),
            inputs: vec![cond],
            outputs: vec![out],
            attrs: Vec::new(),
            bodies: vec![("then_branch", then_body), ("else_branch", else_body)],
        });
        out
    }

    /// Runs `f` and takes the nodes it added as a branch body. A result `f` did not compute
    /// (an outer value) is passed through an `Identity` so the body produces its own output.
    fn body(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut GraphBuilder) -> Value,
        dtype: DType,
    ) -> PendingBody {
        let start = self.nodes.len();
        let mut output = f(self);
        let computed = self.nodes[start..]
            .iter()
            .any(|n| n.outputs.contains(&output));
        if !computed {
            output = self.node("Identity", &format!("{name}.out"), &[output], &[]);
        }
        PendingBody {
            nodes: self.nodes.split_off(start),
            output,
            dtype,
        }
    }

    /// Zeros of the graph's float type with a runtime shape (1-D int64 `shape`).
    pub fn zeros(&mut self, name: &str, shape: Value) -> Value {
        let dtype = self.float;
        let value = tensor("", &[1], elem_type(dtype), float_bytes(&[0.0], dtype));
        self.node(
            "ConstantOfShape",
            name,
            &[shape],
            &[("value", Attr::Tensor(value))],
        )
    }

    /// A float constant `[1]`-shaped or scalar in the graph's type that is not a weight
    /// (masks, offsets).
    pub fn float_const(&mut self, name: &str, dims: &[usize], data: &[f32]) -> Value {
        self.weight(name, dims, data)
    }

    /// `Cast` to `to`.
    pub fn cast(&mut self, name: &str, x: Value, to: DType) -> Value {
        self.node(
            "Cast",
            name,
            &[x],
            &[("to", Attr::Int(elem_type(to) as i64))],
        )
    }

    /// Total bytes of initializer data so far (decides external data).
    pub fn initializer_bytes(&self) -> u64 {
        self.initializer_bytes
    }

    /// Input and output specs as the manifest records them.
    pub fn specs(&self) -> (Vec<TensorSpec>, Vec<TensorSpec>) {
        (self.input_specs.clone(), self.output_specs.clone())
    }

    /// The finished model.
    pub fn finish(mut self, producer_version: &str) -> ModelProto {
        self.place_unwired_shared_codes();
        let names = self.names;
        let node = self.nodes.into_iter().map(|n| resolve(n, &names)).collect();
        let initializer = self
            .initializers
            .into_iter()
            .chain(self.late_initializers.into_iter().flatten())
            .map(|(v, mut t)| {
                t.name = names[v.0].clone();
                t
            })
            .collect();
        let default_opset = OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        };
        let opset_import = std::iter::once(default_opset)
            .chain(
                self.domains
                    .into_iter()
                    .map(|domain| OperatorSetIdProto { domain, version: 1 }),
            )
            .collect();
        ModelProto {
            ir_version: IR_VERSION,
            opset_import,
            producer_name: "unival-export".into(),
            producer_version: producer_version.into(),
            graph: Some(GraphProto {
                node,
                name: self.name,
                initializer,
                input: self.inputs,
                output: self.outputs,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// A pending node with its value names (and those of its branch bodies) filled in.
fn resolve(n: PendingNode, names: &[String]) -> NodeProto {
    let mut attribute = n.attrs;
    for (attr, body) in n.bodies {
        let out = names[body.output.0].clone();
        let graph = GraphProto {
            name: format!("{out}.{attr}"),
            node: body.nodes.into_iter().map(|b| resolve(b, names)).collect(),
            output: vec![ValueInfoProto {
                name: out,
                r#type: Some(TypeProto {
                    tensor_type: Some(TensorTypeProto {
                        elem_type: elem_type(body.dtype),
                        shape: None,
                    }),
                }),
            }],
            ..Default::default()
        };
        attribute.push(AttributeProto {
            name: attr.to_string(),
            r#type: attribute_type::GRAPH,
            g: Some(graph),
            ..Default::default()
        });
    }
    NodeProto {
        input: n.inputs.iter().map(|v| names[v.0].clone()).collect(),
        output: n.outputs.iter().map(|v| names[v.0].clone()).collect(),
        name: format!("{}.{}", names[n.name.0 .0], n.name.1),
        op_type: n.op,
        domain: n.domain,
        attribute,
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "builder_tests.rs"]
mod tests;
