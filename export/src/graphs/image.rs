//! The image perception graph (`image_encoder`): pixels → ResNet → `image_proj` → patch
//! embeddings, with the perception position ids and the image absolute-position rows the
//! encoder needs (docs/model.md §2.2, §2.5).

use super::perception::{finish, Branch};
use super::positions::grid_ids;
use super::resnet::ResNet;
use super::weights::Weights;
use super::{sym, GraphError};
use crate::config::ModelConfig;
use crate::onnx::ops::dim;
use crate::onnx::{GraphBuilder, WeightFormat};
use unival_manifest::{io, DType, Dim};

/// Builds the `image_encoder` graph from the weights under `encoder.`.
pub fn build(
    cfg: &ModelConfig,
    enc: &Weights,
    format: WeightFormat,
) -> Result<GraphBuilder, GraphError> {
    let backbone = ResNet::new(&enc.pp("embed_images"))?;
    let c = backbone.out_channels();
    let mut g = GraphBuilder::new(io::graph::IMAGE_ENCODER, format);
    let x = g.input(
        io::PATCH_IMAGES,
        DType::F32,
        vec![sym("batch"), Dim::Fixed(3), sym("height"), sym("width")],
    );
    let feat = backbone.build(&mut g, "embed_images", x);
    let gh = dim(&mut g, "grid.h", feat, 2);
    let gw = dim(&mut g, "grid.w", feat, 3);
    let ids = grid_ids(
        &mut g,
        "patch_pos_ids",
        gh,
        gw,
        cfg.image_bucket_size as i64,
    );
    let dims = vec![
        sym("batch"),
        Dim::Fixed(c as i64),
        sym("grid_h"),
        sym("grid_w"),
    ];
    finish(&mut g, cfg, enc, Branch::Image, feat, c, ids, dims)?;
    Ok(g)
}
