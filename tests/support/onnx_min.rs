//! A minimal ONNX `ModelProto` writer for runtime tests: a few nodes with named, typed inputs and
//! outputs, no initialisers, no attributes. Hand-encoded protobuf (varints and length-delimited
//! fields), so runtime tests need neither the exporter nor generated code.
//!
//! Field numbers are those of `onnx/onnx.proto` (ModelProto: ir_version 1, graph 7,
//! opset_import 8; GraphProto: node 1, name 2, input 11, output 12; NodeProto: input 1,
//! output 2, name 3, op_type 4; ValueInfoProto: name 1, type 2; TypeProto: tensor_type 1;
//! Tensor: elem_type 1, shape 2; TensorShapeProto: dim 1; Dimension: dim_value 1, dim_param 2).

/// ONNX `TensorProto.DataType` values used by the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// `FLOAT`.
    F32 = 1,
    /// `INT64`.
    I64 = 7,
    /// `BOOL`.
    Bool = 9,
    /// `FLOAT16`.
    F16 = 10,
}

/// A graph input or output: name, element type, dims (`"3"` is fixed, `"n"` symbolic; no dims
/// is a scalar).
#[derive(Debug, Clone)]
pub struct Io<'a> {
    /// Tensor name.
    pub name: &'a str,
    /// Element type.
    pub elem: Elem,
    /// Dims: numbers are fixed, other text is a symbol.
    pub dims: &'a [&'a str],
}

/// One node: `op_type(inputs) -> outputs`, default domain.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// ONNX operator, e.g. `Add`.
    pub op: &'a str,
    /// Input tensor names.
    pub inputs: &'a [&'a str],
    /// Output tensor names.
    pub outputs: &'a [&'a str],
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn int_field(out: &mut Vec<u8>, field: u32, v: i64) {
    key(out, field, 0);
    varint(out, v as u64);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn value_info(io: &Io) -> Vec<u8> {
    let mut shape = Vec::new();
    for d in io.dims {
        let mut dim = Vec::new();
        match d.parse::<i64>() {
            Ok(n) => int_field(&mut dim, 1, n),
            Err(_) => bytes_field(&mut dim, 2, d.as_bytes()),
        }
        bytes_field(&mut shape, 1, &dim);
    }
    let mut tensor = Vec::new();
    int_field(&mut tensor, 1, io.elem as i64);
    bytes_field(&mut tensor, 2, &shape);
    let mut ty = Vec::new();
    bytes_field(&mut ty, 1, &tensor);
    let mut vi = Vec::new();
    bytes_field(&mut vi, 1, io.name.as_bytes());
    bytes_field(&mut vi, 2, &ty);
    vi
}

/// Serialised `ModelProto` (IR version 8, default-domain opset 13) of one graph.
pub fn model(nodes: &[Node], inputs: &[Io], outputs: &[Io]) -> Vec<u8> {
    let mut graph = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let mut node = Vec::new();
        for x in n.inputs {
            bytes_field(&mut node, 1, x.as_bytes());
        }
        for y in n.outputs {
            bytes_field(&mut node, 2, y.as_bytes());
        }
        bytes_field(&mut node, 3, format!("n{i}").as_bytes());
        bytes_field(&mut node, 4, n.op.as_bytes());
        bytes_field(&mut graph, 1, &node);
    }
    bytes_field(&mut graph, 2, b"tiny");
    for io in inputs {
        bytes_field(&mut graph, 11, &value_info(io));
    }
    for io in outputs {
        bytes_field(&mut graph, 12, &value_info(io));
    }
    let mut opset = Vec::new();
    bytes_field(&mut opset, 1, b"");
    int_field(&mut opset, 2, 13);
    let mut m = Vec::new();
    int_field(&mut m, 1, 8);
    bytes_field(&mut m, 2, b"unival-tests");
    bytes_field(&mut m, 7, &graph);
    bytes_field(&mut m, 8, &opset);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_protobuf_encoding() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        let mut k = Vec::new();
        bytes_field(&mut k, 12, b"ab");
        assert_eq!(k, [0x62, 2, b'a', b'b']);
    }
}
