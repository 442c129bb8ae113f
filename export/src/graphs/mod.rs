//! UnIVAL as ONNX graphs (ARCHITECTURE.md §3): one perception graph per modality, the transformer
//! encoder, and the KV-cached step decoder. Blocks read their weights through scoped
//! [`weights::Weights`] views named like the PyTorch modules.

pub mod attention;
pub mod audio;
pub mod decoder;
pub mod encoder;
pub mod image;
pub mod layers;
pub mod perception;
pub mod positions;
pub mod resnet;
pub mod video;
pub mod weights;

use crate::checkpoint::CheckpointError;
use crate::config::ModelConfig;
use crate::onnx::write::WriteError;
use crate::onnx::{GraphBuilder, WeightFormat};
use unival_manifest::task::Modality;
use unival_manifest::{io, Dim};
use weights::Weights;

/// One graph of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Graph {
    /// The modality's backbone and patch embeddings.
    Perception(Modality),
    /// The transformer encoder.
    Encoder,
    /// The KV-cached step decoder.
    Decoder,
}

impl Graph {
    /// The graph's name in the bundle (and its file stem).
    pub fn name(self) -> &'static str {
        match self {
            Graph::Perception(Modality::Image) => io::graph::IMAGE_ENCODER,
            Graph::Perception(Modality::Video) => io::graph::VIDEO_ENCODER,
            Graph::Perception(Modality::Audio) => io::graph::AUDIO_ENCODER,
            Graph::Encoder => io::graph::ENCODER,
            Graph::Decoder => io::graph::DECODER,
        }
    }

    /// Builds the graph from the checkpoint root `root` with its weights stored as `format`
    /// says.
    pub fn build(
        self,
        cfg: &ModelConfig,
        root: &Weights,
        format: WeightFormat,
    ) -> Result<GraphBuilder, GraphError> {
        let enc = root.pp("encoder");
        match self {
            Graph::Perception(Modality::Image) => image::build(cfg, &enc, format),
            Graph::Perception(Modality::Video) => video::build(cfg, &enc, format),
            Graph::Perception(Modality::Audio) => audio::build(cfg, &enc, format),
            Graph::Encoder => encoder::build(cfg, root, format),
            Graph::Decoder => decoder::build(cfg, root, format),
        }
    }
}

/// LayerNorm epsilon everywhere in the model (spec conventions).
pub const LN_EPS: f32 = 1e-5;

/// Why a graph could not be built or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("`{key}` has shape {actual:?}, expected {expected:?}")]
    Shape {
        key: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A symbolic dimension.
pub fn sym(s: &str) -> Dim {
    Dim::Symbol(s.to_string())
}

/// Refuses configurations the graphs do not implement, with the flag named.
pub fn check_supported(cfg: &ModelConfig) -> Result<(), GraphError> {
    let bad = |what: &str| Err(GraphError::Unsupported(what.to_string()));
    if cfg.scale_resids {
        return bad("scale_resids=True");
    }
    if cfg.qk_norm {
        return bad("qk_norm=True");
    }
    if cfg.entangle_position_embedding || !cfg.disable_entangle {
        return bad(
            "entangled position embeddings (disable_entangle=False); UnIVAL checkpoints set it",
        );
    }
    if !cfg.encoder_normalize_before || !cfg.decoder_normalize_before {
        return bad("post-LN layers (normalize_before=False)");
    }
    if !cfg.embed_dim.is_multiple_of(cfg.encoder_heads)
        || !cfg.embed_dim.is_multiple_of(cfg.decoder_heads)
    {
        return bad("embed_dim not divisible by the head count");
    }
    Ok(())
}
