//! The nodes and initializers the quantisation pass emits: names of the quantised forms of a
//! weight, and the node sequences that replace a product or a lookup (keeping the replaced
//! node's output name).

use super::find::Product;
use super::pack::BlockQuantized;
use crate::onnx::make::{attr_int, node, tensor};
use crate::onnx::proto::{attribute_type, data_type, AttributeProto, NodeProto, TensorProto};

/// ONNX Runtime's contrib-operator domain (`MatMulNBits`).
pub(crate) const MS_DOMAIN: &str = "com.microsoft";

pub(crate) fn codes_name(w: &str, bits: u8) -> String {
    format!("{w}.q{bits}")
}

pub(crate) fn scales_name(w: &str) -> String {
    format!("{w}.scales")
}

pub(super) fn lookup_codes_name(w: &str) -> String {
    format!("{w}.lookup_q8")
}

pub(super) fn lookup_scales_name(w: &str) -> String {
    format!("{w}.lookup_scales")
}

pub(super) fn f32_tensor(name: &str, dims: &[usize], v: &[f32]) -> TensorProto {
    let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    tensor(name, dims, data_type::FLOAT, raw)
}

pub(super) fn block_initializers(w: &str, q: &BlockQuantized) -> [TensorProto; 2] {
    [
        tensor(
            &codes_name(w, q.bits),
            &[q.n, q.k_blocks(), q.blob()],
            data_type::UINT8,
            q.codes.clone(),
        ),
        f32_tensor(&scales_name(w), &[q.n, q.k_blocks()], &q.scales),
    ]
}

/// `MatMulNBits(x, codes, scales)` computing what `old` computed, under its output name.
pub(super) fn matmul_nbits(
    old: &NodeProto,
    p: &Product,
    q: &BlockQuantized,
    accuracy_level: i64,
) -> NodeProto {
    let out = &old.output[0];
    let mut n = node(
        "MatMulNBits",
        MS_DOMAIN,
        format!("{out}.matmulnbits"),
        &[
            &old.input[0],
            &codes_name(&p.weight, q.bits),
            &scales_name(&p.weight),
        ],
        &[out],
    );
    n.attribute = vec![
        attr_int("K", p.k as i64),
        attr_int("N", p.n as i64),
        attr_int("bits", i64::from(q.bits)),
        attr_int("block_size", q.block_size as i64),
        attr_int("accuracy_level", accuracy_level),
    ];
    n
}

/// A row lookup of the `[N, K]` `table` rewritten to read its 8-bit codes: gather code blocks
/// `[..., k_blocks, block]` and their scales `[..., k_blocks, 1]`, `(code − 128) · scale`,
/// reshape to `[..., K]`.
pub(super) fn gather_dequantized(
    old: &NodeProto,
    codes: &str,
    table: &str,
    q: &BlockQuantized,
) -> Vec<NodeProto> {
    let out = &old.output[0];
    let idx = &old.input[1];
    let v = |s: &str| format!("{out}.{s}");
    let mut cast = node("Cast", "", v("cast"), &[&v("codes")], &[&v("codes_f32")]);
    cast.attribute = vec![attr_int("to", i64::from(data_type::FLOAT))];
    let mut concat = node(
        "Concat",
        "",
        v("out_shape"),
        &[&v("idx_shape"), &v("row_len")],
        &[&v("out_shape")],
    );
    concat.attribute = vec![attr_int("axis", 0)];
    let mut nodes = lookup_constants(out, q);
    nodes.extend([
        node(
            "Gather",
            "",
            v("gather_codes"),
            &[codes, idx],
            &[&v("codes")],
        ),
        cast,
        node(
            "Sub",
            "",
            v("center"),
            &[&v("codes_f32"), &v("zero_point")],
            &[&v("centered")],
        ),
        node(
            "Gather",
            "",
            v("gather_scales"),
            &[&lookup_scales_name(table), idx],
            &[&v("scales")],
        ),
        node(
            "Mul",
            "",
            v("dequantize"),
            &[&v("centered"), &v("scales")],
            &[&v("blocks")],
        ),
        node("Shape", "", v("idx_shape"), &[idx], &[&v("idx_shape")]),
        concat,
        node(
            "Reshape",
            "",
            v("reshape"),
            &[&v("blocks"), &v("out_shape")],
            &[out],
        ),
    ]);
    nodes
}

/// The two constants of a lookup (`zero_point` 128.0 and `row_len` `[K]`), as `Constant` nodes
/// so they stay beside their use.
pub(super) fn lookup_constants(out: &str, q: &BlockQuantized) -> Vec<NodeProto> {
    let constant = |name: String, t: TensorProto| {
        let mut n = node("Constant", "", format!("{name}.const"), &[], &[&name]);
        n.attribute = vec![AttributeProto {
            name: "value".into(),
            r#type: attribute_type::TENSOR,
            t: Some(t),
            ..Default::default()
        }];
        n
    };
    let row_len = (q.k_blocks() * q.block_size) as i64;
    vec![
        constant(
            format!("{out}.zero_point"),
            f32_tensor("", &[], &[q.zero_point() as f32]),
        ),
        constant(
            format!("{out}.row_len"),
            tensor("", &[1], data_type::INT64, row_len.to_le_bytes().to_vec()),
        ),
    ]
}
