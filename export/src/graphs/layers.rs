//! The transformer layers as blocks (docs/model.md §2.9–2.10): the NormFormer feed-forward
//! sub-layer, the per-layer relative position tables, and the encoder and decoder layers built from
//! them and the attention blocks of [`super::attention`]. Each reads its weights in `new` and wires
//! its nodes in `build`.

use super::attention::{CrossAttention, Heads, SelfAttention};
use super::positions::{block_diag, rel_bias};
use super::weights::{Linear, Norm, Weights};
use super::GraphError;
use crate::config::ModelConfig;
use crate::onnx::ops::{binary, gelu, unsqueeze};
use crate::onnx::{GraphBuilder, Value};

/// The feed-forward activation.
enum Activation {
    Gelu,
    Relu,
}

/// The NormFormer feed-forward sub-layer with its residual (docs/model.md §2.9):
/// `x + fc2(ffn_layernorm(act(fc1(final_layer_norm(x)))))`.
pub struct FeedForward {
    ln: Norm,
    fc1: Linear,
    activation: Activation,
    ffn_ln: Option<Norm>,
    fc2: Linear,
    /// The layer's node prefix.
    name: String,
}

impl FeedForward {
    /// Reads the sub-layer of layer `lw`.
    pub fn new(cfg: &ModelConfig, lw: &Weights) -> Result<Self, GraphError> {
        let (d, f) = (cfg.embed_dim, cfg.ffn_dim);
        let activation = match cfg.activation_fn.as_str() {
            "gelu" => Activation::Gelu,
            "relu" => Activation::Relu,
            other => {
                return Err(GraphError::Unsupported(format!(
                    "activation_fn '{other}' (gelu and relu are supported)"
                )))
            }
        };
        Ok(FeedForward {
            ln: Norm::new(&lw.pp("final_layer_norm"), d)?,
            fc1: Linear::new(&lw.pp("fc1"), d, f)?,
            activation,
            ffn_ln: Norm::optional(cfg.scale_fc, &lw.pp("ffn_layernorm"), f)?,
            fc2: Linear::new(&lw.pp("fc2"), f, d)?,
            name: lw.node_prefix().to_string(),
        })
    }

    pub fn build(&self, g: &mut GraphBuilder, x: Value) -> Value {
        let name = &self.name;
        let h = self.ln.build(g, x);
        let h = self.fc1.build(g, h);
        let mut h = match self.activation {
            Activation::Gelu => gelu(g, &format!("{name}.gelu"), h),
            Activation::Relu => g.node("Relu", &format!("{name}.relu"), &[h], &[]),
        };
        if let Some(n) = &self.ffn_ln {
            h = n.build(g, h);
        }
        let h = self.fc2.build(g, h);
        binary(g, "Add", &format!("{name}.ffn_residual"), x, h)
    }
}

/// One layer's relative position table `[buckets, heads]` (`*_rel_pos_table_list.{l}`).
struct RelTable {
    data: Vec<f32>,
    dims: [usize; 2],
    name: String,
}

impl RelTable {
    /// Reads `<list>.{l}.weight` under `w` as `[rows, heads]`, stored as `name`.
    fn new(
        w: &Weights,
        list: &str,
        l: usize,
        dims: [usize; 2],
        name: String,
    ) -> Result<Self, GraphError> {
        Ok(RelTable {
            data: w.get(&format!("{list}.{l}.weight"), &dims)?,
            dims,
            name,
        })
    }

    fn weight(&self, g: &mut GraphBuilder) -> Value {
        g.weight(&self.name, &self.dims, &self.data)
    }
}

/// Text relative buckets `2·token_bucket_size − 1`.
fn token_rows(cfg: &ModelConfig) -> usize {
    2 * cfg.token_bucket_size - 1
}

/// What every encoder layer's attention bias is made of (docs/model.md §2.7).
pub struct EncoderBias {
    /// The absolute position bias `[1, H, S, S]`.
    pub abs_bias: Value,
    /// `-inf` at padded keys, `[B, 1, 1, S]`.
    pub key_mask: Value,
    /// Text bucket ids `[L, L]` and perception bucket ids `[P, P]`.
    pub token_buckets: Value,
    pub image_buckets: Value,
}

/// One pre-LN encoder layer (docs/model.md §2.9) with its relative position tables.
pub struct EncoderLayer {
    token_rel: RelTable,
    image_rel: RelTable,
    attn: SelfAttention,
    ffn: FeedForward,
    name: String,
}

impl EncoderLayer {
    /// Reads layer `l` under the encoder scope `enc`.
    pub fn new(cfg: &ModelConfig, enc: &Weights, l: usize) -> Result<Self, GraphError> {
        let h = Heads::encoder(cfg);
        let lw = enc.pp(format!("layers.{l}"));
        let nb = cfg.image_bucket_size;
        let img_rows = (2 * nb - 1) * (2 * nb - 1) + 3;
        let table = |list, rows, what| RelTable::new(enc, list, l, [rows, h.heads], lw.node(what));
        Ok(EncoderLayer {
            token_rel: table(
                "token_rel_pos_table_list",
                token_rows(cfg),
                "token_rel_table",
            )?,
            image_rel: table("image_rel_pos_table_list", img_rows, "image_rel_table")?,
            attn: SelfAttention::new(cfg, h, &lw, "attn_ln")?,
            ffn: FeedForward::new(cfg, &lw)?,
            name: lw.node_prefix().to_string(),
        })
    }

    pub fn build(&self, g: &mut GraphBuilder, x: Value, b: &EncoderBias) -> Value {
        let name = &self.name;
        let tt = self.token_rel.weight(g);
        let it = self.image_rel.weight(g);
        let tok_rel = rel_bias(g, &format!("{name}.token_rel"), tt, b.token_buckets);
        let img_rel = rel_bias(g, &format!("{name}.image_rel"), it, b.image_buckets);
        let heads = self.token_rel.dims[1] as i64;
        let rel = block_diag(g, &format!("{name}.rel"), img_rel, tok_rel, heads);
        let rel = unsqueeze(g, &format!("{name}.rel4"), rel, &[0]);
        let bias = binary(g, "Add", &format!("{name}.pos_bias"), b.abs_bias, rel);
        let bias = binary(g, "Add", &format!("{name}.bias"), bias, b.key_mask);
        let (x, _) = self.attn.build(g, x, bias, None);
        self.ffn.build(g, x)
    }
}

/// What every decoder layer's attention biases are made of (docs/model.md §2.7, §2.10).
pub struct DecoderBias {
    /// Absolute position bias plus the causal mask, `[1, H, t, P+t]`.
    pub self_abs: Value,
    /// Text bucket ids `[t, P+t]`.
    pub token_buckets: Value,
    /// The cross-attention bias (positions and encoder padding).
    pub cross: Value,
}

/// One pre-LN decoder layer (docs/model.md §2.10): cached self-attention, cross-attention, FFN.
pub struct DecoderLayer {
    token_rel: RelTable,
    self_attn: SelfAttention,
    cross_attn: CrossAttention,
    ffn: FeedForward,
    name: String,
}

impl DecoderLayer {
    /// Reads layer `l` under the decoder scope `dec`.
    pub fn new(cfg: &ModelConfig, dec: &Weights, l: usize) -> Result<Self, GraphError> {
        let h = Heads::decoder(cfg);
        let lw = dec.pp(format!("layers.{l}"));
        Ok(DecoderLayer {
            token_rel: RelTable::new(
                dec,
                "token_rel_pos_table_list",
                l,
                [token_rows(cfg), h.heads],
                lw.node("token_rel_table"),
            )?,
            self_attn: SelfAttention::new(cfg, h, &lw, "self_attn_ln")?,
            cross_attn: CrossAttention::new(cfg, h, &lw)?,
            ffn: FeedForward::new(cfg, &lw)?,
            name: lw.node_prefix().to_string(),
        })
    }

    /// The layer over new tokens `x` with the self-attention cache `past` and the encoder's
    /// keys and values `cross`; returns the output and the grown cache.
    pub fn build(
        &self,
        g: &mut GraphBuilder,
        x: Value,
        b: &DecoderBias,
        past: (Value, Value),
        cross: (Value, Value),
    ) -> (Value, (Value, Value)) {
        let name = &self.name;
        let tt = self.token_rel.weight(g);
        let rel = rel_bias(g, &format!("{name}.token_rel"), tt, b.token_buckets);
        let rel = unsqueeze(g, &format!("{name}.rel4"), rel, &[0]);
        let self_bias = binary(g, "Add", &format!("{name}.self_bias"), b.self_abs, rel);
        let (x, present) = self.self_attn.build(g, x, self_bias, Some(past));
        let x = self.cross_attn.build(g, x, cross.0, cross.1, b.cross);
        (self.ffn.build(g, x), present)
    }
}
