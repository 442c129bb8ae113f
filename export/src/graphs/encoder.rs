//! The transformer encoder graph (`encoder`, spec §2.6–2.9): text and perception embeddings,
//! TUPE-style absolute position bias plus per-layer relative biases, pre-LN NormFormer layers,
//! and everything the decoder needs computed once per input: per-layer cross-attention K/V,
//! the encoder half of the cross-attention position bias, the padding mask. The graph does not
//! know which modality produced the patches.

use super::attention::{attend, project_heads, self_attention_qkv, split_heads, Heads};
use super::positions::{block_diag, image_buckets, rel_bias, token_buckets};
use super::weights::{Linear, Weights};
use super::{attention_residual, ffn, norm, sym, GraphError};
use crate::config::ModelConfig;
use crate::onnx::ops::{binary, concat, dim, gather, linear, range, unsqueeze};
use crate::onnx::{Attr, GraphBuilder};
use unival_manifest::{io, DType, Dim};

/// Attention shape facts of the encoder.
pub fn encoder_heads(cfg: &ModelConfig) -> Heads {
    let hd = cfg.embed_dim / cfg.encoder_heads;
    Heads {
        dim: cfg.embed_dim,
        heads: cfg.encoder_heads,
        scaling: ((hd as f64) * cfg.attn_scale_factor).powf(-0.5) as f32,
    }
}

/// Attention shape facts of the decoder.
pub fn decoder_heads(cfg: &ModelConfig) -> Heads {
    let hd = cfg.embed_dim / cfg.decoder_heads;
    Heads {
        dim: cfg.embed_dim,
        heads: cfg.decoder_heads,
        scaling: ((hd as f64) * cfg.attn_scale_factor).powf(-0.5) as f32,
    }
}

/// Builds the `encoder` graph. `root` is the unscoped state dict view (the encoder graph also
/// holds the decoder's cross-attention K/V projections and `cross_pos_k_linear`).
pub fn build(cfg: &ModelConfig, root: &Weights, float: DType) -> Result<GraphBuilder, GraphError> {
    let enc = root.pp("encoder");
    let d = cfg.embed_dim;
    let h = encoder_heads(cfg);
    let dh = decoder_heads(cfg);
    let vocab = enc.shape("embed_tokens.weight")?;
    let vocab = vocab.first().copied().unwrap_or(0);
    let mut g = GraphBuilder::new(io::graph::ENCODER, float);
    let batch = sym("batch");
    let src = g.input(
        io::SRC_TOKENS,
        DType::I64,
        vec![batch.clone(), sym("src_len")],
    );
    let patches = g.input(
        io::PATCH_EMBEDS,
        DType::F32,
        vec![batch.clone(), sym("patches"), Dim::Fixed(d as i64)],
    );
    let patch_pos = g.input(
        io::PATCH_POS_EMBEDS,
        DType::F32,
        vec![sym("patches"), Dim::Fixed(d as i64)],
    );
    let patch_ids = g.input(io::PATCH_POS_IDS, DType::I64, vec![sym("patches")]);

    // Embeddings (§2.6).
    let table = enc.get("embed_tokens.weight", &[vocab, d])?;
    let table = g.weight("embed_tokens", &[vocab, d], &table);
    let mut xt = gather(&mut g, "embed.text", table, src);
    if !cfg.no_scale_embedding {
        let s = g.float_const("embed.scale", &[], &[(d as f32).sqrt()]);
        xt = binary(&mut g, "Mul", "embed.text_scaled", xt, s);
    }
    let mut xp = patches;
    if cfg.add_type_embedding {
        let types = enc.get("type_embedding.weight", &[2, d])?;
        let t0 = g.weight("type_embedding.text", &[d], &types[..d]);
        let t1 = g.weight("type_embedding.patch", &[d], &types[d..]);
        xt = binary(&mut g, "Add", "embed.text_typed", xt, t0);
        xp = binary(&mut g, "Add", "embed.patch_typed", xp, t1);
    }
    if cfg.layernorm_embedding {
        xt = norm(
            &mut g,
            &enc.pp("layernorm_embedding"),
            "layernorm_embedding",
            xt,
            d,
        )?;
    }
    if cfg.patch_layernorm_embedding {
        xp = norm(
            &mut g,
            &enc.pp("patch_layernorm_embedding"),
            "patch_layernorm_embedding",
            xp,
            d,
        )?;
    }
    let x = concat(&mut g, "embed.concat", &[xp, xt], 1);

    // Padding: perception tokens are never padding here; text pads are PAD ids.
    let pad_id = g.const_i64("pad_id", &[], &[unival_manifest::vocab::PAD]);
    let text_pad = g.node("Equal", "padding.text", &[src, pad_id], &[]);
    let bsz = dim(&mut g, "padding.batch", src, 0);
    let np = dim(&mut g, "padding.patches", patch_ids, 0);
    let lt = dim(&mut g, "padding.src_len", src, 1);
    let pshape = concat(&mut g, "padding.patch_shape", &[bsz, np], 0);
    let false_t = crate::onnx::proto::TensorProto {
        dims: vec![1],
        data_type: crate::onnx::proto::data_type::BOOL,
        raw_data: vec![0],
        ..Default::default()
    };
    let patch_pad = g.node(
        "ConstantOfShape",
        "padding.patch",
        &[pshape],
        &[("value", Attr::Tensor(false_t))],
    );
    let pad = concat(&mut g, "padding.mask", &[patch_pad, text_pad], 1);
    let keep = g.node("Not", "padding.keep", &[pad], &[]);
    let keep = g.cast("padding.keep_float", keep, float);
    let keep3 = unsqueeze(&mut g, "padding.keep3", keep, &[2]);
    let mut x = binary(&mut g, "Mul", "embed.zero_pads", x, keep3);
    let ninf = g.float_const("padding.ninf", &[], &[f32::NEG_INFINITY]);
    let zero = g.float_const("padding.zero", &[], &[0.0]);
    let key_mask = g.node("Where", "padding.key_bias", &[pad, ninf, zero], &[]);
    let key_mask = unsqueeze(&mut g, "padding.key_bias4", key_mask, &[1, 2]);

    // Absolute position embeddings and bias (§2.7).
    let zero_i = g.const_i64("positions.zero", &[], &[0]);
    let text_pos = range(&mut g, "positions.text", zero_i, lt);
    let pos_table = enc.get("embed_positions.weight", &[cfg.max_source_positions + 2, d])?;
    let pos_table = g.weight(
        "embed_positions",
        &[cfg.max_source_positions + 2, d],
        &pos_table,
    );
    let pe_t = gather(&mut g, "positions.text_rows", pos_table, text_pos);
    let pe_t = norm(&mut g, &enc.pp("pos_ln"), "pos_ln", pe_t, d)?;
    let pe_p = norm(
        &mut g,
        &enc.pp("image_pos_ln"),
        "image_pos_ln",
        patch_pos,
        d,
    )?;
    let pe = concat(&mut g, "positions.all", &[pe_p, pe_t], 0);
    let pe3 = unsqueeze(&mut g, "positions.batched", pe, &[0]);
    let pq = project_heads(
        &mut g,
        "pos_q_linear",
        &enc.pp("pos_q_linear"),
        pe3,
        h,
        Some(h.scaling),
    )?;
    let pk = project_heads(
        &mut g,
        "pos_k_linear",
        &enc.pp("pos_k_linear"),
        pe3,
        h,
        None,
    )?;
    let pkt = crate::onnx::ops::transpose(&mut g, "abs_bias.kt", pk, &[0, 1, 3, 2]);
    let abs_bias = g.node("MatMul", "abs_bias", &[pq, pkt], &[]);
    let tok_idx = token_buckets(
        &mut g,
        "token_buckets",
        text_pos,
        text_pos,
        cfg.token_bucket_size as i64,
    );
    let img_idx = image_buckets(
        &mut g,
        "image_buckets",
        patch_ids,
        cfg.image_bucket_size as i64,
    );
    let nb = cfg.image_bucket_size;
    let img_rows = (2 * nb - 1) * (2 * nb - 1) + 3;
    let tok_rows = 2 * cfg.token_bucket_size - 1;
    enc.skip("token_rp_bucket");
    enc.skip("image_rp_bucket");

    // Layers (§2.9).
    for l in 0..cfg.encoder_layers {
        let lw = enc.pp(format!("layers.{l}"));
        let name = format!("layers.{l}");
        let tt = enc.get(
            &format!("token_rel_pos_table_list.{l}.weight"),
            &[tok_rows, h.heads],
        )?;
        let tt = g.weight(
            &format!("{name}.token_rel_table"),
            &[tok_rows, h.heads],
            &tt,
        );
        let it = enc.get(
            &format!("image_rel_pos_table_list.{l}.weight"),
            &[img_rows, h.heads],
        )?;
        let it = g.weight(
            &format!("{name}.image_rel_table"),
            &[img_rows, h.heads],
            &it,
        );
        let tok_rel = rel_bias(&mut g, &format!("{name}.token_rel"), tt, tok_idx);
        let img_rel = rel_bias(&mut g, &format!("{name}.image_rel"), it, img_idx);
        let rel = block_diag(
            &mut g,
            &format!("{name}.rel"),
            img_rel,
            tok_rel,
            h.heads as i64,
        );
        let rel = unsqueeze(&mut g, &format!("{name}.rel4"), rel, &[0]);
        let bias = binary(&mut g, "Add", &format!("{name}.pos_bias"), abs_bias, rel);
        let bias = binary(&mut g, "Add", &format!("{name}.bias"), bias, key_mask);

        let (q, k, v) = self_attention_qkv(&mut g, &lw, &name, x, h)?;
        let aw = lw.pp("self_attn");
        let a = attend(
            &mut g,
            &format!("{name}.self_attn"),
            &aw,
            q,
            k,
            v,
            bias,
            h,
            cfg.scale_heads,
        )?;
        x = attention_residual(&mut g, &lw, "attn_ln", &name, x, a, cfg)?;
        x = ffn(&mut g, &name, &lw, x, cfg)?;
    }
    if cfg.encoder_normalize_before {
        x = norm(&mut g, &enc.pp("layer_norm"), "layer_norm", x, d)?;
    }

    // What the decoder needs, computed once per input (ARCHITECTURE.md §3).
    let dec = root.pp("decoder");
    let cpk = Linear::new(&dec.pp("cross_pos_k_linear"), d, d)?;
    let cpk_y = linear(
        &mut g,
        "cross_pos_k_linear",
        pe3,
        &cpk.weight,
        cpk.bias.as_deref(),
        d,
        d,
    );
    let cross_pos_k = split_heads(&mut g, "cross_pos_k", cpk_y, dh);
    let hd = Dim::Fixed(dh.head_dim() as i64);
    let heads = Dim::Fixed(dh.heads as i64);
    let mut cross = Vec::new();
    for l in 0..cfg.decoder_layers {
        let aw = dec.pp(format!("layers.{l}.encoder_attn"));
        let k = project_heads(&mut g, &io::cross_k(l), &aw.pp("k_proj"), x, dh, None)?;
        let v = project_heads(&mut g, &io::cross_v(l), &aw.pp("v_proj"), x, dh, None)?;
        cross.push((k, v));
    }

    let dm = Dim::Fixed(d as i64);
    let seq = sym("seq");
    let pe_b = {
        let shape = g.node("Shape", "position_embeddings.shape", &[x], &[]);
        g.node("Expand", "position_embeddings.batched", &[pe3, shape], &[])
    };
    g.output(
        io::ENCODER_OUT,
        x,
        DType::F32,
        vec![batch.clone(), seq.clone(), dm.clone()],
    );
    g.output(
        io::ENCODER_PADDING_MASK,
        pad,
        DType::Bool,
        vec![batch.clone(), seq.clone()],
    );
    g.output(
        io::POSITION_EMBEDDINGS,
        pe_b,
        DType::F32,
        vec![batch.clone(), seq.clone(), dm],
    );
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
    Ok(g)
}
