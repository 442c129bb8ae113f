//! What is left after the graph builder quantised the weights where it wired them
//! ([`crate::onnx::ops::linear`], [`crate::onnx::tables`], [`crate::onnx::conv`]): dropping
//! the float tables nothing reads any more (a table's lookups and tied product both read
//! codes, but only the graph as a whole shows that none reads the float one), and declaring
//! ONNX Runtime's contrib domain.

use super::proto::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto};
use crate::quant::MS_DOMAIN;
use std::collections::HashSet;

/// What a pass changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuantReport {
    /// Initializer bytes before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Finishes the quantisation of `model` (built under a quantising
/// [`WeightFormat`](crate::onnx::WeightFormat)) and reports what changed.
pub fn quantize_model(model: &mut ModelProto) -> QuantReport {
    let Some(graph) = model.graph.as_mut() else {
        return QuantReport::default();
    };
    let bytes_before = initializer_bytes(graph);
    drop_unused_initializers(graph);
    let report = QuantReport {
        bytes_before,
        bytes_after: initializer_bytes(graph),
    };
    if !model.opset_import.iter().any(|o| o.domain == MS_DOMAIN) {
        model.opset_import.push(OperatorSetIdProto {
            domain: MS_DOMAIN.to_string(),
            version: 1,
        });
    }
    report
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
