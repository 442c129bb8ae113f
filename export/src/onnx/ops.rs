//! Composite operators wired from ONNX primitives. Each takes a name prefix; every node it adds
//! is named `{prefix}.{step}`. Numerically sensitive reductions (LayerNorm, softmax, GELU) run
//! in fp32 even in an fp16 graph (ARCHITECTURE.md §4).

use super::builder::{float_bytes, Attr, GraphBuilder, LateGroup, Value};
use super::proto::data_type;
use crate::quant::matrix::transpose_matrix;
use crate::quant::pack::{effective_block, quantize_blockwise};
use crate::quant::{codes_name, scales_name, Scheme, MS_DOMAIN};
use unival_manifest::DType;

/// `x · wᵀ + b` for a PyTorch `Linear` whose weight is `[out, in]` (row-major). The weight is
/// stored transposed (`[in, out]`) so the node is a plain `MatMul`.
pub fn linear(
    g: &mut GraphBuilder,
    name: &str,
    x: Value,
    weight: &[f32],
    bias: Option<&[f32]>,
    in_dim: usize,
    out_dim: usize,
) -> Value {
    let y = match nbits_scheme(g, in_dim, out_dim) {
        Some(scheme) => matmul_nbits(g, name, x, weight, (in_dim, out_dim), scheme),
        None => matmul_float(g, name, x, weight, (in_dim, out_dim)),
    };
    match bias {
        Some(b) => {
            let b = g.weight(&format!("{name}.bias"), &[out_dim], b);
            g.node("Add", &format!("{name}.add_bias"), &[y, b], &[])
        }
        None => y,
    }
}

/// `x · wᵀ` as a `MatMul` with the weight stored transposed (`[in, out]`).
fn matmul_float(
    g: &mut GraphBuilder,
    name: &str,
    x: Value,
    weight: &[f32],
    (in_dim, out_dim): (usize, usize),
) -> Value {
    let wt = transpose_matrix(weight, out_dim, in_dim);
    let w = g.weight(&format!("{name}.weight"), &[in_dim, out_dim], &wt);
    g.node("MatMul", &format!("{name}.matmul"), &[x, w], &[])
}

/// `(bits, block_size, accuracy_level)` when the builder's policy quantises a product with an
/// fp32 `[in_dim, out_dim]` weight (both sides at least `min_dim`; tiny ones stay float).
fn nbits_scheme(g: &GraphBuilder, in_dim: usize, out_dim: usize) -> Option<(u8, usize, i64)> {
    let q = g.quant_options()?;
    let Scheme::NBits {
        bits,
        block_size,
        accuracy_level,
    } = q.scheme;
    let fits = in_dim >= q.min_dim && out_dim >= q.min_dim;
    (g.float_type() == DType::F32 && fits).then_some((bits, block_size, accuracy_level))
}

/// `x · wᵀ` as ONNX Runtime's `MatMulNBits`, quantising the `[out, in]` weight as it is (the
/// operator's layout) into codes and scales placed with the late initializers. A weight that
/// cannot be quantised is recorded on the builder (the export fails) and wired float.
fn matmul_nbits(
    g: &mut GraphBuilder,
    name: &str,
    x: Value,
    weight: &[f32],
    (in_dim, out_dim): (usize, usize),
    (bits, block_size, accuracy_level): (u8, usize, i64),
) -> Value {
    let wname = g.reserve_name(&format!("{name}.weight"));
    let block = effective_block(block_size, in_dim);
    let q = match quantize_blockwise(&wname, weight, out_dim, in_dim, bits, block) {
        Ok(q) => q,
        Err(e) => {
            g.defer_error(e);
            return matmul_float(g, name, x, weight, (in_dim, out_dim));
        }
    };
    let (codes_dims, scales_dims) = ([q.n, q.k_blocks(), q.blob()], [q.n, q.k_blocks()]);
    let codes_raw = q.codes;
    let codes = g.late_initializer(
        LateGroup::Products,
        &codes_name(&wname, bits),
        (&codes_dims, data_type::UINT8),
        codes_raw,
    );
    let scales = g.late_initializer(
        LateGroup::Products,
        &scales_name(&wname),
        (&scales_dims, data_type::FLOAT),
        float_bytes(&q.scales, DType::F32),
    );
    let attrs = [
        ("K", Attr::Int(in_dim as i64)),
        ("N", Attr::Int(out_dim as i64)),
        ("bits", Attr::Int(i64::from(bits))),
        ("block_size", Attr::Int(block as i64)),
        ("accuracy_level", Attr::Int(accuracy_level)),
    ];
    g.contrib_node(
        ("MatMulNBits", MS_DOMAIN),
        &format!("{name}.matmul"),
        "matmulnbits",
        &[x, codes, scales],
        &attrs,
    )
}

/// Runs `f` on `x` in fp32 and returns to the graph's float type.
fn in_f32(
    g: &mut GraphBuilder,
    name: &str,
    x: Value,
    f: impl FnOnce(&mut GraphBuilder, Value) -> Value,
) -> Value {
    if g.float_type() == DType::F16 {
        let x32 = g.cast(&format!("{name}.to_f32"), x, DType::F32);
        let y = f(g, x32);
        g.cast(&format!("{name}.to_f16"), y, DType::F16)
    } else {
        f(g, x)
    }
}

/// LayerNorm over the last axis (opset 17 `LayerNormalization`), fp32 inside.
pub fn layer_norm(
    g: &mut GraphBuilder,
    name: &str,
    x: Value,
    weight: &[f32],
    bias: &[f32],
    eps: f32,
) -> Value {
    let n = weight.len();
    let w = g.weight_f32(&format!("{name}.weight"), &[n], weight);
    let b = g.weight_f32(&format!("{name}.bias"), &[n], bias);
    in_f32(g, name, x, |g, x| {
        g.node(
            "LayerNormalization",
            &format!("{name}.ln"),
            &[x, w, b],
            &[("axis", Attr::Int(-1)), ("epsilon", Attr::Float(eps))],
        )
    })
}

/// Exact (erf) GELU: `0.5·x·(1 + erf(x/√2))`, fp32 inside.
pub fn gelu(g: &mut GraphBuilder, name: &str, x: Value) -> Value {
    let inv_sqrt2 = g.weight_f32(
        &format!("{name}.inv_sqrt2"),
        &[],
        &[std::f32::consts::FRAC_1_SQRT_2],
    );
    let one = g.weight_f32(&format!("{name}.one"), &[], &[1.0]);
    let half = g.weight_f32(&format!("{name}.half"), &[], &[0.5]);
    in_f32(g, name, x, |g, x| {
        let s = g.node("Mul", &format!("{name}.scale"), &[x, inv_sqrt2], &[]);
        let e = g.node("Erf", &format!("{name}.erf"), &[s], &[]);
        let e1 = g.node("Add", &format!("{name}.plus1"), &[e, one], &[]);
        let xh = g.node("Mul", &format!("{name}.halfx"), &[x, half], &[]);
        g.node("Mul", &format!("{name}.out"), &[xh, e1], &[])
    })
}

/// Softmax over `axis`, fp32 inside.
pub fn softmax(g: &mut GraphBuilder, name: &str, x: Value, axis: i64) -> Value {
    in_f32(g, name, x, |g, x| {
        g.node(
            "Softmax",
            &format!("{name}.softmax"),
            &[x],
            &[("axis", Attr::Int(axis))],
        )
    })
}

/// `Reshape` to a constant shape (0 copies the input dim, -1 infers).
pub fn reshape(g: &mut GraphBuilder, name: &str, x: Value, shape: &[i64]) -> Value {
    let s = g.ints(&format!("{name}.shape"), shape);
    g.node("Reshape", name, &[x, s], &[])
}

/// `Transpose` with a permutation.
pub fn transpose(g: &mut GraphBuilder, name: &str, x: Value, perm: &[i64]) -> Value {
    g.node(
        "Transpose",
        name,
        &[x],
        &[("perm", Attr::Ints(perm.to_vec()))],
    )
}

/// `Unsqueeze` at constant axes.
pub fn unsqueeze(g: &mut GraphBuilder, name: &str, x: Value, axes: &[i64]) -> Value {
    let a = g.ints(&format!("{name}.axes"), axes);
    g.node("Unsqueeze", name, &[x, a], &[])
}

/// `Concat` along `axis`.
pub fn concat(g: &mut GraphBuilder, name: &str, xs: &[Value], axis: i64) -> Value {
    g.node("Concat", name, xs, &[("axis", Attr::Int(axis))])
}

/// `Gather` rows of `table` (axis 0) at `indices`.
pub fn gather(g: &mut GraphBuilder, name: &str, table: Value, indices: Value) -> Value {
    g.node("Gather", name, &[table, indices], &[("axis", Attr::Int(0))])
}

/// Binary elementwise op (`Add`, `Sub`, `Mul`, `Div`, …) with broadcasting.
pub fn binary(g: &mut GraphBuilder, op: &str, name: &str, a: Value, b: Value) -> Value {
    g.node(op, name, &[a, b], &[])
}

/// `Shape(x)[index]` as a 1-element int64 tensor.
pub fn dim(g: &mut GraphBuilder, name: &str, x: Value, index: i64) -> Value {
    let shape = g.node("Shape", &format!("{name}.shape"), &[x], &[]);
    let idx = g.ints(&format!("{name}.index"), &[index]);
    g.node("Gather", name, &[shape, idx], &[("axis", Attr::Int(0))])
}

/// `Range(0, n)` as int64 for a 1-element int64 `n`.
pub fn range(g: &mut GraphBuilder, name: &str, start: Value, n: Value) -> Value {
    let zero = g.const_i64(&format!("{name}.zero"), &[], &[0]);
    let one = g.const_i64(&format!("{name}.one"), &[], &[1]);
    let axes = g.ints(&format!("{name}.axes"), &[0]);
    let n = g.node("Squeeze", &format!("{name}.n"), &[n, axes], &[]);
    let start = g.node("Add", &format!("{name}.start"), &[start, zero], &[]);
    let end = g.node("Add", &format!("{name}.end"), &[start, n], &[]);
    g.node("Range", name, &[start, end, one], &[])
}
