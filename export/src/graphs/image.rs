//! The image perception graph (`image_encoder`): pixels → ResNet → `image_proj` → patch
//! embeddings, with the perception position ids and the image absolute-position rows the
//! encoder needs (spec §2.2, §2.5).

use super::positions::grid_ids;
use super::resnet::ResNet2d;
use super::weights::{Linear, Norm, Weights};
use super::{sym, GraphError, LN_EPS};
use crate::config::ModelConfig;
use crate::onnx::ops::{dim, gather, layer_norm, linear, reshape, transpose};
use crate::onnx::GraphBuilder;
use unival_manifest::{io, DType, Dim};

/// Builds the `image_encoder` graph from the weights under `encoder.`.
pub fn build(cfg: &ModelConfig, enc: &Weights, float: DType) -> Result<GraphBuilder, GraphError> {
    let d = cfg.embed_dim;
    let b = cfg.image_bucket_size as i64;
    let backbone = ResNet2d::new(&enc.pp("embed_images"))?;
    let c = backbone.out_channels();
    let proj = Linear::new(&enc.pp("image_proj"), c, d)?;
    let ln = if cfg.layernorm_image_embedding {
        Some(Norm::new(&enc.pp("layernorm_image_embedding"), d)?)
    } else {
        None
    };
    let table = enc.get("embed_image_positions.weight", &[(b * b + 1) as usize, d])?;

    let mut g = GraphBuilder::new(io::graph::IMAGE_ENCODER, float);
    let x = g.input(
        io::PATCH_IMAGES,
        DType::F32,
        vec![sym("batch"), Dim::Fixed(3), sym("height"), sym("width")],
    );
    let feat = backbone.build(&mut g, "embed_images", x);
    let flat = reshape(&mut g, "patches.flatten", feat, &[0, 0, -1]);
    let flat = transpose(&mut g, "patches.nlc", flat, &[0, 2, 1]);
    let mut emb = linear(
        &mut g,
        "image_proj",
        flat,
        &proj.weight,
        proj.bias.as_deref(),
        c,
        d,
    );
    if let Some(n) = &ln {
        emb = layer_norm(
            &mut g,
            "layernorm_image_embedding",
            emb,
            &n.weight,
            &n.bias,
            LN_EPS,
        );
    }
    let gh = dim(&mut g, "grid.h", feat, 2);
    let gw = dim(&mut g, "grid.w", feat, 3);
    let ids = grid_ids(&mut g, "patch_pos_ids", gh, gw, b);
    let table = g.weight("embed_image_positions", &[(b * b + 1) as usize, d], &table);
    let pos = gather(&mut g, "patch_pos_embeds", table, ids);

    g.output(
        io::BACKBONE_OUT,
        feat,
        DType::F32,
        vec![
            sym("batch"),
            Dim::Fixed(c as i64),
            sym("grid_h"),
            sym("grid_w"),
        ],
    );
    g.output(
        io::PATCH_EMBEDS,
        emb,
        DType::F32,
        vec![sym("batch"), sym("patches"), Dim::Fixed(d as i64)],
    );
    g.output(
        io::PATCH_POS_EMBEDS,
        pos,
        DType::F32,
        vec![sym("patches"), Dim::Fixed(d as i64)],
    );
    g.output(io::PATCH_POS_IDS, ids, DType::I64, vec![sym("patches")]);
    Ok(g)
}
