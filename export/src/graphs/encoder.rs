//! The transformer encoder graph (`encoder`, docs/model.md §2.6–2.9): text and perception
//! embeddings, TUPE-style absolute position bias plus per-layer relative biases, pre-LN NormFormer
//! layers, and everything the decoder needs computed once per input: per-layer cross-attention K/V,
//! the encoder half of the cross-attention position bias, the padding mask. The graph does not
//! know which modality produced the patches.

use super::attention::{position_bias, split_heads, HeadProjection, Heads};
use super::layers::{EncoderBias, EncoderLayer};
use super::positions::{image_buckets, token_buckets};
use super::weights::{Linear, Norm, Weights};
use super::{sym, GraphError};
use crate::config::ModelConfig;
use crate::onnx::make::tensor;
use crate::onnx::ops::{binary, concat, dim, gather, range, unsqueeze};
use crate::onnx::proto::data_type;
use crate::onnx::tables::lookup;
use crate::onnx::{Attr, GraphBuilder, Value, WeightFormat};
use unival_manifest::{io, DType, Dim};

/// The graph's inputs.
struct Inputs {
    src: Value,
    patches: Value,
    patch_pos: Value,
    patch_ids: Value,
}

/// Builds the `encoder` graph. `root` is the unscoped state dict view (the encoder graph also
/// holds the decoder's cross-attention K/V projections and `cross_pos_k_linear`).
pub fn build(
    cfg: &ModelConfig,
    root: &Weights,
    format: WeightFormat,
) -> Result<GraphBuilder, GraphError> {
    let enc = root.pp("encoder").nodes_at("");
    let mut g = GraphBuilder::new(io::graph::ENCODER, format);
    let inputs = declare_inputs(&mut g, cfg.embed_dim);
    let x = embed(&mut g, cfg, &enc, &inputs)?;
    let pad = padding(&mut g, &inputs);
    let mut x = binary(&mut g, "Mul", "embed.zero_pads", x, pad.keep);
    let key_mask = key_bias(&mut g, pad.mask);
    let (pe3, bias) = positions(&mut g, cfg, &enc, &inputs, pad.src_len, key_mask)?;
    for l in 0..cfg.encoder_layers {
        x = EncoderLayer::new(cfg, &enc, l)?.build(&mut g, x, &bias);
    }
    if cfg.encoder_normalize_before {
        x = Norm::new(&enc.pp("layer_norm"), cfg.embed_dim)?.build(&mut g, x);
    }
    let dec = root.pp("decoder").nodes_at("");
    let (cross_pos_k, cross) = for_the_decoder(&mut g, cfg, &dec, x, pe3)?;
    declare_outputs(&mut g, cfg, x, pad.mask, pe3, cross_pos_k, cross);
    Ok(g)
}

fn declare_inputs(g: &mut GraphBuilder, d: usize) -> Inputs {
    let batch = sym("batch");
    let src = g.input(
        io::SRC_TOKENS,
        DType::I64,
        vec![batch.clone(), sym("src_len")],
    );
    let patches = g.input(
        io::PATCH_EMBEDS,
        DType::F32,
        vec![batch, sym("patches"), Dim::Fixed(d as i64)],
    );
    let patch_pos = g.input(
        io::PATCH_POS_EMBEDS,
        DType::F32,
        vec![sym("patches"), Dim::Fixed(d as i64)],
    );
    let patch_ids = g.input(io::PATCH_POS_IDS, DType::I64, vec![sym("patches")]);
    Inputs {
        src,
        patches,
        patch_pos,
        patch_ids,
    }
}

/// Text and patch embeddings (§2.6), concatenated patches first.
fn embed(
    g: &mut GraphBuilder,
    cfg: &ModelConfig,
    enc: &Weights,
    inputs: &Inputs,
) -> Result<Value, GraphError> {
    let d = cfg.embed_dim;
    let vocab = enc.shape("embed_tokens.weight")?;
    let vocab = vocab.first().copied().unwrap_or(0);
    let table = enc.get("embed_tokens.weight", &[vocab, d])?;
    let table = g.table("embed_tokens", [vocab, d], table, false);
    let mut xt = lookup(g, "embed.text", table, inputs.src);
    if !cfg.no_scale_embedding {
        let s = g.float_const("embed.scale", &[], &[(d as f32).sqrt()]);
        xt = binary(g, "Mul", "embed.text_scaled", xt, s);
    }
    let mut xp = inputs.patches;
    if cfg.add_type_embedding {
        let types = enc.get("type_embedding.weight", &[2, d])?;
        let t0 = g.weight("type_embedding.text", &[d], &types[..d]);
        let t1 = g.weight("type_embedding.patch", &[d], &types[d..]);
        xt = binary(g, "Add", "embed.text_typed", xt, t0);
        xp = binary(g, "Add", "embed.patch_typed", xp, t1);
    }
    if let Some(n) = Norm::optional(cfg.layernorm_embedding, &enc.pp("layernorm_embedding"), d)? {
        xt = n.build(g, xt);
    }
    let patch_ln = enc.pp("patch_layernorm_embedding");
    if let Some(n) = Norm::optional(cfg.patch_layernorm_embedding, &patch_ln, d)? {
        xp = n.build(g, xp);
    }
    Ok(concat(g, "embed.concat", &[xp, xt], 1))
}

/// The padding of the concatenated sequence: perception tokens are never padding here; text
/// pads are PAD ids.
struct Padding {
    /// `[B, S]` bool, true at padding.
    mask: Value,
    /// `[B, S, 1]` float, zero at padding (zeroes padded embeddings).
    keep: Value,
    /// The text length (1-element int64).
    src_len: Value,
}

fn padding(g: &mut GraphBuilder, inputs: &Inputs) -> Padding {
    let src = inputs.src;
    let pad_id = g.const_i64("pad_id", &[], &[unival_manifest::vocab::PAD]);
    let text_pad = g.node("Equal", "padding.text", &[src, pad_id], &[]);
    let bsz = dim(g, "padding.batch", src, 0);
    let np = dim(g, "padding.patches", inputs.patch_ids, 0);
    let src_len = dim(g, "padding.src_len", src, 1);
    let pshape = concat(g, "padding.patch_shape", &[bsz, np], 0);
    let false_t = tensor("", &[1], data_type::BOOL, vec![0]);
    let patch_pad = g.node(
        "ConstantOfShape",
        "padding.patch",
        &[pshape],
        &[("value", Attr::Tensor(false_t))],
    );
    let pad = concat(g, "padding.mask", &[patch_pad, text_pad], 1);
    let keep = g.node("Not", "padding.keep", &[pad], &[]);
    let float = g.float_type();
    let keep = g.cast("padding.keep_float", keep, float);
    Padding {
        mask: pad,
        keep: unsqueeze(g, "padding.keep3", keep, &[2]),
        src_len,
    }
}

/// `-inf` at padded keys, `[B, 1, 1, S]`.
fn key_bias(g: &mut GraphBuilder, pad: Value) -> Value {
    let ninf = g.float_const("padding.ninf", &[], &[f32::NEG_INFINITY]);
    let zero = g.float_const("padding.zero", &[], &[0.0]);
    let key_mask = g.node("Where", "padding.key_bias", &[pad, ninf, zero], &[]);
    unsqueeze(g, "padding.key_bias4", key_mask, &[1, 2])
}

/// Absolute position embeddings `[1, S, D]` (patches then text) and the parts of every
/// layer's attention bias (§2.7).
fn positions(
    g: &mut GraphBuilder,
    cfg: &ModelConfig,
    enc: &Weights,
    inputs: &Inputs,
    lt: Value,
    key_mask: Value,
) -> Result<(Value, EncoderBias), GraphError> {
    let d = cfg.embed_dim;
    let h = Heads::encoder(cfg);
    let zero_i = g.const_i64("positions.zero", &[], &[0]);
    let text_pos = range(g, "positions.text", zero_i, lt);
    let rows = cfg.max_source_positions + 2;
    let pos_table = enc.get("embed_positions.weight", &[rows, d])?;
    let pos_table = g.weight("embed_positions", &[rows, d], &pos_table);
    let pe_t = gather(g, "positions.text_rows", pos_table, text_pos);
    let pe_t = Norm::new(&enc.pp("pos_ln"), d)?.build(g, pe_t);
    let pe_p = Norm::new(&enc.pp("image_pos_ln"), d)?.build(g, inputs.patch_pos);
    let pe = concat(g, "positions.all", &[pe_p, pe_t], 0);
    let pe3 = unsqueeze(g, "positions.batched", pe, &[0]);
    let pq = HeadProjection::new(h, &enc.pp("pos_q_linear"), Some(h.scaling))?.build(g, pe3);
    let pk = HeadProjection::new(h, &enc.pp("pos_k_linear"), None)?.build(g, pe3);
    let abs_bias = position_bias(g, "abs_bias", pq, pk);
    let token_buckets = token_buckets(
        g,
        "token_buckets",
        text_pos,
        text_pos,
        cfg.token_bucket_size as i64,
    );
    let image_buckets = image_buckets(
        g,
        "image_buckets",
        inputs.patch_ids,
        cfg.image_bucket_size as i64,
    );
    // Recomputed from their formulas inside the graph.
    enc.skip("token_rp_bucket");
    enc.skip("image_rp_bucket");
    let bias = EncoderBias {
        abs_bias,
        key_mask,
        token_buckets,
        image_buckets,
    };
    Ok((pe3, bias))
}

/// What the decoder needs, computed once per input (ARCHITECTURE.md §3): the keys of the
/// cross-attention position bias and every layer's cross-attention keys and values.
fn for_the_decoder(
    g: &mut GraphBuilder,
    cfg: &ModelConfig,
    dec: &Weights,
    x: Value,
    pe3: Value,
) -> Result<(Value, Vec<(Value, Value)>), GraphError> {
    let (d, dh) = (cfg.embed_dim, Heads::decoder(cfg));
    let cpk = Linear::new(&dec.pp("cross_pos_k_linear"), d, d)?.build(g, pe3);
    let cross_pos_k = split_heads(g, "cross_pos_k", cpk, dh);
    let mut cross = Vec::new();
    for l in 0..cfg.decoder_layers {
        let aw = dec.pp(format!("layers.{l}.encoder_attn"));
        let project =
            |w: &Weights, name: String| HeadProjection::new(dh, w, None).map(|p| p.named(name));
        let k = project(&aw.pp("k_proj"), io::cross_k(l))?.build(g, x);
        let v = project(&aw.pp("v_proj"), io::cross_v(l))?.build(g, x);
        cross.push((k, v));
    }
    Ok((cross_pos_k, cross))
}

fn declare_outputs(
    g: &mut GraphBuilder,
    cfg: &ModelConfig,
    x: Value,
    pad: Value,
    pe3: Value,
    cross_pos_k: Value,
    cross: Vec<(Value, Value)>,
) {
    let dh = Heads::decoder(cfg);
    let hd = Dim::Fixed(dh.head_dim() as i64);
    let heads = Dim::Fixed(dh.heads as i64);
    let dm = Dim::Fixed(cfg.embed_dim as i64);
    let (batch, seq) = (sym("batch"), sym("seq"));
    let pe_b = {
        let shape = g.node("Shape", "position_embeddings.shape", &[x], &[]);
        g.node("Expand", "position_embeddings.batched", &[pe3, shape], &[])
    };
    let bsd = vec![batch.clone(), seq.clone(), dm];
    g.output(io::ENCODER_OUT, x, DType::F32, bsd.clone());
    g.output(
        io::ENCODER_PADDING_MASK,
        pad,
        DType::Bool,
        vec![batch.clone(), seq.clone()],
    );
    g.output(io::POSITION_EMBEDDINGS, pe_b, DType::F32, bsd);
    g.output(
        io::CROSS_POS_K,
        cross_pos_k,
        DType::F32,
        vec![Dim::Fixed(1), heads.clone(), seq.clone(), hd.clone()],
    );
    for (l, (k, v)) in cross.into_iter().enumerate() {
        let dims = vec![batch.clone(), heads.clone(), seq.clone(), hd.clone()];
        g.output(&io::cross_k(l), k, DType::F32, dims.clone());
        g.output(&io::cross_v(l), v, DType::F32, dims);
    }
}
