//! Constructors of the ONNX protobuf messages (attributes, tensors, nodes): the one place the
//! graph builder and the quantiser make them.

use super::proto::{attribute_type, AttributeProto, GraphProto, NodeProto, TensorProto};

/// A node attribute.
#[derive(Debug, Clone)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Floats(Vec<f32>),
    Str(String),
    Tensor(TensorProto),
    /// A finished subgraph (control-flow bodies); see [`super::GraphBuilder::if_else`] for building
    /// branches from values of this graph.
    Graph(GraphProto),
}

/// The attribute `name` holding `a`.
pub fn attribute(name: &str, a: &Attr) -> AttributeProto {
    let mut p = AttributeProto {
        name: name.to_string(),
        ..Default::default()
    };
    match a {
        Attr::Int(i) => {
            p.r#type = attribute_type::INT;
            p.i = *i;
        }
        Attr::Ints(v) => {
            p.r#type = attribute_type::INTS;
            p.ints = v.clone();
        }
        Attr::Float(f) => {
            p.r#type = attribute_type::FLOAT;
            p.f = *f;
        }
        Attr::Floats(v) => {
            p.r#type = attribute_type::FLOATS;
            p.floats = v.clone();
        }
        Attr::Str(s) => {
            p.r#type = attribute_type::STRING;
            p.s = s.as_bytes().to_vec();
        }
        Attr::Tensor(t) => {
            p.r#type = attribute_type::TENSOR;
            p.t = Some(t.clone());
        }
        Attr::Graph(g) => {
            p.r#type = attribute_type::GRAPH;
            p.g = Some(g.clone());
        }
    }
    p
}

/// An integer attribute.
pub fn attr_int(name: &str, i: i64) -> AttributeProto {
    attribute(name, &Attr::Int(i))
}

/// A tensor of element type `dt` (an ONNX `data_type`) from its little-endian bytes.
pub fn tensor(name: &str, dims: &[usize], dt: i32, raw: Vec<u8>) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: dt,
        raw_data: raw,
        ..Default::default()
    }
}

/// A node of operator `op` in `domain` (empty: the default domain), without attributes.
pub fn node(op: &str, domain: &str, name: String, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name,
        op_type: op.to_string(),
        domain: domain.to_string(),
        ..Default::default()
    }
}
