//! The pass over a built graph that remains: the opt-in `ConvInteger` form of convolutions
//! ([`super::conv`]), then dropping the float initializers nothing reads any more (the tables
//! whose lookups and tied product read codes, the convolution weights), and declaring ONNX
//! Runtime's contrib domain. Products and lookups are quantised where the graph builder wires
//! them ([`crate::onnx::ops::linear`], [`crate::onnx::tables`]), under its weight format.

use super::conv::quantize_convs;
use super::names::MS_DOMAIN;
use super::{QuantError, QuantOptions};
use crate::onnx::proto::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto};
use std::collections::HashSet;

/// What a pass changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuantReport {
    /// Convolutions rewritten to `ConvInteger` ([`super::conv`]).
    pub convs: usize,
    /// Initializer bytes before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Finishes the quantisation of `model` (built under `opts`) and reports what changed. Fails
/// on a convolution weight [`pack`](super::pack) refuses.
pub fn quantize_model(
    model: &mut ModelProto,
    opts: &QuantOptions,
) -> Result<QuantReport, QuantError> {
    let Some(graph) = model.graph.as_mut() else {
        return Ok(QuantReport::default());
    };
    let mut report = QuantReport {
        bytes_before: initializer_bytes(graph),
        ..QuantReport::default()
    };
    if let Some(c) = &opts.convs {
        report.convs = quantize_convs(graph, c)?;
    }
    drop_unused_initializers(graph);
    report.bytes_after = initializer_bytes(graph);
    if !model.opset_import.iter().any(|o| o.domain == MS_DOMAIN) {
        model.opset_import.push(OperatorSetIdProto {
            domain: MS_DOMAIN.to_string(),
            version: 1,
        });
    }
    Ok(report)
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

fn initializer_bytes(g: &GraphProto) -> u64 {
    g.initializer.iter().map(|t| t.raw_data.len() as u64).sum()
}

/// Drops initializers no node (of the graph or of a subgraph) and no output reads.
fn drop_unused_initializers(g: &mut GraphProto) {
    let mut every = Vec::new();
    all_nodes(&g.node, &mut every);
    let used: HashSet<&str> = every
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .chain(g.output.iter().map(|o| o.name.as_str()))
        .collect();
    let keep: Vec<bool> = g
        .initializer
        .iter()
        .map(|t| used.contains(t.name.as_str()))
        .collect();
    let mut it = keep.into_iter();
    g.initializer.retain(|_| it.next().unwrap_or(true));
}
