//! UnIVAL as ONNX graphs (DESIGN.md §3): one perception graph per modality, the transformer
//! encoder, and the KV-cached step decoder. Blocks read their weights through scoped
//! [`weights::Weights`] views named like the PyTorch modules.

pub mod attention;
pub mod audio;
pub mod decoder;
pub mod encoder;
pub mod image;
pub mod perception;
pub mod positions;
pub mod resnet;
pub mod video;
pub mod weights;

use crate::checkpoint::CheckpointError;
use crate::config::ModelConfig;
use crate::onnx::ops::{binary, gelu, layer_norm, linear};
use crate::onnx::write::WriteError;
use crate::onnx::{GraphBuilder, Value};
use unival_manifest::task::Modality;
use unival_manifest::{io, DType, Dim};
use weights::{Linear, Norm, Weights};

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

    /// Builds the graph from the checkpoint root `root` with float type `float`.
    pub fn build(
        self,
        cfg: &ModelConfig,
        root: &Weights,
        float: DType,
    ) -> Result<GraphBuilder, GraphError> {
        let enc = root.pp("encoder");
        match self {
            Graph::Perception(Modality::Image) => image::build(cfg, &enc, float),
            Graph::Perception(Modality::Video) => video::build(cfg, &enc, float),
            Graph::Perception(Modality::Audio) => audio::build(cfg, &enc, float),
            Graph::Encoder => encoder::build(cfg, root, float),
            Graph::Decoder => decoder::build(cfg, root, float),
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

/// The NormFormer feed-forward sub-layer with its residual (spec §2.9):
/// `x + fc2(ffn_layernorm(gelu(fc1(final_layer_norm(x)))))`.
pub fn ffn(
    g: &mut GraphBuilder,
    name: &str,
    lw: &Weights,
    x: Value,
    cfg: &ModelConfig,
) -> Result<Value, GraphError> {
    let d = cfg.embed_dim;
    let f = cfg.ffn_dim;
    let h = norm(
        g,
        &lw.pp("final_layer_norm"),
        &format!("{name}.final_layer_norm"),
        x,
        d,
    )?;
    let fc1 = Linear::new(&lw.pp("fc1"), d, f)?;
    let h = linear(
        g,
        &format!("{name}.fc1"),
        h,
        &fc1.weight,
        fc1.bias.as_deref(),
        d,
        f,
    );
    let mut h = match cfg.activation_fn.as_str() {
        "gelu" => gelu(g, &format!("{name}.gelu"), h),
        "relu" => g.node("Relu", &format!("{name}.relu"), &[h], &[]),
        other => {
            return Err(GraphError::Unsupported(format!(
                "activation_fn '{other}' (gelu and relu are supported)"
            )))
        }
    };
    if cfg.scale_fc {
        h = norm(
            g,
            &lw.pp("ffn_layernorm"),
            &format!("{name}.ffn_layernorm"),
            h,
            f,
        )?;
    }
    let fc2 = Linear::new(&lw.pp("fc2"), f, d)?;
    let h = linear(
        g,
        &format!("{name}.fc2"),
        h,
        &fc2.weight,
        fc2.bias.as_deref(),
        f,
        d,
    );
    Ok(binary(g, "Add", &format!("{name}.ffn_residual"), x, h))
}

/// LayerNorm (eps 1e-5) with the affine parameters under `w`, e.g. `layers.0.final_layer_norm`.
pub fn norm(
    g: &mut GraphBuilder,
    w: &Weights,
    name: &str,
    x: Value,
    dim: usize,
) -> Result<Value, GraphError> {
    let n = Norm::new(w, dim)?;
    Ok(layer_norm(g, name, x, &n.weight, &n.bias, LN_EPS))
}

/// Closes an attention sub-layer (spec §2.9–2.10): NormFormer's post-attention LayerNorm
/// `lw.<ln>` when `scale_attn`, then the residual `x + a`.
pub fn attention_residual(
    g: &mut GraphBuilder,
    lw: &Weights,
    ln: &str,
    name: &str,
    x: Value,
    a: Value,
    cfg: &ModelConfig,
) -> Result<Value, GraphError> {
    let a = if cfg.scale_attn {
        norm(g, &lw.pp(ln), &format!("{name}.{ln}"), a, cfg.embed_dim)?
    } else {
        a
    };
    Ok(binary(g, "Add", &format!("{name}.{ln}.residual"), x, a))
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
