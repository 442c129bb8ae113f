//! A loaded bundle ready to run: perception, encoder and the KV-cached decoder wired together
//! by the names in the manifest (DESIGN.md §3). [`Model::encode_image`] runs perception and the
//! encoder once per input; [`StepDecoder`] then serves the search as a
//! [`crate::generate::Scorer`] (one new token per row per step, caches reordered on the host)
//! and as a [`crate::generate::SequenceScorer`] (N candidates in one batched pass).

mod decoder;

pub use decoder::StepDecoder;

use crate::bundle::Bundle;
use crate::ep::SessionOptions;
use crate::error::RuntimeError;
use crate::session::{GraphOutputs, GraphSession, Input};
use ndarray::{Array2, ArrayView4};
use std::path::Path;
use unival_manifest::{io, Manifest};

/// The graphs of one bundle, loaded.
pub struct Model {
    manifest: Manifest,
    image: Option<GraphSession>,
    encoder: GraphSession,
    decoder: GraphSession,
}

/// Everything the decoder needs about one input, computed once: the encoder graph's outputs
/// (cross-attention K/V per layer, position keys, padding mask) kept as ONNX Runtime values.
pub struct Encoded {
    outputs: GraphOutputs,
    /// Text length of the encoder input (`src_len` of `max_len_a · src_len + max_len_b`).
    pub src_len: usize,
    /// Number of perception tokens.
    pub patches: usize,
}

impl Encoded {
    /// `[1, seq, dim]` encoder output (for inspection and parity checks).
    pub fn outputs(&self) -> &GraphOutputs {
        &self.outputs
    }
}

impl Model {
    /// Opens `dir` (manifest and every file's hash verified) and loads its graphs.
    pub fn open(dir: &Path, opts: &SessionOptions) -> Result<Model, RuntimeError> {
        let bundle = Bundle::open(dir, opts)?;
        let image = if bundle.has_graph(io::graph::IMAGE_ENCODER) {
            Some(bundle.load_graph(io::graph::IMAGE_ENCODER)?)
        } else {
            None
        };
        let encoder = bundle.load_graph(io::graph::ENCODER)?;
        let decoder = bundle.load_graph(io::graph::DECODER)?;
        Ok(Model {
            manifest: bundle.manifest().clone(),
            image,
            encoder,
            decoder,
        })
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Runs the image graph on `pixels [1, 3, H, W]` and the encoder on `src_tokens`
    /// (`[BOS] … [EOS]`).
    pub fn encode_image(
        &mut self,
        pixels: ArrayView4<'_, f32>,
        src_tokens: &[i64],
    ) -> Result<Encoded, RuntimeError> {
        let patches = self.perceive_image(pixels)?;
        self.encode(&patches, src_tokens)
    }

    /// Runs the image graph on `pixels [1, 3, H, W]`: patch embeddings, their position rows and
    /// ids, and the raw backbone output.
    pub fn perceive_image(
        &mut self,
        pixels: ArrayView4<'_, f32>,
    ) -> Result<GraphOutputs, RuntimeError> {
        let image = self
            .image
            .as_mut()
            .ok_or_else(|| RuntimeError::UnknownGraph {
                bundle: self.manifest.name.clone(),
                graph: io::graph::IMAGE_ENCODER.to_string(),
                available: self
                    .manifest
                    .graphs
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let pixels = pixels.into_dyn();
        image.run(&[(io::PATCH_IMAGES, Input::F32(pixels))])
    }

    /// Runs the encoder on a perception graph's outputs and `src_tokens`.
    pub fn encode(
        &mut self,
        patches: &GraphOutputs,
        src_tokens: &[i64],
    ) -> Result<Encoded, RuntimeError> {
        let src =
            Array2::from_shape_vec((1, src_tokens.len()), src_tokens.to_vec()).map_err(|e| {
                RuntimeError::BadShape {
                    graph: io::graph::ENCODER.to_string(),
                    reason: e.to_string(),
                }
            })?;
        let n_patches = patches.view::<i64>(io::PATCH_POS_IDS)?.len();
        let outputs = self.encoder.run(&[
            (io::SRC_TOKENS, Input::from(src.view().into_dyn())),
            (
                io::PATCH_EMBEDS,
                Input::Value(patches.get(io::PATCH_EMBEDS)?),
            ),
            (
                io::PATCH_POS_EMBEDS,
                Input::Value(patches.get(io::PATCH_POS_EMBEDS)?),
            ),
            (
                io::PATCH_POS_IDS,
                Input::Value(patches.get(io::PATCH_POS_IDS)?),
            ),
        ])?;
        Ok(Encoded {
            outputs,
            src_len: src_tokens.len(),
            patches: n_patches,
        })
    }

    /// A decoder over `enc` with an empty cache.
    pub fn decoder<'a>(&'a mut self, enc: &'a Encoded) -> StepDecoder<'a> {
        let m = &self.manifest.model;
        StepDecoder::new(
            &mut self.decoder,
            enc,
            m.decoder_layers,
            m.heads,
            m.head_dim,
        )
    }
}
