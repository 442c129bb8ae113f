//! Which nodes the quantisation pass rewrites: the tied output projection's product and row
//! lookups of tables, found by the initializer names the nodes read.

use crate::onnx::proto::{data_type, GraphProto, NodeProto};
use std::collections::{HashMap, HashSet};

/// Position of every initializer of `graph` by name.
pub(super) fn initializer_index(graph: &GraphProto) -> HashMap<String, usize> {
    graph
        .initializer
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect()
}

/// A node computing `x · Wᵀ` with a quantisable `[N, K]` weight (the tied output projection;
/// the `Linear` products are quantised where they are wired, [`crate::onnx::ops::linear`]).
pub(super) struct Product {
    pub(super) weight: String,
    pub(super) k: usize,
    pub(super) n: usize,
}

/// The float initializer `name` as `dims` with `K, N ≥ min_dim`, when it is 2-D.
pub(super) fn float_matrix(
    g: &GraphProto,
    inits: &HashMap<String, usize>,
    name: &str,
    min_dim: usize,
) -> Option<(usize, usize)> {
    let t = &g.initializer[*inits.get(name)?];
    let ok = t.data_type == data_type::FLOAT
        && t.dims.len() == 2
        && t.dims.iter().all(|&d| d >= min_dim as i64)
        && t.raw_data.len() as i64 == 4 * t.dims[0] * t.dims[1];
    ok.then(|| (t.dims[0] as usize, t.dims[1] as usize))
}

pub(super) fn int_attr(n: &NodeProto, name: &str) -> Option<i64> {
    n.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

pub(super) fn float_attr(n: &NodeProto, name: &str) -> Option<f32> {
    n.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

/// Whether `n` is a `Gemm(x, W, transB=1)` with a quantisable constant weight, and its shape.
pub(super) fn product(
    n: &NodeProto,
    g: &GraphProto,
    inits: &HashMap<String, usize>,
    min_dim: usize,
) -> Option<Product> {
    if !n.domain.is_empty() || n.output.len() != 1 {
        return None;
    }
    let weight = n.input.get(1)?;
    match n.op_type.as_str() {
        "Gemm"
            if n.input.len() == 2
                && int_attr(n, "transB") == Some(1)
                && int_attr(n, "transA").unwrap_or(0) == 0
                && float_attr(n, "alpha").unwrap_or(1.0) == 1.0 =>
        {
            let (n_out, k) = float_matrix(g, inits, weight, min_dim)?;
            Some(Product {
                weight: weight.clone(),
                k,
                n: n_out,
            })
        }
        _ => None,
    }
}

/// Untied tables with at least this many rows are looked up from 8-bit codes: vocabularies
/// (59457 rows), not position or bucket tables (≤ 6892 rows).
pub(super) const VOCAB_TABLE_ROWS: usize = 16_384;

/// The table a row lookup (`Gather`, axis 0) reads.
pub(super) fn gathered_any(n: &NodeProto) -> Option<&str> {
    if n.op_type != "Gather" || !n.domain.is_empty() || int_attr(n, "axis").unwrap_or(0) != 0 {
        return None;
    }
    n.input.first().map(String::as_str)
}

/// The table a row lookup reads, when it is one of `tables`.
pub(super) fn gathered_table<'a>(n: &'a NodeProto, tables: &HashSet<String>) -> Option<&'a str> {
    gathered_any(n).filter(|t| tables.contains(*t))
}
