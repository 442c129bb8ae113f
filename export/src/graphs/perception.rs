//! What every perception graph shares after its CNN (docs/model.md §2.2–2.5): flatten the feature
//! grid row-major into tokens, project (`{modality}_proj`), optional
//! `layernorm_{modality}_embedding`, and gather the modality's absolute position rows at the
//! tokens' position ids.

use super::weights::{Linear, Norm, Weights};
use super::{sym, GraphError, LN_EPS};
use crate::config::ModelConfig;
use crate::onnx::ops::{gather, layer_norm, linear, reshape, transpose};
use crate::onnx::{GraphBuilder, Value};
use unival_manifest::{io, DType, Dim};

/// The perception branch of one modality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    Image,
    Video,
    Audio,
}

impl Branch {
    /// PyTorch attribute stem (`image` → `image_proj`, `embed_image_positions`, …).
    pub fn stem(self) -> &'static str {
        match self {
            Branch::Image => "image",
            Branch::Video => "video",
            Branch::Audio => "audio",
        }
    }

    fn layernorm_flag(self, cfg: &ModelConfig) -> bool {
        match self {
            Branch::Image => cfg.layernorm_image_embedding,
            Branch::Video => cfg.layernorm_video_embedding,
            Branch::Audio => cfg.layernorm_audio_embedding,
        }
    }
}

/// Wires tokens, projection and position rows from CNN features `feat [B, C, …grid]` and
/// position ids `ids [N]`, and declares the perception outputs. `backbone_dims` names the
/// feature tensor's dimensions for the manifest.
pub fn finish(
    g: &mut GraphBuilder,
    cfg: &ModelConfig,
    enc: &Weights,
    branch: Branch,
    feat: Value,
    channels: usize,
    ids: Value,
    backbone_dims: Vec<Dim>,
) -> Result<(), GraphError> {
    let d = cfg.embed_dim;
    let m = branch.stem();
    let b = cfg.image_bucket_size;
    let proj = Linear::new(&enc.pp(format!("{m}_proj")), channels, d)?;
    let flat = reshape(g, "patches.flatten", feat, &[0, channels as i64, -1]);
    let flat = transpose(g, "patches.nlc", flat, &[0, 2, 1]);
    let mut emb = linear(
        g,
        &format!("{m}_proj"),
        flat,
        &proj.weight,
        proj.bias.as_deref(),
        channels,
        d,
    );
    if branch.layernorm_flag(cfg) {
        let name = format!("layernorm_{m}_embedding");
        let n = Norm::new(&enc.pp(&name), d)?;
        emb = layer_norm(g, &name, emb, &n.weight, &n.bias, LN_EPS);
    }
    let rows = b * b + 1;
    let table = enc.get(&format!("embed_{m}_positions.weight"), &[rows, d])?;
    let table = g.weight(&format!("embed_{m}_positions"), &[rows, d], &table);
    let pos = gather(g, "patch_pos_embeds", table, ids);
    g.output(io::BACKBONE_OUT, feat, DType::F32, backbone_dims);
    let dm = Dim::Fixed(d as i64);
    g.output(
        io::PATCH_EMBEDS,
        emb,
        DType::F32,
        vec![sym("batch"), sym("patches"), dm.clone()],
    );
    g.output(
        io::PATCH_POS_EMBEDS,
        pos,
        DType::F32,
        vec![sym("patches"), dm],
    );
    g.output(io::PATCH_POS_IDS, ids, DType::I64, vec![sym("patches")]);
    Ok(())
}
