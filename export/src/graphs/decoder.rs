//! The KV-cached step decoder graph (`decoder`, docs/model.md §2.10–2.11): new tokens `[n, t]` at
//! positions `past_len ..` attend to the self-attention cache plus themselves (causally) and to
//! the encoder output; position biases are built inside from the positions, so feeding a prefix
//! in one call or one token per call gives the same logits. `t > 1` serves prompt prefill and
//! option scoring, `t = 1` generation. The beam search's row reordering happens inside too
//! (input `beam_order`), so the cache never leaves the provider's memory between steps.

use super::attention::{position_bias, HeadProjection, Heads};
use super::layers::{DecoderBias, DecoderLayer};
use super::positions::token_buckets;
use super::weights::{Norm, Weights};
use super::{sym, GraphError};
use crate::config::ModelConfig;
use crate::onnx::ops::{binary, concat, dim, gather, range, reshape, unsqueeze};
use crate::onnx::tables::{lookup, tied_product};
use crate::onnx::{Attr, GraphBuilder, Value, WeightFormat};
use unival_manifest::{io, DType, Dim};

/// The graph's inputs.
struct Inputs {
    tokens: Value,
    past_len: Value,
    encoder_padding: Value,
    cross_pos_k: Value,
    /// Per layer: the encoder's keys and values.
    cross: Vec<(Value, Value)>,
    /// Per layer: the self-attention cache, already in this step's row order.
    past: Vec<(Value, Value)>,
}

/// Position rows and ids of a step.
struct Positions {
    /// Positions of the new tokens `past_len ..`, and of every key `0 ..`.
    new: Value,
    all: Value,
    /// Their normalised embeddings, `[1, t, D]` and `[1, P+t, D]`.
    new_rows: Value,
    all_rows: Value,
}

/// Builds the `decoder` graph from the weights under `decoder.`.
pub fn build(
    cfg: &ModelConfig,
    root: &Weights,
    format: WeightFormat,
) -> Result<GraphBuilder, GraphError> {
    let dec = root.pp("decoder").nodes_at("");
    let d = cfg.embed_dim;
    let mut g = GraphBuilder::new(io::graph::DECODER, format);
    let inputs = declare_inputs(&mut g, cfg);
    let pos = positions(&mut g, cfg, &dec, &inputs)?;
    let bias = biases(&mut g, cfg, &dec, &inputs, &pos)?;
    // Token embeddings (shared table, also the output projection).
    let vocab = dec.shape("embed_tokens.weight")?;
    let vocab = vocab.first().copied().unwrap_or(0);
    let etable = dec.get("embed_tokens.weight", &[vocab, d])?;
    let etable = g.table("embed_tokens", [vocab, d], etable, true);
    dec.skip("output_projection.weight");
    let mut x = lookup(&mut g, "embed_tokens.lookup", etable, inputs.tokens);
    if !cfg.no_scale_embedding {
        let s = g.float_const("embed.scale", &[], &[(d as f32).sqrt()]);
        x = binary(&mut g, "Mul", "embed.scaled", x, s);
    }
    if let Some(n) = Norm::optional(cfg.layernorm_embedding, &dec.pp("layernorm_embedding"), d)? {
        x = n.build(&mut g, x);
    }
    let mut presents = Vec::new();
    for l in 0..cfg.decoder_layers {
        let layer = DecoderLayer::new(cfg, &dec, l)?;
        let (y, present) = layer.build(&mut g, x, &bias, inputs.past[l], inputs.cross[l]);
        x = y;
        presents.push(present);
    }
    if cfg.decoder_normalize_before {
        x = Norm::new(&dec.pp("layer_norm"), d)?.build(&mut g, x);
    }
    let vocab_rows = g.input(io::VOCAB_ROWS, DType::I64, vec![sym("vocab_rows")]);
    let logits = output_projection(&mut g, x, etable, vocab_rows, d);
    declare_outputs(&mut g, cfg, logits, presents);
    Ok(g)
}

fn declare_inputs(g: &mut GraphBuilder, cfg: &ModelConfig) -> Inputs {
    let h = Heads::decoder(cfg);
    let heads = Dim::Fixed(h.heads as i64);
    let hd = Dim::Fixed(h.head_dim() as i64);
    let tokens = g.input(io::TOKENS, DType::I64, vec![sym("n"), sym("t")]);
    let past_len = g.input(io::PAST_LEN, DType::I64, vec![]);
    let encoder_padding = g.input(
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
        let k = gather(g, &format!("layers.{l}.self.k_reorder"), k, beam_order);
        let v = gather(g, &format!("layers.{l}.self.v_reorder"), v, beam_order);
        past.push((k, v));
    }
    Inputs {
        tokens,
        past_len,
        encoder_padding,
        cross_pos_k,
        cross,
        past,
    }
}

/// New tokens at `past_len .. past_len+t`, keys at `0 .. past_len+t`.
fn positions(
    g: &mut GraphBuilder,
    cfg: &ModelConfig,
    dec: &Weights,
    inputs: &Inputs,
) -> Result<Positions, GraphError> {
    let d = cfg.embed_dim;
    let t = dim(g, "positions.t", inputs.tokens, 1);
    let new_pos = range(g, "positions.new", inputs.past_len, t);
    let past1 = unsqueeze(g, "positions.past1", inputs.past_len, &[0]);
    let total = binary(g, "Add", "positions.total", past1, t);
    let zero = g.const_i64("positions.zero", &[], &[0]);
    let all_pos = range(g, "positions.all", zero, total);
    let rows = cfg.max_target_positions + 2;
    let table = dec.get("embed_positions.weight", &[rows, d])?;
    let table = g.weight("embed_positions", &[rows, d], &table);
    let pe_all = gather(g, "positions.rows", table, all_pos);
    let pe_all = Norm::new(&dec.pp("pos_ln"), d)?.build(g, pe_all);
    let pe_new = g.node(
        "Gather",
        "positions.new_rows",
        &[pe_all, new_pos],
        &[("axis", Attr::Int(0))],
    );
    Ok(Positions {
        new: new_pos,
        all: all_pos,
        all_rows: unsqueeze(g, "positions.all3", pe_all, &[0]),
        new_rows: unsqueeze(g, "positions.new3", pe_new, &[0]),
    })
}

/// The parts of every layer's attention biases: self-attention's absolute (TUPE) bias with
/// the causal mask and its bucket ids (the relative part is per layer), and the
/// cross-attention bias: decoder position queries against the encoder's position keys, plus
/// the encoder padding.
fn biases(
    g: &mut GraphBuilder,
    cfg: &ModelConfig,
    dec: &Weights,
    inputs: &Inputs,
    pos: &Positions,
) -> Result<DecoderBias, GraphError> {
    let h = Heads::decoder(cfg);
    let sq = HeadProjection::new(h, &dec.pp("self_pos_q_linear"), Some(h.scaling))?
        .build(g, pos.new_rows);
    let sk = HeadProjection::new(h, &dec.pp("self_pos_k_linear"), None)?.build(g, pos.all_rows);
    let self_abs = position_bias(g, "self_abs", sq, sk);
    let qi = unsqueeze(g, "causal.q", pos.new, &[1]);
    let kj = unsqueeze(g, "causal.k", pos.all, &[0]);
    let future = g.node("Greater", "causal.future", &[kj, qi], &[]);
    let ninf = g.float_const("causal.ninf", &[], &[f32::NEG_INFINITY]);
    let fzero = g.float_const("causal.zero", &[], &[0.0]);
    let causal = g.node("Where", "causal.mask", &[future, ninf, fzero], &[]);
    let self_abs = binary(g, "Add", "self_abs.causal", self_abs, causal);
    let buckets = token_buckets(
        g,
        "token_buckets",
        pos.new,
        pos.all,
        cfg.token_bucket_size as i64,
    );
    let cq = HeadProjection::new(h, &dec.pp("cross_pos_q_linear"), Some(h.scaling))?
        .build(g, pos.new_rows);
    let cross_abs = position_bias(g, "cross_abs", cq, inputs.cross_pos_k);
    let pad = inputs.encoder_padding;
    let pad_bias = g.node("Where", "cross_pad.bias", &[pad, ninf, fzero], &[]);
    let pad_bias = unsqueeze(g, "cross_pad.bias4", pad_bias, &[1, 2]);
    Ok(DecoderBias {
        self_abs,
        token_buckets: buckets,
        cross: binary(g, "Add", "cross_bias", cross_abs, pad_bias),
    })
}

fn declare_outputs(
    g: &mut GraphBuilder,
    cfg: &ModelConfig,
    logits: Value,
    presents: Vec<(Value, Value)>,
) {
    let h = Heads::decoder(cfg);
    let heads = Dim::Fixed(h.heads as i64);
    let hd = Dim::Fixed(h.head_dim() as i64);
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
        |g| tied_product(g, "output_projection.gemm", flat, table),
        |g| {
            let picked = lookup(g, "output_projection.rows", table, rows);
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
