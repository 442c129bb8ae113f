//! The video perception graph (`video_encoder`, docs/model.md §2.3, §2.5): clips `[B, 3, T, H, W]`
//! → 3-D ResNeXt (grouped 3-D convolutions, depth and widths from the state dict, BN folded) →
//! `video_proj`; every temporal slice reuses the spatial position ids `1 + r·b + c`.

use super::perception::{finish, Branch};
use super::positions::grid_ids;
use super::resnet::{ResNet, Stem};
use super::weights::Weights;
use super::{sym, GraphError};
use crate::config::ModelConfig;
use crate::onnx::ops::{concat, dim, reshape};
use crate::onnx::{GraphBuilder, WeightFormat};
use unival_manifest::{io, DType, Dim};

/// Builds the `video_encoder` graph from the weights under `encoder.`.
pub fn build(
    cfg: &ModelConfig,
    enc: &Weights,
    format: WeightFormat,
) -> Result<GraphBuilder, GraphError> {
    let backbone = ResNet::with_stem(&enc.pp("embed_videos"), Stem::Video3d)?;
    let c = backbone.out_channels();
    let mut g = GraphBuilder::new(io::graph::VIDEO_ENCODER, format);
    let x = g.input(
        io::PATCH_VIDEOS,
        DType::F32,
        vec![
            sym("batch"),
            Dim::Fixed(3),
            sym("frames"),
            sym("height"),
            sym("width"),
        ],
    );
    let feat = backbone.build(&mut g, "embed_videos", x);
    let gt = dim(&mut g, "grid.t", feat, 2);
    let gh = dim(&mut g, "grid.h", feat, 3);
    let gw = dim(&mut g, "grid.w", feat, 4);
    let spatial = grid_ids(&mut g, "spatial_ids", gh, gw, cfg.image_bucket_size as i64);
    // [t, h·w] by tiling the spatial ids over time, then flattened (t, h, w) row-major.
    let one = g.ints("ids.one", &[1]);
    let reps = concat(&mut g, "ids.reps", &[gt, one], 0);
    let row = reshape(&mut g, "ids.row", spatial, &[1, -1]);
    let tiled = g.node("Tile", "ids.tiled", &[row, reps], &[]);
    let ids = reshape(&mut g, "patch_pos_ids", tiled, &[-1]);
    let dims = vec![
        sym("batch"),
        Dim::Fixed(c as i64),
        sym("grid_t"),
        sym("grid_h"),
        sym("grid_w"),
    ];
    finish(&mut g, cfg, enc, Branch::Video, feat, c, ids, dims)?;
    Ok(g)
}
