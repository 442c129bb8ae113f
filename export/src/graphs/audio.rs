//! The audio perception graph (`audio_encoder`, docs/model.md §2.4 steps 4–6 and §0.1 item 3):
//! log-mel `[B, 1, frames, mels]` (the spectrogram front end runs in Rust, see the runtime's
//! `audio` module) → `bn0` per mel bin → PANN CNN blocks → `audio_proj`. Token `i` of `N` gets the
//! position id `1 + (i div g)·b + (i mod g)` with `g = ⌈√N⌉`.
//!
//! The block family is read from the keys: CNN14-style blocks have `conv1`+`conv2` (3×3) and
//! pool 2×2 except the sixth (1×1); CNN6-style blocks have one 5×5 `conv1` and pool 2×2.

use super::perception::{finish, Branch};
use super::resnet::{ConvBn, BN_EPS};
use super::weights::Weights;
use super::{sym, GraphError};
use crate::config::ModelConfig;
use crate::onnx::ops::{binary, dim, range};
use crate::onnx::{Attr, GraphBuilder, Value, WeightFormat};
use unival_manifest::{io, DType, Dim};

/// One PANN conv block: one or two conv+BN+ReLU, then average pooling.
struct ConvBlock {
    convs: Vec<ConvBn>,
    pool: usize,
}

/// Reads `conv_block1..` under `w`.
fn blocks(w: &Weights) -> Result<Vec<ConvBlock>, GraphError> {
    let mut out = Vec::new();
    for i in 1.. {
        let bw = w.pp(format!("conv_block{i}"));
        if !bw.has("conv1.weight") {
            break;
        }
        let mut convs = Vec::new();
        for j in 1..=2 {
            if !bw.has(&format!("conv{j}.weight")) {
                continue;
            }
            let k = bw
                .shape(&format!("conv{j}.weight"))?
                .get(2)
                .copied()
                .unwrap_or(1);
            convs.push(ConvBn::fold(
                &bw.pp(format!("conv{j}")),
                &bw.pp(format!("bn{j}")),
                1,
                k / 2,
                1,
            )?);
        }
        out.push(ConvBlock {
            convs,
            pool: if i == 6 { 1 } else { 2 },
        });
    }
    if out.is_empty() {
        return Err(GraphError::Unsupported(format!(
            "{}: no `conv_block1.conv1.weight`; not a PANN audio encoder",
            w.key("")
        )));
    }
    Ok(out)
}

/// `bn0` over the mel axis as a per-bin affine map `x·s + t`, `[mels]` each.
fn bn0(w: &Weights, mels: usize) -> Result<(Vec<f32>, Vec<f32>), GraphError> {
    let gamma = w.get("weight", &[mels])?;
    let beta = w.get("bias", &[mels])?;
    let mean = w.get("running_mean", &[mels])?;
    let var = w.get("running_var", &[mels])?;
    w.skip("num_batches_tracked");
    let mut scale = vec![0f32; mels];
    let mut shift = vec![0f32; mels];
    for m in 0..mels {
        let s = gamma[m] as f64 / (var[m] as f64 + BN_EPS as f64).sqrt();
        scale[m] = s as f32;
        shift[m] = (beta[m] as f64 - mean[m] as f64 * s) as f32;
    }
    Ok((scale, shift))
}

/// Audio position ids for `n` tokens (1-element int64): `1 + (i div g)·b + (i mod g)`,
/// `g = ⌈√n⌉` (docs/model.md §2.5).
fn audio_ids(g: &mut GraphBuilder, n: Value, b: i64) -> Value {
    let zero = g.const_i64("ids.zero", &[], &[0]);
    let i = range(g, "ids.i", zero, n);
    let nf = g.cast("ids.nf", n, DType::F32);
    let root = g.node("Sqrt", "ids.sqrt", &[nf], &[]);
    let root = g.node("Ceil", "ids.ceil", &[root], &[]);
    let width = g.cast("ids.width", root, DType::I64);
    let row = binary(g, "Div", "ids.row", i, width);
    let col = g.node("Mod", "ids.col", &[i, width], &[("fmod", Attr::Int(0))]);
    let bc = g.const_i64("ids.b", &[], &[b]);
    let one = g.const_i64("ids.one", &[], &[1]);
    let rb = binary(g, "Mul", "ids.rb", row, bc);
    let id = binary(g, "Add", "ids.rc", rb, col);
    binary(g, "Add", "patch_pos_ids", id, one)
}

/// Builds the `audio_encoder` graph from the weights under `encoder.`.
pub fn build(
    cfg: &ModelConfig,
    enc: &Weights,
    format: WeightFormat,
) -> Result<GraphBuilder, GraphError> {
    let aw = enc.pp("embed_audios");
    let mels = cfg.mel_bins;
    let (scale, shift) = bn0(&aw.pp("bn0"), mels)?;
    let blocks = blocks(&aw)?;
    let c = blocks
        .last()
        .and_then(|b| b.convs.last())
        .map(ConvBn::out_channels)
        .unwrap_or(0);
    // Stored but unused by UnIVAL (docs/model.md §2.4, §0.1 item 3); the STFT kernels go to the
    // bundle as a file for the Rust front end, `melW` is rebuilt there.
    for k in [
        "fc1.weight",
        "fc1.bias",
        "fc_audioset.weight",
        "fc_audioset.bias",
    ] {
        if aw.has(k) {
            aw.skip(k);
        }
    }
    let mut g = GraphBuilder::new(io::graph::AUDIO_ENCODER, format);
    let x = g.input(
        io::LOG_MEL,
        DType::F32,
        vec![
            sym("batch"),
            Dim::Fixed(1),
            sym("frames"),
            Dim::Fixed(mels as i64),
        ],
    );
    let s = g.weight("bn0.scale", &[mels], &scale);
    let t = g.weight("bn0.shift", &[mels], &shift);
    let x = binary(&mut g, "Mul", "bn0.mul", x, s);
    let mut x = binary(&mut g, "Add", "bn0.add", x, t);
    for (i, b) in blocks.iter().enumerate() {
        let name = format!("conv_block{}", i + 1);
        for (j, conv) in b.convs.iter().enumerate() {
            x = conv.build(&mut g, &format!("{name}.conv{}", j + 1), x, true);
        }
        if b.pool > 1 {
            let p = b.pool as i64;
            x = g.node(
                "AveragePool",
                &format!("{name}.pool"),
                &[x],
                &[
                    ("kernel_shape", Attr::Ints(vec![p, p])),
                    ("strides", Attr::Ints(vec![p, p])),
                ],
            );
        }
    }
    let gt = dim(&mut g, "grid.t", x, 2);
    let gf = dim(&mut g, "grid.f", x, 3);
    let n = binary(&mut g, "Mul", "grid.n", gt, gf);
    let ids = audio_ids(&mut g, n, cfg.image_bucket_size as i64);
    let dims = vec![
        sym("batch"),
        Dim::Fixed(c as i64),
        sym("grid_t"),
        sym("grid_f"),
    ];
    finish(&mut g, cfg, enc, Branch::Audio, x, c, ids, dims)?;
    Ok(g)
}
