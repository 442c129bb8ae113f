//! Composite operators wired from ONNX primitives. Each takes a name prefix; every node it adds
//! is named `{prefix}.{step}`. Numerically sensitive reductions (LayerNorm, softmax, GELU) run
//! in fp32 even in an fp16 graph (ARCHITECTURE.md §4).

use super::builder::{Attr, GraphBuilder, Value};
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
    let wt = transpose_matrix(weight, out_dim, in_dim);
    let w = g.weight(&format!("{name}.weight"), &[in_dim, out_dim], &wt);
    let y = g.node("MatMul", &format!("{name}.matmul"), &[x, w], &[]);
    match bias {
        Some(b) => {
            let b = g.weight(&format!("{name}.bias"), &[out_dim], b);
            g.node("Add", &format!("{name}.add_bias"), &[y, b], &[])
        }
        None => y,
    }
}

/// The transpose of a row-major `rows × cols` matrix, copied in 32×32 tiles so that both the
/// reads and the writes stay in cache (a plain double loop strides through one of them).
pub fn transpose_matrix<T: Copy + Default>(m: &[T], rows: usize, cols: usize) -> Vec<T> {
    const TILE: usize = 32;
    let mut t = vec![T::default(); rows * cols];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    t[c * rows + r] = m[r * cols + c];
                }
            }
        }
    }
    t
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

#[cfg(test)]
mod tests {
    use super::transpose_matrix;

    #[test]
    fn tiled_transpose_matches_the_definition_on_ragged_shapes() {
        for (rows, cols) in [(1, 1), (3, 70), (33, 31), (64, 65)] {
            let m: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
            let t = transpose_matrix(&m, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], m[r * cols + c], "{rows}x{cols} at {r},{c}");
                }
            }
        }
    }
}
