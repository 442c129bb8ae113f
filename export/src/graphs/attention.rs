//! UnIVAL multi-head attention (spec §2.8): scaled q, additive position bias, fp32 softmax,
//! per-head output scale (`c_attn`), output projection. Keys/values may come from a cache.

use super::weights::{Linear, Weights};
use super::GraphError;
use crate::onnx::ops::{binary, linear, reshape, softmax, transpose};
use crate::onnx::{GraphBuilder, Value};

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

/// Projects `x [B,T,D]` with the `Linear` at `w` and splits heads → `[B,H,T,hd]`, scaled by
/// `scale` when given (queries).
pub fn project_heads(
    g: &mut GraphBuilder,
    name: &str,
    w: &Weights,
    x: Value,
    h: Heads,
    scale: Option<f32>,
) -> Result<Value, GraphError> {
    let p = Linear::new(w, h.dim, h.dim)?;
    let mut y = linear(g, name, x, &p.weight, p.bias.as_deref(), h.dim, h.dim);
    if let Some(s) = scale {
        let sc = g.float_const(&format!("{name}.scaling"), &[], &[s]);
        y = binary(g, "Mul", &format!("{name}.scaled"), y, sc);
    }
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
    let mut o = g.node("MatMul", &format!("{name}.pv"), &[probs, v], &[]);
    if scale_heads {
        let c = w.get("c_attn", &[h.heads])?;
        let c = g.weight(&format!("{name}.c_attn"), &[1, h.heads, 1, 1], &c);
        o = binary(g, "Mul", &format!("{name}.head_scale"), o, c);
    }
    let o = merge_heads(g, name, o, h);
    let out = Linear::new(&w.pp("out_proj"), h.dim, h.dim)?;
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
    let q = project_heads(
        g,
        &format!("{name}.q"),
        &aw.pp("q_proj"),
        hx,
        h,
        Some(h.scaling),
    )?;
    let k = project_heads(g, &format!("{name}.k"), &aw.pp("k_proj"), hx, h, None)?;
    let v = project_heads(g, &format!("{name}.v"), &aw.pp("v_proj"), hx, h, None)?;
    Ok((q, k, v))
}
