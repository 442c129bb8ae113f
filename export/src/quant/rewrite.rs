//! The graph pass: finds float weights feeding `Gemm(transB=1)` (`[N, K]`, the tied output
//! projection; `Linear` products are already `MatMulNBits`, wired so by
//! [`crate::onnx::ops::linear`] under the builder's policy), replaces those nodes by the quantised form of
//! [`Scheme`], points `Gather` lookups of a quantised `[N, K]` table at 8-bit codes, and drops
//! the float initializers nothing reads any more. Output value names are kept, so the graph's
//! I/O and the manifest do not change.
//!
//! Subgraphs (the decoder's `If` between the full and the row-restricted output projection) are
//! walked too, with the same rewrites: a branch reads the main graph's weights by outer scope,
//! so the quantised initializers stay in the main graph and no branch keeps a float table alive.

use super::conv::quantize_convs;
use super::emit::{
    block_initializers, codes_name, f32_tensor, gather_dequantized, lookup_codes_name,
    lookup_scales_name, matmul_nbits, MS_DOMAIN,
};
use super::find::{
    float_matrix, gathered_any, gathered_table, initializer_index, product, Product,
    VOCAB_TABLE_ROWS,
};
use super::pack::{effective_block, quantize_blockwise, BlockQuantized};
use super::{QuantError, QuantOptions, Scheme};
use crate::onnx::make::tensor;
use crate::onnx::proto::{
    data_type, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a pass changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuantReport {
    /// `MatMul`/`Gemm` nodes rewritten (subgraphs included).
    pub matmuls: usize,
    /// Embedding lookups rewritten to read 8-bit codes (subgraphs included).
    pub gathers: usize,
    /// Convolutions rewritten to `ConvInteger` ([`super::conv`]).
    pub convs: usize,
    /// Initializer bytes before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Rewrites `model` as `opts` says and reports what changed. Fails on a weight with NaN or
/// infinite values or options [`pack`](super::pack) refuses.
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
    let inits: HashMap<String, usize> = initializer_index(graph);
    let mut new_inits = Vec::new();
    let old_nodes = std::mem::take(&mut graph.node);
    let mut every = Vec::new();
    all_nodes(&old_nodes, &mut every);
    let products: Vec<Product> = every
        .iter()
        .filter_map(|n| product(n, graph, &inits, opts.min_dim))
        .collect();
    let weights = Weights {
        graph,
        inits: &inits,
    };
    let blocks = quantize_products(&weights, &products, opts, &mut new_inits)?;
    let lookups = lookup_table_names(&weights, &products, &every);
    let lookup_tables = quantize_lookups(&weights, &every, &lookups, &blocks, &mut new_inits)?;
    let pass = Rewrite {
        graph,
        inits: &inits,
        opts,
        blocks: &blocks,
        lookup_tables: &lookup_tables,
        lookups: &lookups,
    };
    let nodes = pass.nodes(&old_nodes, &mut report);
    drop(every);
    drop(old_nodes);
    graph.node = nodes;
    graph.initializer.extend(new_inits);
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

/// The float weights of the graph under rewrite, by name.
struct Weights<'a> {
    graph: &'a GraphProto,
    inits: &'a HashMap<String, usize>,
}

impl Weights<'_> {
    fn values(&self, name: &str) -> Result<Vec<f32>, QuantError> {
        weight_values(self.graph, self.inits, name)
    }

    fn matrix(&self, name: &str) -> Option<(usize, usize)> {
        float_matrix(self.graph, self.inits, name, 1)
    }
}

/// Quantises every product's weight once, before any node is rewritten (a lookup of the tied
/// table comes before the output projection in node order), adding its codes and scales to
/// `new_inits`. A weight may feed several nodes.
fn quantize_products(
    weights: &Weights,
    products: &[Product],
    opts: &QuantOptions,
    new_inits: &mut Vec<TensorProto>,
) -> Result<BTreeMap<String, BlockQuantized>, QuantError> {
    let Scheme::NBits {
        bits, block_size, ..
    } = opts.scheme;
    let mut blocks = BTreeMap::new();
    for p in products {
        if blocks.contains_key(&p.weight) {
            continue;
        }
        let nk = weights.values(&p.weight)?;
        let block = effective_block(block_size, p.k);
        let q = quantize_blockwise(&p.weight, &nk, p.n, p.k, bits, block)?;
        new_inits.extend(block_initializers(&p.weight, &q));
        blocks.insert(p.weight.clone(), q);
    }
    Ok(blocks)
}

/// Tables read by row lookups: the tied output projection (an `[N, K]` product weight), and any
/// other vocabulary-sized table that is only gathered (the encoder's token embedding, 183 MB in
/// fp32 for the base model). Small tables (positions, buckets) stay float.
fn lookup_table_names(
    weights: &Weights,
    products: &[Product],
    every: &[&NodeProto],
) -> HashSet<String> {
    let mut lookups: HashSet<String> = products.iter().map(|p| p.weight.clone()).collect();
    for n in every {
        let Some(table) = gathered_any(n) else {
            continue;
        };
        if weights
            .matrix(table)
            .is_some_and(|(rows, _)| rows >= VOCAB_TABLE_ROWS)
        {
            lookups.insert(table.to_string());
        }
    }
    lookups
}

/// 8-bit codes (shared with the product's when they match) and per-row block scales of every
/// table in `lookups`, in the order of their first lookup.
fn quantize_lookups(
    weights: &Weights,
    every: &[&NodeProto],
    lookups: &HashSet<String>,
    blocks: &BTreeMap<String, BlockQuantized>,
    new_inits: &mut Vec<TensorProto>,
) -> Result<BTreeMap<String, BlockQuantized>, QuantError> {
    let mut lookup_tables = BTreeMap::new();
    for table in every.iter().filter_map(|n| gathered_table(n, lookups)) {
        if lookup_tables.contains_key(table) {
            continue;
        }
        let Some((n, k)) = weights.matrix(table) else {
            continue;
        };
        let Some(block) = lookup_block(k) else {
            continue;
        };
        let q = match blocks.get(table) {
            Some(q) if q.bits == 8 && q.block_size == block => q.clone(),
            _ => {
                let q8 = quantize_blockwise(table, &weights.values(table)?, n, k, 8, block)?;
                new_inits.push(tensor(
                    &lookup_codes_name(table),
                    &[q8.n, q8.k_blocks(), q8.blob()],
                    data_type::UINT8,
                    q8.codes.clone(),
                ));
                q8
            }
        };
        new_inits.push(f32_tensor(
            &lookup_scales_name(table),
            &[q.n, q.k_blocks(), 1],
            &q.scales,
        ));
        lookup_tables.insert(table.to_string(), q);
    }
    Ok(lookup_tables)
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

/// What the node rewrite reads: the main graph (its initializers are the weights, also for
/// subgraphs) and the quantised forms made for them.
struct Rewrite<'a> {
    graph: &'a GraphProto,
    inits: &'a HashMap<String, usize>,
    opts: &'a QuantOptions,
    blocks: &'a BTreeMap<String, BlockQuantized>,
    lookup_tables: &'a BTreeMap<String, BlockQuantized>,
    /// Tables whose `Gather`s read 8-bit codes.
    lookups: &'a HashSet<String>,
}

impl Rewrite<'_> {
    /// `old` with every product and lookup rewritten, subgraph bodies included.
    fn nodes(&self, old: &[NodeProto], report: &mut QuantReport) -> Vec<NodeProto> {
        let mut nodes = Vec::with_capacity(old.len());
        for node in old {
            if let Some(p) = product(node, self.graph, self.inits, self.opts.min_dim) {
                let Scheme::NBits { accuracy_level, .. } = self.opts.scheme;
                match self.blocks.get(&p.weight) {
                    Some(q) => nodes.push(matmul_nbits(node, &p, q, accuracy_level)),
                    None => nodes.push(node.clone()),
                }
                report.matmuls += 1;
                continue;
            }
            let lookup = gathered_table(node, self.lookups)
                .and_then(|t| self.lookup_tables.get(t).map(|q| (t, q)));
            if let Some((table, q)) = lookup {
                let codes = if self.blocks.get(table).is_some_and(|b| b == q) {
                    codes_name(table, 8)
                } else {
                    lookup_codes_name(table)
                };
                nodes.extend(gather_dequantized(node, &codes, table, q));
                report.gathers += 1;
                continue;
            }
            let mut kept = node.clone();
            for a in &mut kept.attribute {
                if let Some(body) = a.g.as_mut() {
                    body.node = self.nodes(&body.node, report);
                }
            }
            nodes.push(kept);
        }
        nodes
    }
}

/// The block size of an 8-bit lookup table: the largest of 128, 64, 32, 16 dividing `k` (so
/// rows reshape back to `k` without padding); `None` keeps the float lookup.
fn lookup_block(k: usize) -> Option<usize> {
    [128, 64, 32, 16].into_iter().find(|b| k.is_multiple_of(*b))
}

fn initializer_bytes(g: &GraphProto) -> u64 {
    g.initializer.iter().map(|t| t.raw_data.len() as u64).sum()
}

fn weight_values(
    g: &GraphProto,
    inits: &HashMap<String, usize>,
    name: &str,
) -> Result<Vec<f32>, QuantError> {
    let t = inits
        .get(name)
        .map(|&i| &g.initializer[i])
        .ok_or_else(|| QuantError::Unsupported(format!("weight `{name}` is not an initializer")))?;
    Ok(t.raw_data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::ops::{linear, transpose_matrix};
    use crate::onnx::proto::TensorProto;
    use crate::onnx::{Attr, GraphBuilder, WeightFormat};
    use unival_manifest::{DType, Dim};

    /// `y = x · W` (`W [64, 48]`, a `Linear` wired under `quant`), `z = Gemm(y, E, transB)`
    /// (`E [40, 48]`), `e = Gather(E, ids)`.
    fn model(quant: QuantOptions) -> (ModelProto, Vec<f32>, Vec<f32>) {
        let format = WeightFormat {
            float: DType::F32,
            quant: Some(quant),
        };
        let mut g = GraphBuilder::new("t", format);
        let x = g.input("x", DType::F32, vec![Dim::Fixed(2), Dim::Fixed(64)]);
        let ids = g.input("ids", DType::I64, vec![Dim::Fixed(3)]);
        let w: Vec<f32> = (0..64 * 48)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        let e: Vec<f32> = (0..40 * 48)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 40.0)
            .collect();
        let ev = g.weight("e", &[40, 48], &e);
        let y = linear(&mut g, "y", x, &transpose_matrix(&w, 64, 48), None, 64, 48);
        let z = g.node("Gemm", "z", &[y, ev], &[("transB", Attr::Int(1))]);
        let rows = g.node("Gather", "rows", &[ev, ids], &[]);
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
        let mut g = GraphBuilder::new("t", DType::F32);
        let ids = g.input("ids", DType::I64, vec![Dim::Fixed(3)]);
        let rows = VOCAB_TABLE_ROWS;
        let big: Vec<f32> = (0..rows * 32)
            .map(|i| ((i * 29 % 89) as f32 - 44.0) / 30.0)
            .collect();
        let small: Vec<f32> = (0..100 * 32).map(|i| (i % 13) as f32 / 13.0).collect();
        let bv = g.weight("tokens", &[rows, 32], &big);
        let sv = g.weight("positions", &[100, 32], &small);
        let a = g.node("Gather", "a", &[bv, ids], &[]);
        let b = g.node("Gather", "b", &[sv, ids], &[]);
        let y = g.node("Add", "y", &[a, b], &[]);
        g.output("y", y, DType::F32, vec![Dim::Fixed(3), Dim::Fixed(32)]);
        let mut m = g.finish("test");
        let opts = QuantOptions::for_precision(unival_manifest::Precision::Int8).unwrap();
        let r = quantize_model(&mut m, &opts).unwrap();
        assert_eq!(r.gathers, 1, "{r:?}");
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
        let r = quantize_model(&mut m, &opts).unwrap();
        // The pass rewrote the Gemm; the Linear was wired as MatMulNBits.
        assert_eq!((r.matmuls, r.gathers), (1, 1));
        assert!(r.bytes_after < r.bytes_before, "{r:?}");
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
        let format = WeightFormat {
            float: DType::F32,
            quant: Some(opts),
        };
        let mut g = GraphBuilder::new("t", format);
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
        let r = quantize_model(&mut m, &opts).unwrap();
        assert_eq!((r.matmuls, r.gathers), (0, 0));
        assert_eq!(r.bytes_after, r.bytes_before);
        assert!(init(&m, "y.weight").is_some());
    }

    /// The decoder's shape: `If(all)` choosing `Gemm(x, E, transB)` or
    /// `Gemm(x, Gather(E, rows), transB)`, plus a lookup of `E` in the main graph.
    fn model_with_branches() -> ModelProto {
        let mut g = GraphBuilder::new("t", DType::F32);
        let x = g.input("x", DType::F32, vec![Dim::Fixed(2), Dim::Fixed(48)]);
        let rows = g.input("rows", DType::I64, vec![Dim::Symbol("k".into())]);
        let all = g.input("all", DType::Bool, vec![]);
        let e: Vec<f32> = (0..40 * 48)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 40.0)
            .collect();
        let ev = g.weight("e", &[40, 48], &e);
        let looked = g.node("Gather", "looked", &[ev, rows], &[]);
        let trans_b = || [("transB", Attr::Int(1))];
        let z = g.if_else(
            "z",
            all,
            DType::F32,
            |g| g.node("Gemm", "full", &[x, ev], &trans_b()),
            |g| {
                let picked = g.node("Gather", "picked", &[ev, rows], &[]);
                g.node("Gemm", "some", &[x, picked], &trans_b())
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
            let mut m = model_with_branches();
            assert_eq!(branch_ops(&m, "then_branch"), ["Gemm"]);
            let opts = QuantOptions {
                scheme,
                min_dim: 16,
                convs: None,
            };
            let r = quantize_model(&mut m, &opts).unwrap();
            // The full Gemm (then), the main lookup and the branch lookup (else).
            assert_eq!((r.matmuls, r.gathers), (1, 2), "{scheme:?}");
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
            let mut every = Vec::new();
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
}
