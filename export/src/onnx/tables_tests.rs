//! The builder's quantised products and lookups, finished by [`quantize_model`].

use super::{lookup, tied_product};
use crate::onnx::ops::linear;
use crate::onnx::proto::{ModelProto, NodeProto, TensorProto};
use crate::onnx::prune::quantize_model;
use crate::onnx::{GraphBuilder, WeightFormat};
use crate::quant::matrix::transpose_matrix;
use crate::quant::pack::quantize_blockwise;
use crate::quant::{QuantError, QuantOptions, Scheme, MS_DOMAIN, VOCAB_TABLE_ROWS};
use std::collections::HashSet;
use unival_manifest::{DType, Dim};

fn quantised(opts: QuantOptions) -> WeightFormat {
    WeightFormat {
        float: DType::F32,
        quant: Some(opts),
    }
}

/// Every node of `nodes` and, depth first, of their subgraphs (`If` branches).
fn all_nodes<'a>(nodes: &'a [NodeProto], out: &mut Vec<&'a NodeProto>) {
    for n in nodes {
        out.push(n);
        for g in n.attribute.iter().filter_map(|a| a.g.as_ref()) {
            all_nodes(&g.node, out);
        }
    }
}

fn count(m: &ModelProto, op: &str) -> usize {
    let mut every = Vec::new();
    all_nodes(&m.graph.as_ref().unwrap().node, &mut every);
    every.iter().filter(|n| n.op_type == op).count()
}

/// `y = x · W` (`W [64, 48]`, a `Linear` wired under `quant`), `z = Gemm(y, E, transB)`
/// (`E [40, 48]`), `e = Gather(E, ids)`.
fn model(quant: QuantOptions) -> (ModelProto, Vec<f32>, Vec<f32>) {
    let mut g = GraphBuilder::new("t", quantised(quant));
    let x = g.input("x", DType::F32, vec![Dim::Fixed(2), Dim::Fixed(64)]);
    let ids = g.input("ids", DType::I64, vec![Dim::Fixed(3)]);
    let w: Vec<f32> = (0..64 * 48)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    let e: Vec<f32> = (0..40 * 48)
        .map(|i| ((i * 53 % 97) as f32 - 48.0) / 40.0)
        .collect();
    let ev = g.table("e", [40, 48], e.clone(), true);
    let y = linear(&mut g, "y", x, &transpose_matrix(&w, 64, 48), None, 64, 48);
    let z = tied_product(&mut g, "z", y, ev);
    let rows = lookup(&mut g, "rows", ev, ids);
    g.output("z", z, DType::F32, vec![Dim::Fixed(2), Dim::Fixed(40)]);
    g.output(
        "rows",
        rows,
        DType::F32,
        vec![Dim::Fixed(3), Dim::Fixed(48)],
    );
    (g.finish("test"), w, e)
}

fn ops(m: &ModelProto) -> Vec<String> {
    m.graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type.clone())
        .collect()
}

fn init<'a>(m: &'a ModelProto, name: &str) -> Option<&'a TensorProto> {
    m.graph
        .as_ref()
        .unwrap()
        .initializer
        .iter()
        .find(|t| t.name == name)
}

/// An untied vocabulary-sized table that is only gathered (the encoder's token embedding)
/// is looked up from 8-bit codes; a small one (positions) stays float.
#[test]
fn untied_vocabulary_tables_are_looked_up_in_8_bits() {
    let opts = QuantOptions::for_precision(unival_manifest::Precision::Int8).unwrap();
    let mut g = GraphBuilder::new("t", quantised(opts));
    let ids = g.input("ids", DType::I64, vec![Dim::Fixed(3)]);
    let rows = VOCAB_TABLE_ROWS;
    let big: Vec<f32> = (0..rows * 32)
        .map(|i| ((i * 29 % 89) as f32 - 44.0) / 30.0)
        .collect();
    let small: Vec<f32> = (0..100 * 32).map(|i| (i % 13) as f32 / 13.0).collect();
    let bv = g.table("tokens", [rows, 32], big, false);
    let sv = g.table("positions", [100, 32], small, false);
    let a = lookup(&mut g, "a", bv, ids);
    let b = lookup(&mut g, "b", sv, ids);
    let y = g.node("Add", "y", &[a, b], &[]);
    g.output("y", y, DType::F32, vec![Dim::Fixed(3), Dim::Fixed(32)]);
    let mut m = g.finish("test");
    let r = quantize_model(&mut m);
    assert_eq!(
        count(&m, "Gather"),
        3,
        "two for the codes lookup, one float"
    );
    assert!(
        init(&m, "tokens").is_none(),
        "the fp32 vocabulary table is gone"
    );
    assert_eq!(
        init(&m, "tokens.lookup_q8").unwrap().dims,
        vec![rows as i64, 1, 32]
    );
    assert!(init(&m, "positions").is_some(), "small tables stay float");
    assert!(r.bytes_after < r.bytes_before / 3, "{r:?}");
}

#[test]
fn nbits_rewrites_products_and_the_tied_lookup() {
    let opts = QuantOptions {
        scheme: Scheme::NBits {
            bits: 4,
            block_size: 32,
            accuracy_level: 4,
        },
        min_dim: 16,
        convs: None,
    };
    let (mut m, w, _) = model(opts);
    let r = quantize_model(&mut m);
    assert!(
        r.bytes_after < r.bytes_before,
        "the float table is dropped: {r:?}"
    );
    let ops = ops(&m);
    assert_eq!(ops.iter().filter(|o| *o == "MatMulNBits").count(), 2);
    assert!(!ops.contains(&"MatMul".to_string()) && !ops.contains(&"Gemm".to_string()));
    // The float weights are gone; the codes are [N, K/32, 16] for 4 bits.
    assert!(init(&m, "y.weight").is_none() && init(&m, "e").is_none());
    assert_eq!(init(&m, "y.weight.q4").unwrap().dims, vec![48, 2, 16]);
    assert_eq!(init(&m, "e.q4").unwrap().dims, vec![40, 2, 16]);
    // The lookup reads 8-bit codes in blocks of 16 (48 = 3·16).
    assert_eq!(init(&m, "e.lookup_q8").unwrap().dims, vec![40, 3, 16]);
    assert!(m.opset_import.iter().any(|o| o.domain == MS_DOMAIN));
    // The MatMul's codes are W transposed: code(n, k) is W[k, n] quantised.
    let codes = init(&m, "y.weight.q4").unwrap();
    let expect = quantize_blockwise("w", &transpose_matrix(&w, 64, 48), 48, 64, 4, 32).unwrap();
    assert_eq!(codes.raw_data, expect.codes);
    let scales = init(&m, "y.weight.scales").unwrap();
    assert_eq!(scales.dims, vec![48, 2]);
    // Node outputs keep their names, so graph outputs still resolve.
    let g = m.graph.as_ref().unwrap();
    for out in ["z", "rows"] {
        assert!(
            g.node.iter().any(|n| n.output.iter().any(|o| o == out)),
            "{out}"
        );
    }
}

/// A weight that cannot be quantised (NaN) is reported by the builder, naming it.
#[test]
fn a_non_finite_linear_weight_is_a_deferred_error() {
    let opts = QuantOptions::for_precision(unival_manifest::Precision::Int8).unwrap();
    let mut g = GraphBuilder::new("t", quantised(opts));
    let x = g.input("x", DType::F32, vec![Dim::Fixed(2), Dim::Fixed(32)]);
    let mut w = vec![0.5; 32 * 32];
    w[7] = f32::NAN;
    let y = linear(&mut g, "proj", x, &w, None, 32, 32);
    g.output("y", y, DType::F32, vec![Dim::Fixed(2), Dim::Fixed(32)]);
    let err = g.take_error().expect("the NaN is reported");
    assert!(
        matches!(&err, QuantError::NonFinite { tensor, index: 7 } if tensor == "proj.weight"),
        "{err}"
    );
}

#[test]
fn small_weights_stay_float() {
    let opts = QuantOptions {
        min_dim: 50,
        ..QuantOptions::for_precision(unival_manifest::Precision::Int8).unwrap()
    };
    let (mut m, _, _) = model(opts);
    let r = quantize_model(&mut m);
    assert_eq!(count(&m, "MatMulNBits"), 0);
    assert_eq!(r.bytes_after, r.bytes_before);
    assert!(init(&m, "y.weight").is_some());
}

/// The decoder's shape: `If(all)` choosing `Gemm(x, E, transB)` or
/// `Gemm(x, Gather(E, rows), transB)`, plus a lookup of `E` in the main graph.
fn model_with_branches(opts: QuantOptions) -> ModelProto {
    let mut g = GraphBuilder::new("t", quantised(opts));
    let x = g.input("x", DType::F32, vec![Dim::Fixed(2), Dim::Fixed(48)]);
    let rows = g.input("rows", DType::I64, vec![Dim::Symbol("k".into())]);
    let all = g.input("all", DType::Bool, vec![]);
    let e: Vec<f32> = (0..40 * 48)
        .map(|i| ((i * 53 % 97) as f32 - 48.0) / 40.0)
        .collect();
    let ev = g.table("e", [40, 48], e, true);
    let looked = lookup(&mut g, "looked", ev, rows);
    let z = g.if_else(
        "z",
        all,
        DType::F32,
        |g| tied_product(g, "full", x, ev),
        |g| {
            let picked = lookup(g, "picked", ev, rows);
            g.node(
                "Gemm",
                "some",
                &[x, picked],
                &[("transB", crate::onnx::Attr::Int(1))],
            )
        },
    );
    g.output(
        "z",
        z,
        DType::F32,
        vec![Dim::Fixed(2), Dim::Symbol("v".into())],
    );
    g.output(
        "looked",
        looked,
        DType::F32,
        vec![Dim::Symbol("k".into()), Dim::Fixed(48)],
    );
    g.finish("test")
}

/// The ops of the `If` node's `attr` branch.
fn branch_ops(m: &ModelProto, attr: &str) -> Vec<String> {
    let g = m.graph.as_ref().unwrap();
    let node = g.node.iter().find(|n| n.op_type == "If").unwrap();
    let body = node
        .attribute
        .iter()
        .find(|a| a.name == attr)
        .and_then(|a| a.g.as_ref())
        .unwrap();
    body.node.iter().map(|n| n.op_type.clone()).collect()
}

#[test]
fn if_branches_are_rewritten_and_no_float_table_stays() {
    {
        let scheme = Scheme::NBits {
            bits: 8,
            block_size: 16,
            accuracy_level: 4,
        };
        let opts = QuantOptions {
            scheme,
            min_dim: 16,
            convs: None,
        };
        let mut m = model_with_branches(opts);
        quantize_model(&mut m);
        // The main lookup and the branch lookup (else) read codes: two Gathers each.
        assert_eq!(count(&m, "Gather"), 4, "{scheme:?}");
        let then_ops = branch_ops(&m, "then_branch");
        let else_ops = branch_ops(&m, "else_branch");
        assert!(!then_ops.contains(&"Gemm".to_string()), "{then_ops:?}");
        assert_eq!(then_ops, ["MatMulNBits"]);
        // The picked rows come from 8-bit codes; the product over them stays a float Gemm.
        assert_eq!(else_ops.iter().filter(|o| *o == "Gather").count(), 2);
        assert!(else_ops.contains(&"Gemm".to_string()), "{else_ops:?}");
        // Nothing reads the float table any more, so it is gone; what the branches read
        // stayed in the main graph.
        assert!(init(&m, "e").is_none(), "{scheme:?}");
        let g = m.graph.as_ref().unwrap();
        let mut every: Vec<&NodeProto> = Vec::new();
        all_nodes(&g.node, &mut every);
        let produced: HashSet<&str> = every
            .iter()
            .flat_map(|n| n.output.iter().map(String::as_str))
            .chain(g.input.iter().map(|i| i.name.as_str()))
            .chain(g.initializer.iter().map(|t| t.name.as_str()))
            .collect();
        for n in &every {
            for i in &n.input {
                assert!(
                    produced.contains(i.as_str()),
                    "{scheme:?}: `{i}` has no producer"
                );
            }
        }
    }
}

/// Codes a lookup shares with a tied product are placed even when no product is wired.
#[test]
fn shared_codes_without_a_product_still_get_their_initializer() {
    let opts = QuantOptions {
        scheme: Scheme::NBits {
            bits: 8,
            block_size: 16,
            accuracy_level: 4,
        },
        min_dim: 16,
        convs: None,
    };
    let mut g = GraphBuilder::new("t", quantised(opts));
    let ids = g.input("ids", DType::I64, vec![Dim::Fixed(3)]);
    let e: Vec<f32> = (0..40 * 48).map(|i| (i % 17) as f32 - 8.0).collect();
    let ev = g.table("e", [40, 48], e, true);
    let rows = lookup(&mut g, "rows", ev, ids);
    g.output(
        "rows",
        rows,
        DType::F32,
        vec![Dim::Fixed(3), Dim::Fixed(48)],
    );
    let m = g.finish("test");
    assert_eq!(init(&m, "e.q8").unwrap().dims, vec![40, 3, 16]);
}
