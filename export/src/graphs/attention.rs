//! UnIVAL multi-head attention (docs/model.md §2.8) as blocks: scaled q, additive position bias,
//! fp32 softmax, per-head output scale (`c_attn`), output projection. Keys/values may come from a
//! cache. Constant factors are folded into the weights at export (q scaling into `q_proj`,
//! `c_attn` into `out_proj`) and self-attention's q/k/v are one product, so a layer runs fewer
//! nodes. Each block reads its weights in `new` and wires its nodes in `build`.

use super::weights::{Linear, Norm, Weights};
use super::GraphError;
use crate::config::ModelConfig;
use crate::onnx::ops::{binary, concat, reshape, softmax, transpose};
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
    fn with(cfg: &ModelConfig, heads: usize) -> Heads {
        let hd = cfg.embed_dim / heads;
        Heads {
            dim: cfg.embed_dim,
            heads,
            scaling: ((hd as f64) * cfg.attn_scale_factor).powf(-0.5) as f32,
        }
    }

    /// The encoder's attention.
    pub fn encoder(cfg: &ModelConfig) -> Heads {
        Heads::with(cfg, cfg.encoder_heads)
    }

    /// The decoder's attention (also the cross-attention K/V the encoder graph computes).
    pub fn decoder(cfg: &ModelConfig) -> Heads {
        Heads::with(cfg, cfg.decoder_heads)
    }

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

/// A `[D, D]` projection whose output is split into heads, `[B,T,D]` → `[B,H,T,hd]`.
pub struct HeadProjection {
    linear: Linear,
    heads: Heads,
}

impl HeadProjection {
    /// Reads the `Linear` at `w`, scaled by `scale` when given (queries; folded into the weight
    /// and bias).
    pub fn new(h: Heads, w: &Weights, scale: Option<f32>) -> Result<Self, GraphError> {
        let linear = Linear::new(w, h.dim, h.dim)?;
        Ok(HeadProjection {
            linear: match scale {
                Some(s) => linear.scaled(s),
                None => linear,
            },
            heads: h,
        })
    }

    /// The same projection with its nodes named under `name`.
    pub fn named(self, name: impl Into<String>) -> Self {
        HeadProjection {
            linear: self.linear.named(name),
            ..self
        }
    }

    pub fn build(&self, g: &mut GraphBuilder, x: Value) -> Value {
        let y = self.linear.build(g, x);
        split_heads(g, &self.linear.name, y, self.heads)
    }
}

/// The TUPE-style absolute position bias `q · kᵀ` of position queries and keys `[B,H,T,hd]`.
pub fn position_bias(g: &mut GraphBuilder, name: &str, q: Value, k: Value) -> Value {
    let kt = transpose(g, &format!("{name}.kt"), k, &[0, 1, 3, 2]);
    g.node("MatMul", name, &[q, kt], &[])
}

/// The attention itself over given queries, keys and values: scores, bias, softmax, values,
/// `c_attn` head scale (folded into `out_proj`) and `out_proj`.
pub struct Attend {
    out: Linear,
    heads: Heads,
    name: String,
}

impl Attend {
    /// Reads `out_proj` (and `c_attn` when `scale_heads`) under the attention module `w`.
    pub fn new(h: Heads, w: &Weights, scale_heads: bool) -> Result<Self, GraphError> {
        let mut out = Linear::new(&w.pp("out_proj"), h.dim, h.dim)?;
        if scale_heads {
            // Head `i`'s output is scaled by `c_attn[i]` before `out_proj`: the same as scaling
            // the weight's input columns `i·hd .. (i+1)·hd` (weight `[out, in]`, row-major).
            let c = w.get("c_attn", &[h.heads])?;
            let hd = h.head_dim();
            for row in out.weight.chunks_mut(h.dim) {
                for (j, x) in row.iter_mut().enumerate() {
                    *x *= c[j / hd];
                }
            }
        }
        Ok(Attend {
            out,
            heads: h,
            name: w.node_prefix().to_string(),
        })
    }

    /// Attention of queries `q [B,H,T,hd]` (already scaled) over `k`, `v` `[B',H,S,hd]` with an
    /// additive `bias` broadcastable to `[B,H,T,S]` → `[B,T,D]`.
    pub fn build(&self, g: &mut GraphBuilder, q: Value, k: Value, v: Value, bias: Value) -> Value {
        let name = &self.name;
        let kt = transpose(g, &format!("{name}.kt"), k, &[0, 1, 3, 2]);
        let scores = g.node("MatMul", &format!("{name}.qk"), &[q, kt], &[]);
        let scores = binary(g, "Add", &format!("{name}.biased"), scores, bias);
        let probs = softmax(g, &format!("{name}.probs"), scores, -1);
        let o = g.node("MatMul", &format!("{name}.pv"), &[probs, v], &[]);
        let o = merge_heads(g, name, o, self.heads);
        self.out.build(g, o)
    }
}

/// The end of an attention sub-layer (docs/model.md §2.9–2.10): NormFormer's post-attention
/// LayerNorm when `scale_attn`, then the residual `x + a`.
struct Residual {
    post_ln: Option<Norm>,
    name: String,
}

impl Residual {
    /// Reads the post-attention norm `lw.<ln>` when `cfg.scale_attn`.
    fn new(cfg: &ModelConfig, lw: &Weights, ln: &str) -> Result<Self, GraphError> {
        Ok(Residual {
            post_ln: Norm::optional(cfg.scale_attn, &lw.pp(ln), cfg.embed_dim)?,
            name: lw.node(format!("{ln}.residual")),
        })
    }

    fn build(&self, g: &mut GraphBuilder, x: Value, a: Value) -> Value {
        let a = match &self.post_ln {
            Some(n) => n.build(g, a),
            None => a,
        };
        binary(g, "Add", &self.name, x, a)
    }
}

/// A pre-LN self-attention sub-layer (docs/model.md §2.9–2.10): `self_attn_layer_norm`, one fused
/// q/k/v product, attention (over a cache when given), post-norm and residual.
pub struct SelfAttention {
    ln: Norm,
    qkv: Linear,
    attend: Attend,
    residual: Residual,
    heads: Heads,
    /// Prefix of the cache concatenations (`layers.{l}.self`).
    cache: String,
}

impl SelfAttention {
    /// Reads the sub-layer of layer `lw`; `post_ln` names its post-attention norm (`attn_ln`
    /// in the encoder, `self_attn_ln` in the decoder).
    pub fn new(
        cfg: &ModelConfig,
        h: Heads,
        lw: &Weights,
        post_ln: &str,
    ) -> Result<Self, GraphError> {
        let aw = lw.pp("self_attn");
        // One `[D, 3D]` product for q (scale folded in), k and v.
        let q = Linear::new(&aw.pp("q_proj"), h.dim, h.dim)?.scaled(h.scaling);
        let k = Linear::new(&aw.pp("k_proj"), h.dim, h.dim)?;
        let v = Linear::new(&aw.pp("v_proj"), h.dim, h.dim)?;
        let mut weight = Vec::with_capacity(3 * h.dim * h.dim);
        let mut bias = Vec::with_capacity(3 * h.dim);
        for p in [q, k, v] {
            weight.extend_from_slice(&p.weight);
            match &p.bias {
                Some(b) => bias.extend_from_slice(b),
                None => bias.extend(std::iter::repeat_n(0.0, h.dim)),
            }
        }
        Ok(SelfAttention {
            ln: Norm::new(&lw.pp("self_attn_layer_norm"), h.dim)?,
            qkv: Linear {
                weight,
                bias: Some(bias),
                in_dim: h.dim,
                out_dim: 3 * h.dim,
                name: lw.node("qkv"),
            },
            attend: Attend::new(h, &aw, cfg.scale_heads)?,
            residual: Residual::new(cfg, lw, post_ln)?,
            heads: h,
            cache: lw.node("self"),
        })
    }

    /// `x + attn(x)` with the additive `bias`; with `past` (cached keys and values
    /// `[B,H,P,hd]`) the new keys and values are appended to it. Returns the output and the
    /// keys and values attended over.
    pub fn build(
        &self,
        g: &mut GraphBuilder,
        x: Value,
        bias: Value,
        past: Option<(Value, Value)>,
    ) -> (Value, (Value, Value)) {
        let hx = self.ln.build(g, x);
        let (q, k, v) = self.qkv_heads(g, hx);
        let (k, v) = match past {
            Some((pk, pv)) => {
                let k = concat(g, &format!("{}.k_cache", self.cache), &[pk, k], 2);
                let v = concat(g, &format!("{}.v_cache", self.cache), &[pv, v], 2);
                (k, v)
            }
            None => (k, v),
        };
        let a = self.attend.build(g, q, k, v, bias);
        (self.residual.build(g, x, a), (k, v))
    }

    /// The fused product split into q, k, v `[B,H,T,hd]`: `[B,T,3D]` → `[B,T,3H,hd]` →
    /// `[B,3H,T,hd]` → three `[B,H,T,hd]`.
    fn qkv_heads(&self, g: &mut GraphBuilder, hx: Value) -> (Value, Value, Value) {
        let h = self.heads;
        let name = &self.qkv.name;
        let qkv = self.qkv.build(g, hx);
        let qkv = reshape(
            g,
            &format!("{name}.split"),
            qkv,
            &[0, 0, 3 * h.heads as i64, h.head_dim() as i64],
        );
        let qkv = transpose(g, &format!("{name}.heads"), qkv, &[0, 2, 1, 3]);
        let parts = g.node_multi(
            "Split",
            &format!("{name}.parts"),
            &[qkv],
            &[("axis", Attr::Int(1))],
            3,
        );
        (parts[0], parts[1], parts[2])
    }
}

/// A pre-LN cross-attention sub-layer (docs/model.md §2.10): `encoder_attn_layer_norm`, the scaled
/// query, attention over the encoder's keys and values, post-norm (`cross_attn_ln`) and
/// residual. The keys and values are projected once per input by the encoder graph.
pub struct CrossAttention {
    ln: Norm,
    q: HeadProjection,
    attend: Attend,
    residual: Residual,
}

impl CrossAttention {
    /// Reads the sub-layer of decoder layer `lw`.
    pub fn new(cfg: &ModelConfig, h: Heads, lw: &Weights) -> Result<Self, GraphError> {
        let cw = lw.pp("encoder_attn");
        Ok(CrossAttention {
            ln: Norm::new(&lw.pp("encoder_attn_layer_norm"), h.dim)?,
            q: HeadProjection::new(h, &cw.pp("q_proj"), Some(h.scaling))?.named(lw.node("cross.q")),
            attend: Attend::new(h, &cw, cfg.scale_heads)?,
            residual: Residual::new(cfg, lw, "cross_attn_ln")?,
        })
    }

    /// `x + attn(x, k, v)` with the additive `bias`.
    pub fn build(&self, g: &mut GraphBuilder, x: Value, k: Value, v: Value, bias: Value) -> Value {
        let hx = self.ln.build(g, x);
        let q = self.q.build(g, hx);
        let a = self.attend.build(g, q, k, v, bias);
        self.residual.build(g, x, a)
    }
}
