//! The KV-cached step decoder graph (`decoder`, spec §2.10–2.11): new tokens `[n, t]` at
//! positions `past_len ..` attend to the self-attention cache plus themselves (causally) and to
//! the encoder output; position biases are built inside from the positions, so feeding a prefix
//! in one call or one token per call gives the same logits. `t > 1` serves prompt prefill and
//! option scoring, `t = 1` generation. The beam search's row reordering happens inside too
//! (input `beam_order`), so the cache never leaves the provider's memory between steps.

use super::attention::{attend, project_heads, self_attention_qkv, Heads};
use super::encoder::decoder_heads;
use super::positions::{rel_bias, token_buckets};
use super::weights::Weights;
use super::{attention_residual, ffn, norm, sym, GraphError};
use crate::config::ModelConfig;
use crate::onnx::ops::{binary, concat, dim, gather, range, reshape, transpose, unsqueeze};
use crate::onnx::{Attr, GraphBuilder, Value};
use unival_manifest::{io, DType, Dim};

/// Builds the `decoder` graph from the weights under `decoder.`.
pub fn build(cfg: &ModelConfig, root: &Weights, float: DType) -> Result<GraphBuilder, GraphError> {
    let dec = root.pp("decoder");
    let d = cfg.embed_dim;
    let h: Heads = decoder_heads(cfg);
    let vocab = dec.shape("embed_tokens.weight")?;
    let vocab = vocab.first().copied().unwrap_or(0);
    let heads = Dim::Fixed(h.heads as i64);
    let hd = Dim::Fixed(h.head_dim() as i64);
    let mut g = GraphBuilder::new(io::graph::DECODER, float);

    let tokens = g.input(io::TOKENS, DType::I64, vec![sym("n"), sym("t")]);
    let past_len = g.input(io::PAST_LEN, DType::I64, vec![]);
    let enc_pad = g.input(
        io::ENCODER_PADDING_MASK,
        DType::Bool,
        vec![sym("enc_batch"), sym("seq")],
    );
    let cross_pos_k = g.input(
        io::CROSS_POS_K,
        DType::F32,
        vec![Dim::Fixed(1), heads.clone(), sym("seq"), hd.clone()],
    );
    let mut cross = Vec::new();
    for l in 0..cfg.decoder_layers {
        let dims = vec![sym("enc_batch"), heads.clone(), sym("seq"), hd.clone()];
        let k = g.input(&io::cross_k(l), DType::F32, dims.clone());
        let v = g.input(&io::cross_v(l), DType::F32, dims);
        cross.push((k, v));
    }
    // The cache arrives in the previous step's row order (`past_n` rows: 1 after the first
    // step, `beam` later) and is gathered into this step's order here, beside the cache.
    let beam_order = g.input(io::BEAM_ORDER, DType::I64, vec![sym("n")]);
    let mut past = Vec::new();
    for l in 0..cfg.decoder_layers {
        let dims = vec![sym("past_n"), heads.clone(), sym("past"), hd.clone()];
        let k = g.input(&io::past_self_k(l), DType::F32, dims.clone());
        let v = g.input(&io::past_self_v(l), DType::F32, dims);
        let k = gather(&mut g, &format!("layers.{l}.self.k_reorder"), k, beam_order);
        let v = gather(&mut g, &format!("layers.{l}.self.v_reorder"), v, beam_order);
        past.push((k, v));
    }

    // Positions: new tokens at past_len .. past_len+t, keys at 0 .. past_len+t.
    let t = dim(&mut g, "positions.t", tokens, 1);
    let new_pos = range(&mut g, "positions.new", past_len, t);
    let past1 = unsqueeze(&mut g, "positions.past1", past_len, &[0]);
    let total = binary(&mut g, "Add", "positions.total", past1, t);
    let zero = g.const_i64("positions.zero", &[], &[0]);
    let all_pos = range(&mut g, "positions.all", zero, total);
    let rows = cfg.max_target_positions + 2;
    let table = dec.get("embed_positions.weight", &[rows, d])?;
    let table = g.weight("embed_positions", &[rows, d], &table);
    let pe_all = gather(&mut g, "positions.rows", table, all_pos);
    let pe_all = norm(&mut g, &dec.pp("pos_ln"), "pos_ln", pe_all, d)?;
    let pe_new = g.node(
        "Gather",
        "positions.new_rows",
        &[pe_all, new_pos],
        &[("axis", Attr::Int(0))],
    );
    let pe_all3 = unsqueeze(&mut g, "positions.all3", pe_all, &[0]);
    let pe_new3 = unsqueeze(&mut g, "positions.new3", pe_new, &[0]);

    // Self-attention bias: absolute (TUPE) + causal; relative per layer below.
    let sq = project_heads(
        &mut g,
        "self_pos_q_linear",
        &dec.pp("self_pos_q_linear"),
        pe_new3,
        h,
        Some(h.scaling),
    )?;
    let sk = project_heads(
        &mut g,
        "self_pos_k_linear",
        &dec.pp("self_pos_k_linear"),
        pe_all3,
        h,
        None,
    )?;
    let skt = transpose(&mut g, "self_abs.kt", sk, &[0, 1, 3, 2]);
    let self_abs = g.node("MatMul", "self_abs", &[sq, skt], &[]);
    let qi = unsqueeze(&mut g, "causal.q", new_pos, &[1]);
    let kj = unsqueeze(&mut g, "causal.k", all_pos, &[0]);
    let future = g.node("Greater", "causal.future", &[kj, qi], &[]);
    let ninf = g.float_const("causal.ninf", &[], &[f32::NEG_INFINITY]);
    let fzero = g.float_const("causal.zero", &[], &[0.0]);
    let causal = g.node("Where", "causal.mask", &[future, ninf, fzero], &[]);
    let self_abs = binary(&mut g, "Add", "self_abs.causal", self_abs, causal);
    let tok_idx = token_buckets(
        &mut g,
        "token_buckets",
        new_pos,
        all_pos,
        cfg.token_bucket_size as i64,
    );

    // Cross-attention bias: decoder position queries against the encoder's position keys.
    let cq = project_heads(
        &mut g,
        "cross_pos_q_linear",
        &dec.pp("cross_pos_q_linear"),
        pe_new3,
        h,
        Some(h.scaling),
    )?;
    let ckt = transpose(&mut g, "cross_abs.kt", cross_pos_k, &[0, 1, 3, 2]);
    let cross_abs = g.node("MatMul", "cross_abs", &[cq, ckt], &[]);
    let pad_bias = g.node("Where", "cross_pad.bias", &[enc_pad, ninf, fzero], &[]);
    let pad_bias = unsqueeze(&mut g, "cross_pad.bias4", pad_bias, &[1, 2]);
    let cross_bias = binary(&mut g, "Add", "cross_bias", cross_abs, pad_bias);

    // Token embeddings (shared table, also the output projection).
    let etable = dec.get("embed_tokens.weight", &[vocab, d])?;
    let etable = g.weight("embed_tokens", &[vocab, d], &etable);
    dec.skip("output_projection.weight");
    let mut x = gather(&mut g, "embed_tokens.lookup", etable, tokens);
    if !cfg.no_scale_embedding {
        let s = g.float_const("embed.scale", &[], &[(d as f32).sqrt()]);
        x = binary(&mut g, "Mul", "embed.scaled", x, s);
    }
    if cfg.layernorm_embedding {
        x = norm(
            &mut g,
            &dec.pp("layernorm_embedding"),
            "layernorm_embedding",
            x,
            d,
        )?;
    }

    let tok_rows = 2 * cfg.token_bucket_size - 1;
    let mut presents = Vec::new();
    for l in 0..cfg.decoder_layers {
        let lw = dec.pp(format!("layers.{l}"));
        let name = format!("layers.{l}");
        let tt = dec.get(
            &format!("token_rel_pos_table_list.{l}.weight"),
            &[tok_rows, h.heads],
        )?;
        let tt = g.weight(
            &format!("{name}.token_rel_table"),
            &[tok_rows, h.heads],
            &tt,
        );
        let rel = rel_bias(&mut g, &format!("{name}.token_rel"), tt, tok_idx);
        let rel = unsqueeze(&mut g, &format!("{name}.rel4"), rel, &[0]);
        let self_bias = binary(&mut g, "Add", &format!("{name}.self_bias"), self_abs, rel);

        let (q, k, v) = self_attention_qkv(&mut g, &lw, &name, x, h)?;
        let aw = lw.pp("self_attn");
        let (pk, pv) = past[l];
        let k = concat(&mut g, &format!("{name}.self.k_cache"), &[pk, k], 2);
        let v = concat(&mut g, &format!("{name}.self.v_cache"), &[pv, v], 2);
        presents.push((k, v));
        let a = attend(
            &mut g,
            &format!("{name}.self_attn"),
            &aw,
            q,
            k,
            v,
            self_bias,
            h,
            cfg.scale_heads,
        )?;
        x = attention_residual(&mut g, &lw, "self_attn_ln", &name, x, a, cfg)?;

        let hx = norm(
            &mut g,
            &lw.pp("encoder_attn_layer_norm"),
            &format!("{name}.encoder_attn_layer_norm"),
            x,
            d,
        )?;
        let cw = lw.pp("encoder_attn");
        let q = project_heads(
            &mut g,
            &format!("{name}.cross.q"),
            &cw.pp("q_proj"),
            hx,
            h,
            Some(h.scaling),
        )?;
        let (ck, cv) = cross[l];
        let a = attend(
            &mut g,
            &format!("{name}.encoder_attn"),
            &cw,
            q,
            ck,
            cv,
            cross_bias,
            h,
            cfg.scale_heads,
        )?;
        x = attention_residual(&mut g, &lw, "cross_attn_ln", &name, x, a, cfg)?;
        x = ffn(&mut g, &name, &lw, x, cfg)?;
    }
    if cfg.decoder_normalize_before {
        x = norm(&mut g, &dec.pp("layer_norm"), "layer_norm", x, d)?;
    }
    let vocab_rows = g.input(io::VOCAB_ROWS, DType::I64, vec![sym("vocab_rows")]);
    let logits = output_projection(&mut g, x, etable, vocab_rows, d);
    g.output(
        io::LOGITS,
        logits,
        DType::F32,
        vec![sym("n"), sym("t"), sym("vocab_out")],
    );
    for (l, (k, v)) in presents.into_iter().enumerate() {
        let dims = vec![sym("n"), heads.clone(), sym("total"), hd.clone()];
        g.output(&io::present_self_k(l), k, DType::F32, dims.clone());
        g.output(&io::present_self_v(l), v, DType::F32, dims);
    }
    Ok(g)
}

/// `logits = x · Eᵀ` with the tied embedding `E [V, D]`, as one `Gemm(transB)` over the
/// flattened rows so the table is stored once. With `rows` (`[k]` ids, `k > 0`) only those rows
/// of `E` are gathered and multiplied (`[n, t, k]`): an `If` on `k = 0` picks the branch, and
/// ONNX Runtime runs only the branch taken, so a constrained step does not read the whole
/// table (it is ≈ 28% of a base step).
fn output_projection(g: &mut GraphBuilder, x: Value, table: Value, rows: Value, d: usize) -> Value {
    let shape = g.node("Shape", "output_projection.in_shape", &[x], &[]);
    let flat = reshape(g, "output_projection.flat", x, &[-1, d as i64]);
    let k = g.node("Shape", "output_projection.k", &[rows], &[]);
    let zero = g.ints("output_projection.zero", &[0]);
    let all = binary(g, "Equal", "output_projection.all_rows", k, zero);
    let float = g.float_type();
    let y = g.if_else(
        "output_projection.logits",
        all,
        float,
        |g| {
            g.node(
                "Gemm",
                "output_projection.gemm",
                &[flat, table],
                &[("transB", Attr::Int(1))],
            )
        },
        |g| {
            let picked = gather(g, "output_projection.rows", table, rows);
            g.node(
                "Gemm",
                "output_projection.gemm_rows",
                &[flat, picked],
                &[("transB", Attr::Int(1))],
            )
        },
    );
    let lead = g.ints("output_projection.lead_index", &[0, 1]);
    let lead = g.node(
        "Gather",
        "output_projection.lead",
        &[shape, lead],
        &[("axis", Attr::Int(0))],
    );
    let minus1 = g.ints("output_projection.vocab", &[-1]);
    let out_shape = concat(g, "output_projection.out_shape", &[lead, minus1], 0);
    g.node("Reshape", "output_projection", &[y, out_shape], &[])
}
