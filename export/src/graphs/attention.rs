//! UnIVAL multi-head attention (spec §2.8): scaled q, additive position bias, fp32 softmax,
//! per-head output scale (`c_attn`), output projection. Keys/values may come from a cache.
//! Constant factors are folded into the weights at export (q scaling into `q_proj`, `c_attn`
//! into `out_proj`) and self-attention's q/k/v are one product, so a layer runs fewer nodes.

use super::weights::{Linear, Weights};
use super::GraphError;
use crate::onnx::ops::{binary, linear, reshape, softmax, transpose};
use crate::onnx::{Attr, GraphBuilder, Value};

/// Shape facts of one attention module.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub dim: usize,
    pub heads: usize,
    /// `(head_dim · attn_scale_factor)^-½`, applied to queries and position queries.
    pub scaling: f32,
}

impl Heads {
    pub fn head_dim(&self) -> usize {
        self.dim / self.heads
    }
}

/// `[B, T, D]` → `[B, H, T, hd]`.
pub fn split_heads(g: &mut GraphBuilder, name: &str, x: Value, h: Heads) -> Value {
    let x = reshape(
        g,
        &format!("{name}.split"),
        x,
        &[0, 0, h.heads as i64, h.head_dim() as i64],
    );
    transpose(g, &format!("{name}.heads"), x, &[0, 2, 1, 3])
}

/// `[B, H, T, hd]` → `[B, T, D]`.
pub fn merge_heads(g: &mut GraphBuilder, name: &str, x: Value, h: Heads) -> Value {
    let x = transpose(g, &format!("{name}.unheads"), x, &[0, 2, 1, 3]);
    reshape(g, &format!("{name}.merge"), x, &[0, 0, h.dim as i64])
}

/// `Linear` `p` with its output scaled by `s`: `(x·Wᵀ + b)·s = x·(s·W)ᵀ + s·b`, so the scale
/// costs no node (queries are scaled this way, spec §2.8).
fn scaled(mut p: Linear, s: Option<f32>) -> Linear {
    if let Some(s) = s {
        p.weight.iter_mut().for_each(|w| *w *= s);
        if let Some(b) = p.bias.as_mut() {
            b.iter_mut().for_each(|b| *b *= s);
        }
    }
    p
}

/// Projects `x [B,T,D]` with the `Linear` at `w` and splits heads → `[B,H,T,hd]`, scaled by
/// `scale` when given (queries; folded into the weight and bias).
pub fn project_heads(
    g: &mut GraphBuilder,
    name: &str,
    w: &Weights,
    x: Value,
    h: Heads,
    scale: Option<f32>,
) -> Result<Value, GraphError> {
    let p = scaled(Linear::new(w, h.dim, h.dim)?, scale);
    let y = linear(g, name, x, &p.weight, p.bias.as_deref(), h.dim, h.dim);
    Ok(split_heads(g, name, y, h))
}

/// Attention of queries `q [B,H,T,hd]` (already scaled) over `k`, `v` `[B',H,S,hd]` with an
/// additive `bias` broadcastable to `[B,H,T,S]` (position biases, causal and padding masks),
/// then `c_attn` head scale (when `scale_heads`) and `out_proj` → `[B,T,D]`.
pub fn attend(
    g: &mut GraphBuilder,
    name: &str,
    w: &Weights,
    q: Value,
    k: Value,
    v: Value,
    bias: Value,
    h: Heads,
    scale_heads: bool,
) -> Result<Value, GraphError> {
    let kt = transpose(g, &format!("{name}.kt"), k, &[0, 1, 3, 2]);
    let scores = g.node("MatMul", &format!("{name}.qk"), &[q, kt], &[]);
    let scores = binary(g, "Add", &format!("{name}.biased"), scores, bias);
    let probs = softmax(g, &format!("{name}.probs"), scores, -1);
    let o = g.node("MatMul", &format!("{name}.pv"), &[probs, v], &[]);
    let o = merge_heads(g, name, o, h);
    let mut out = Linear::new(&w.pp("out_proj"), h.dim, h.dim)?;
    if scale_heads {
        // Head `i`'s output is scaled by `c_attn[i]` before `out_proj`: the same as scaling the
        // weight's input columns `i·hd .. (i+1)·hd` (weight `[out, in]`, row-major).
        let c = w.get("c_attn", &[h.heads])?;
        let hd = h.head_dim();
        for row in out.weight.chunks_mut(h.dim) {
            for (j, x) in row.iter_mut().enumerate() {
                *x *= c[j / hd];
            }
        }
    }
    Ok(linear(
        g,
        &format!("{name}.out_proj"),
        o,
        &out.weight,
        out.bias.as_deref(),
        h.dim,
        h.dim,
    ))
}

/// The start of a pre-LN self-attention sub-layer (spec §2.9–2.10): `self_attn_layer_norm`
/// of `x`, then the scaled query and the key/value projections of `lw.self_attn`, each
/// `[B, H, T, hd]`.
pub fn self_attention_qkv(
    g: &mut GraphBuilder,
    lw: &Weights,
    name: &str,
    x: Value,
    h: Heads,
) -> Result<(Value, Value, Value), GraphError> {
    let hx = super::norm(
        g,
        &lw.pp("self_attn_layer_norm"),
        &format!("{name}.self_attn_layer_norm"),
        x,
        h.dim,
    )?;
    let aw = lw.pp("self_attn");
    // One `[D, 3D]` product for q (scale folded in), k and v, split after the heads are
    // separated: `[B,T,3D]` → `[B,T,3H,hd]` → `[B,3H,T,hd]` → three `[B,H,T,hd]`.
    let q = scaled(
        Linear::new(&aw.pp("q_proj"), h.dim, h.dim)?,
        Some(h.scaling),
    );
    let k = Linear::new(&aw.pp("k_proj"), h.dim, h.dim)?;
    let v = Linear::new(&aw.pp("v_proj"), h.dim, h.dim)?;
    let mut weight = Vec::with_capacity(3 * h.dim * h.dim);
    let mut bias = Vec::with_capacity(3 * h.dim);
    for p in [&q, &k, &v] {
        weight.extend_from_slice(&p.weight);
        match &p.bias {
            Some(b) => bias.extend_from_slice(b),
            None => bias.extend(std::iter::repeat_n(0.0, h.dim)),
        }
    }
    let qkv = linear(
        g,
        &format!("{name}.qkv"),
        hx,
        &weight,
        Some(&bias),
        h.dim,
        3 * h.dim,
    );
    let qkv = reshape(
        g,
        &format!("{name}.qkv.split"),
        qkv,
        &[0, 0, 3 * h.heads as i64, h.head_dim() as i64],
    );
    let qkv = transpose(g, &format!("{name}.qkv.heads"), qkv, &[0, 2, 1, 3]);
    let parts = g.node_multi(
        "Split",
        &format!("{name}.qkv.parts"),
        &[qkv],
        &[("axis", Attr::Int(1))],
        3,
    );
    match parts[..] {
        [q, k, v] => Ok((q, k, v)),
        _ => Err(GraphError::Unsupported(format!(
            "{name}: Split gave {} outputs, not 3",
            parts.len()
        ))),
    }
}
