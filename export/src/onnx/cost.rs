//! The work one run of a graph does, counted from its ONNX file: floating-point operations of
//! the weight products (MatMul, Gemm, Conv, MatMulNBits) and the bytes of weights it reads.
//!
//! Shapes are propagated only as far as the FLOP count needs: from the graph inputs the caller
//! sizes through convolutions, pooling and elementwise ops (enough for a ResNet); a MatMul whose
//! left operand has no known shape takes the caller's [`Rows`] (the sequence length of the
//! encoder, the beam of a decoder step, the patch grid of a perception graph). Products of two
//! activations (attention scores) are not counted here; the caller adds them from the model's
//! dimensions (`unival bench`'s floor).

use super::proto::{data_type, AttributeProto, GraphProto, ModelProto, NodeProto};
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Why a graph could not be counted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CostError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an ONNX model: {source}")]
    NotOnnx {
        path: PathBuf,
        source: prost::DecodeError,
    },
    #[error("{path}: the model has no graph")]
    NoGraph { path: PathBuf },
}

/// FLOPs and weight bytes of one graph run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GraphCost {
    /// Multiply-adds × 2.
    pub flops: f64,
    /// Bytes of the weights the run reads (each initializer once; embedding tables read by
    /// `Gather` only are left out, as a lookup touches a few rows).
    pub weight_bytes: f64,
    /// Bytes of every initializer of the graph (what the weights occupy in memory).
    pub all_weight_bytes: f64,
    /// Spatial size `(h, w)` of the last convolution output seen (the patch grid of a
    /// perception graph), if any.
    pub last_conv_hw: Option<(usize, usize)>,
}

/// Rows of a MatMul whose left operand's shape is not known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rows {
    /// This many (sequence length, beam).
    Fixed(usize),
    /// One per position of the last convolution's output grid (patch embeddings after a
    /// backbone); 1 before any convolution.
    ConvGrid,
}

/// Reads `path` and counts one run with the given input shapes.
pub fn graph_cost(
    path: &Path,
    input_shapes: &[(&str, Vec<usize>)],
    default_rows: Rows,
) -> Result<GraphCost, CostError> {
    let path_buf = || path.to_path_buf();
    let bytes = std::fs::read(path).map_err(|source| CostError::Io {
        path: path_buf(),
        source,
    })?;
    let model = ModelProto::decode(bytes.as_slice()).map_err(|source| CostError::NotOnnx {
        path: path_buf(),
        source,
    })?;
    drop(bytes);
    let graph = model
        .graph
        .ok_or_else(|| CostError::NoGraph { path: path_buf() })?;
    Ok(count(&graph, input_shapes, default_rows))
}

fn elem_bytes(data_type: i32) -> f64 {
    match data_type {
        data_type::FLOAT | data_type::INT32 => 4.0,
        data_type::FLOAT16 => 2.0,
        data_type::INT64 => 8.0,
        // uint8, int8, bool; 4-bit types are packed into uint8 initializers.
        _ => 1.0,
    }
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_ints(node: &NodeProto, name: &str) -> Vec<i64> {
    attr(node, name).map(|a| a.ints.clone()).unwrap_or_default()
}

fn attr_int(node: &NodeProto, name: &str) -> Option<i64> {
    attr(node, name).map(|a| a.i)
}

fn dim(x: i64) -> usize {
    usize::try_from(x).unwrap_or(0)
}

/// Output side of a sliding window along one axis (ONNX `Conv`/`MaxPool`, no auto_pad).
fn window_out(input: usize, kernel: usize, stride: usize, pad: usize, dilation: usize) -> usize {
    let span = dilation * (kernel.max(1) - 1) + 1;
    (input + pad).saturating_sub(span) / stride.max(1) + 1
}

/// `[N, C, H, W]` → output `[N, out_c, H', W']` of a 2-D window op.
fn window_shape(node: &NodeProto, x: &[usize], kernel: &[usize], out_c: usize) -> Vec<usize> {
    let strides = attr_ints(node, "strides");
    let pads = attr_ints(node, "pads");
    let dil = attr_ints(node, "dilations");
    let mut out = vec![x[0], out_c];
    for axis in 0..2 {
        let at = |v: &[i64], i: usize, d: usize| v.get(i).map(|&x| dim(x)).unwrap_or(d);
        let pad = at(&pads, axis, 0) + at(&pads, axis + 2, 0);
        out.push(window_out(
            x[2 + axis],
            kernel[axis],
            at(&strides, axis, 1),
            pad,
            at(&dil, axis, 1),
        ));
    }
    out
}

/// Numpy broadcast of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let pick = |s: &[usize]| {
                (i + s.len())
                    .checked_sub(n)
                    .and_then(|j| s.get(j))
                    .copied()
                    .unwrap_or(1)
            };
            pick(a).max(pick(b))
        })
        .collect()
}

/// Ops whose output has the broadcast shape of their inputs.
const ELEMENTWISE: &[&str] = &[
    // Quantise/dequantise of activations (`--quantize-convs`) keep the shape.
    "DynamicQuantizeLinear",
    "DequantizeLinear",
    "Relu",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Sigmoid",
    "Tanh",
    "Erf",
    "Gelu",
    "Clip",
    "Identity",
    "Cast",
    "Sqrt",
    "Pow",
    "BatchNormalization",
    "LayerNormalization",
    "Softmax",
];

/// The nodes an unconstrained run executes, in order: an `If` contributes its `then_branch`
/// in its place. The only `If` the exporter writes is the decoder's output projection, whose
/// then-branch is the full projection (the else-branch serves constrained steps).
fn full_path<'a>(nodes: &'a [NodeProto], out: &mut Vec<&'a NodeProto>) {
    for n in nodes {
        let then = (n.op_type == "If")
            .then(|| attr(n, "then_branch").and_then(|a| a.g.as_ref()))
            .flatten();
        match then {
            Some(body) => full_path(&body.node, out),
            None => out.push(n),
        }
    }
}

fn count(graph: &GraphProto, input_shapes: &[(&str, Vec<usize>)], rows: Rows) -> GraphCost {
    let inits: HashMap<&str, (Vec<usize>, f64)> = graph
        .initializer
        .iter()
        .map(|t| {
            let dims: Vec<usize> = t.dims.iter().map(|&d| dim(d)).collect();
            let bytes = dims.iter().product::<usize>() as f64 * elem_bytes(t.data_type);
            (t.name.as_str(), (dims, bytes))
        })
        .collect();
    // Shapes of activations and of weight-derived values (a dequantised weight keeps its dims).
    let mut shapes: HashMap<String, Vec<usize>> = input_shapes
        .iter()
        .map(|(n, s)| (n.to_string(), s.clone()))
        .collect();
    let mut weights: HashMap<String, Vec<usize>> = HashMap::new();
    let mut read: HashSet<&str> = HashSet::new();
    let mut cost = GraphCost {
        all_weight_bytes: inits.values().map(|(_, b)| b).sum(),
        ..GraphCost::default()
    };
    let mut nodes = Vec::new();
    full_path(&graph.node, &mut nodes);
    for node in nodes {
        let op = node.op_type.as_str();
        if op != "Gather" {
            read.extend(
                node.input
                    .iter()
                    .filter(|i| inits.contains_key(i.as_str()))
                    .map(String::as_str),
            );
        }
        let weight = |i: usize| -> Option<Vec<usize>> {
            let name = node.input.get(i)?;
            inits
                .get(name.as_str())
                .map(|(d, _)| d.clone())
                .or_else(|| weights.get(name).cloned())
        };
        let shape = |i: usize| node.input.get(i).and_then(|n| shapes.get(n)).cloned();
        let default_rows = match rows {
            Rows::Fixed(n) => n,
            Rows::ConvGrid => cost.last_conv_hw.map(|(h, w)| h * w).unwrap_or(1),
        };
        let out = node.output.first().cloned().unwrap_or_default();
        match op {
            "DequantizeLinear" | "Transpose" if weight(0).is_some() => {
                if let Some(mut w) = weight(0) {
                    if op == "Transpose" {
                        w.reverse();
                    }
                    weights.insert(out, w);
                }
            }
            "MatMul" | "Gemm" => {
                let Some(w) = weight(1) else { continue };
                let (k, n) = match w.as_slice() {
                    [.., k, n] => {
                        let trans_b = op == "Gemm" && attr_int(node, "transB") == Some(1);
                        if trans_b {
                            (*n, *k)
                        } else {
                            (*k, *n)
                        }
                    }
                    _ => continue,
                };
                let a = shape(0);
                let rows = a
                    .as_ref()
                    .map(|s| s.iter().product::<usize>() / k.max(1))
                    .unwrap_or(default_rows);
                cost.flops += 2.0 * (rows * k * n) as f64;
                if let Some(mut s) = a {
                    if let Some(last) = s.last_mut() {
                        *last = n;
                    }
                    shapes.insert(out, s);
                }
            }
            "MatMulNBits" => {
                let k = attr_int(node, "K").map(dim).unwrap_or(0);
                let n = attr_int(node, "N").map(dim).unwrap_or(0);
                let rows = shape(0)
                    .map(|s| s.iter().product::<usize>() / k.max(1))
                    .unwrap_or(default_rows);
                cost.flops += 2.0 * (rows * k * n) as f64;
            }
            // `ConvInteger` (int8 bundles with `--quantize-convs`) does the same MACs in int8.
            "Conv" | "ConvInteger" => {
                let (Some(x), Some(w)) = (shape(0), weight(1)) else {
                    continue;
                };
                if x.len() != 4 || w.len() != 4 {
                    continue;
                }
                let y = window_shape(node, &x, &w[2..], w[0]);
                let per_output = 2 * w[1] * w[2] * w[3];
                cost.flops += (per_output * y.iter().product::<usize>()) as f64;
                cost.last_conv_hw = Some((y[2], y[3]));
                shapes.insert(out, y);
            }
            "MaxPool" | "AveragePool" => {
                let Some(x) = shape(0).filter(|x| x.len() == 4) else {
                    continue;
                };
                let k: Vec<usize> = attr_ints(node, "kernel_shape")
                    .into_iter()
                    .map(dim)
                    .collect();
                if k.len() == 2 {
                    shapes.insert(out, window_shape(node, &x, &k, x[1]));
                }
            }
            _ if ELEMENTWISE.contains(&op) => {
                let known: Vec<Vec<usize>> = (0..node.input.len()).filter_map(shape).collect();
                if let Some(first) = known.first() {
                    let s = known
                        .iter()
                        .skip(1)
                        .fold(first.clone(), |a, b| broadcast(&a, b));
                    shapes.insert(out, s);
                }
            }
            _ => {}
        }
    }
    cost.weight_bytes = read
        .iter()
        .filter_map(|n| inits.get(n))
        .map(|(_, b)| b)
        .sum();
    cost
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::onnx::{Attr, GraphBuilder};
    use unival_manifest::{DType, Dim};

    /// A conv (stride 2, pad 1) then a pool then a linear layer, counted by hand.
    #[test]
    fn conv_pool_and_matmul_are_counted() {
        let mut b = GraphBuilder::new("t", DType::F32);
        let x = b.input(
            "x",
            DType::F32,
            vec![Dim::Fixed(1), Dim::Fixed(3), Dim::Fixed(32), Dim::Fixed(32)],
        );
        let w = b.weight("w", &[8, 3, 3, 3], &[0.0; 8 * 27]);
        let y = b.node(
            "Conv",
            "conv",
            &[x, w],
            &[
                ("strides", Attr::Ints(vec![2, 2])),
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
            ],
        );
        let r = b.node("Relu", "relu", &[y], &[]);
        let p = b.node(
            "MaxPool",
            "pool",
            &[r],
            &[
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("strides", Attr::Ints(vec![2, 2])),
            ],
        );
        let emb = b.weight("emb", &[100, 4], &[0.0; 400]);
        let ids = b.input("ids", DType::I64, vec![Dim::Fixed(1)]);
        let _g = b.node("Gather", "g", &[emb, ids], &[]);
        let fc = b.weight("fc", &[8, 16], &[0.0; 128]);
        let q = b.node("MatMul", "fc", &[p, fc], &[]);
        b.output("q", q, DType::F32, vec![]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.onnx");
        crate::onnx::write::write_model(b.finish("test"), &path, false).unwrap();
        let c = graph_cost(&path, &[("x", vec![1, 3, 32, 32])], Rows::Fixed(7)).unwrap();
        // Conv: 16×16 outputs × 8 channels × 2·27. The pool output is [1, 8, 8, 8], so the
        // MatMul has 512 / 8 = 64 rows, K = 8, N = 16.
        let conv = 2.0 * 27.0 * 8.0 * 256.0;
        let fc = 2.0 * 64.0 * 8.0 * 16.0;
        assert_eq!(c.flops, conv + fc);
        assert_eq!(c.last_conv_hw, Some((16, 16)));
        // The Gather-only table is not read; conv and fc weights are.
        assert_eq!(c.weight_bytes, (8.0 * 27.0 + 128.0) * 4.0);
        assert_eq!(c.all_weight_bytes, (8.0 * 27.0 + 128.0 + 400.0) * 4.0);
    }

    /// `--quantize-convs` turns a `Conv` into `DynamicQuantizeLinear` → `ConvInteger` →
    /// `DequantizeLinear` → `Add`: the same MACs, still counted, and the shape still flows on.
    #[test]
    fn integer_convolutions_are_counted_like_float_ones() {
        let build = |convs: Option<crate::quant::ConvOptions>| {
            let quant = crate::quant::QuantOptions {
                convs,
                ..crate::quant::QuantOptions::for_precision(unival_manifest::Precision::Int8)
                    .unwrap()
            };
            let format = crate::onnx::WeightFormat {
                float: DType::F32,
                quant: Some(quant),
            };
            let mut b = GraphBuilder::new("t", format);
            let x = b.input(
                "x",
                DType::F32,
                vec![Dim::Fixed(1), Dim::Fixed(8), Dim::Fixed(16), Dim::Fixed(16)],
            );
            let w: Vec<f32> = (0..4 * 8 * 9).map(|i| (i % 7) as f32 - 3.0).collect();
            let weights = crate::onnx::conv::ConvWeights {
                weight: &w,
                bias: &[0.5; 4],
                shape: &[4, 8, 3, 3],
                groups: 1,
            };
            let pads = [("pads", Attr::Ints(vec![1, 1, 1, 1]))];
            let y = crate::onnx::conv::conv(&mut b, "conv", x, &weights, &pads);
            let fc = b.weight("fc", &[16, 2], &[0.0; 32]);
            let q = b.node("MatMul", "fc", &[y, fc], &[]);
            b.output("q", q, DType::F32, vec![]);
            b.finish("test")
        };
        let cost_of = |model: crate::onnx::proto::ModelProto| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.onnx");
            crate::onnx::write::write_model(model, &path, false).unwrap();
            graph_cost(&path, &[("x", vec![1, 8, 16, 16])], Rows::Fixed(1)).unwrap()
        };
        let float = cost_of(build(None));
        let opts = crate::quant::ConvOptions {
            kernels: crate::quant::ConvKernels::All,
            min_in_channels: 4,
        };
        let model = build(Some(opts));
        let graph = model.graph.as_ref().unwrap();
        assert!(graph.node.iter().any(|n| n.op_type == "ConvInteger"));
        let int = cost_of(model);
        // Conv: 16×16 outputs × 4 channels × 2·72; MatMul: 1·4·16 rows × 16 × 2.
        let conv = 2.0 * 72.0 * 4.0 * 256.0;
        assert_eq!(float.flops, conv + 2.0 * 64.0 * 16.0 * 2.0);
        assert_eq!(int.flops, float.flops);
        assert_eq!(int.last_conv_hw, Some((16, 16)));
    }

    #[test]
    fn unknown_rows_fall_back_to_the_default() {
        let mut b = GraphBuilder::new("t", DType::F32);
        let x = b.input(
            "x",
            DType::F32,
            vec![Dim::Symbol("n".into()), Dim::Fixed(4)],
        );
        let w = b.weight("w", &[4, 6], &[0.0; 24]);
        let y = b.node("MatMul", "mm", &[x, w], &[]);
        b.output("y", y, DType::F32, vec![]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.onnx");
        crate::onnx::write::write_model(b.finish("test"), &path, false).unwrap();
        let c = graph_cost(&path, &[], Rows::Fixed(5)).unwrap();
        assert_eq!(c.flops, 2.0 * 5.0 * 4.0 * 6.0);
        assert_eq!(c.weight_bytes, 24.0 * 4.0);
        assert_eq!(window_out(480, 7, 2, 6, 1), 240);
        assert_eq!(broadcast(&[2, 1, 4], &[3, 1]), vec![2, 3, 4]);
    }

    /// The decoder's `If` between the full and the row-restricted projection counts as the
    /// full one (the floor of an unconstrained step).
    #[test]
    fn an_if_counts_its_then_branch() {
        let mut b = GraphBuilder::new("t", DType::F32);
        let x = b.input("x", DType::F32, vec![Dim::Fixed(2), Dim::Fixed(4)]);
        let rows = b.input("rows", DType::I64, vec![Dim::Symbol("k".into())]);
        let all = b.input("all", DType::Bool, vec![]);
        let e = b.weight("e", &[10, 4], &[0.0; 40]);
        let trans_b = || [("transB", Attr::Int(1))];
        let y = b.if_else(
            "y",
            all,
            DType::F32,
            |b| b.node("Gemm", "full", &[x, e], &trans_b()),
            |b| {
                let picked = b.node("Gather", "picked", &[e, rows], &[]);
                b.node("Gemm", "some", &[x, picked], &trans_b())
            },
        );
        b.output("y", y, DType::F32, vec![]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.onnx");
        crate::onnx::write::write_model(b.finish("test"), &path, false).unwrap();
        let c = graph_cost(&path, &[("x", vec![2, 4])], Rows::Fixed(1)).unwrap();
        assert_eq!(c.flops, 2.0 * 2.0 * 4.0 * 10.0);
        assert_eq!(c.weight_bytes, 40.0 * 4.0);
    }
}
