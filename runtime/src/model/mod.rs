//! A loaded bundle ready to run: perception, encoder and the KV-cached decoder wired together
//! by the manifest's names (ARCHITECTURE.md §3). [`Model::encode_input`] runs perception and the
//! encoder once per input; [`StepDecoder`] then serves the search as a
//! [`crate::generate::Scorer`] (one new token per row per step, the cache kept as ONNX Runtime
//! values between steps) and as a
//! [`crate::generate::SequenceScorer`] (N candidates in one batched pass, and
//! [`Model::teacher_force`]).

mod cross_rows;
mod decoder;
#[cfg(test)]
mod probe;
mod restrict;

pub use decoder::{StepDecoder, StepMode};

use crate::bundle::Bundle;
use crate::engine::ep::SessionOptions;
use crate::engine::session::{GraphOutputs, GraphSession, Input};
use crate::error::RuntimeError;
use crate::generate::SequenceScorer;
use ndarray::{Array2, Array3, ArrayView4, ArrayView5};
use std::path::Path;
use unival_manifest::{io, Manifest};

/// The graphs of one bundle, loaded.
pub struct Model {
    manifest: Manifest,
    /// The bundle's perception graph and the name of its input.
    perception: (GraphSession, &'static str),
    encoder: GraphSession,
    decoder: GraphSession,
}

/// A preprocessed input for the perception graph of its modality.
#[derive(Debug, Clone, Copy)]
pub enum PerceptionInput<'a> {
    /// Pixels `[1, 3, H, W]`, normalised.
    Image(ArrayView4<'a, f32>),
    /// Clip `[1, 3, T, H, W]`, normalised.
    Video(ArrayView5<'a, f32>),
    /// Log-mel `[1, 1, frames, mel_bins]`.
    LogMel(ArrayView4<'a, f32>),
}

/// Everything the decoder needs about one input, computed once: the encoder graph's outputs
/// (cross-attention K/V per layer, position keys, padding mask) kept as ONNX Runtime values.
pub struct Encoded {
    outputs: GraphOutputs,
    /// Text length of the encoder input (`src_len` of `max_len_a · src_len + max_len_b`); for
    /// a batch, the padded length.
    pub src_len: usize,
    /// Inputs encoded together (rows of every encoder output).
    pub batch: usize,
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
        let (graph, input) = [
            (io::graph::IMAGE_ENCODER, io::PATCH_IMAGES),
            (io::graph::VIDEO_ENCODER, io::PATCH_VIDEOS),
            (io::graph::AUDIO_ENCODER, io::LOG_MEL),
        ]
        .into_iter()
        .find(|(g, _)| bundle.has_graph(g))
        .ok_or_else(|| RuntimeError::UnknownGraph {
            bundle: bundle.manifest().name.clone(),
            graph: "image_encoder | video_encoder | audio_encoder".to_string(),
            available: bundle
                .manifest()
                .graphs
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        let perception = (bundle.load_graph(graph)?, input);
        let encoder = bundle.load_graph(io::graph::ENCODER)?;
        let decoder = bundle.load_graph(io::graph::DECODER)?;
        Ok(Model {
            manifest: bundle.manifest().clone(),
            perception,
            encoder,
            decoder,
        })
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Runs the perception graph on `input` and the encoder on `src_tokens` (`[BOS] … [EOS]`).
    pub fn encode_input(
        &mut self,
        input: PerceptionInput<'_>,
        src_tokens: &[i64],
    ) -> Result<Encoded, RuntimeError> {
        let patches = self.perceive(input)?;
        self.encode(&patches, src_tokens)
    }

    /// Runs the bundle's perception graph: patch embeddings, their position rows and ids, and
    /// the raw backbone output. The input must be of the bundle's modality.
    pub fn perceive(&mut self, input: PerceptionInput<'_>) -> Result<GraphOutputs, RuntimeError> {
        let (graph, name) = (&mut self.perception.0, self.perception.1);
        let (given, view) = match input {
            PerceptionInput::Image(v) => (io::PATCH_IMAGES, v.into_dyn()),
            PerceptionInput::Video(v) => (io::PATCH_VIDEOS, v.into_dyn()),
            PerceptionInput::LogMel(v) => (io::LOG_MEL, v.into_dyn()),
        };
        if given != name {
            return Err(RuntimeError::BadShape {
                graph: graph.name().to_string(),
                reason: format!("this bundle's perception graph takes `{name}`, not `{given}`"),
            });
        }
        graph.run(&[(name, Input::F32(view))])
    }

    /// Runs the encoder on a perception graph's outputs and `src_tokens`.
    pub fn encode(
        &mut self,
        patches: &GraphOutputs,
        src_tokens: &[i64],
    ) -> Result<Encoded, RuntimeError> {
        self.encode_batch(patches, &[src_tokens])
    }

    /// Runs the encoder on the outputs of one perception run over `sources.len()` inputs and
    /// their texts, right-padded with PAD to the longest as fairseq's `collate_tokens` does
    /// (`left_pad_source=False`): text positions count from 0 in every row and the padding
    /// mask hides the pads, so each input's encoding is the one it gets alone.
    pub fn encode_batch(
        &mut self,
        patches: &GraphOutputs,
        sources: &[&[i64]],
    ) -> Result<Encoded, RuntimeError> {
        let bad_shape = |reason: String| RuntimeError::BadShape {
            graph: io::graph::ENCODER.to_string(),
            reason,
        };
        let longest = sources.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut src = Array2::from_elem((sources.len(), longest), unival_manifest::vocab::PAD);
        for (mut row, tokens) in src.rows_mut().into_iter().zip(sources) {
            row.iter_mut().zip(tokens.iter()).for_each(|(r, &t)| *r = t);
        }
        let batch = patches
            .view::<f32>(io::PATCH_EMBEDS)?
            .shape()
            .first()
            .copied();
        if batch != Some(sources.len()) {
            return Err(bad_shape(format!(
                "{} texts for perception outputs of batch {batch:?}",
                sources.len()
            )));
        }
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
            src_len: longest,
            batch: sources.len(),
            patches: n_patches,
        })
    }

    /// Teacher forcing: the decoder fed `[BOS] + tokens[..n−1]` in one causal pass, so step `i`
    /// predicts `tokens[i]` (`tokens` as a search returns them, final EOS included). Returns the
    /// pre-softmax logits `[1, n, vocab]` (`[1, 1, vocab]` for no tokens): what parity reports
    /// compare between two bundles on the same prefix.
    pub fn teacher_force(
        &mut self,
        enc: &Encoded,
        tokens: &[i64],
    ) -> Result<Array3<f32>, RuntimeError> {
        let mut prev = vec![self.manifest.vocab.bos];
        prev.extend(tokens.iter().take(tokens.len().saturating_sub(1)));
        let prev =
            Array2::from_shape_vec((1, prev.len()), prev).map_err(|e| RuntimeError::BadShape {
                graph: io::graph::DECODER.to_string(),
                reason: e.to_string(),
            })?;
        self.decoder(enc).full_logits(&prev)
    }

    /// Closes every graph's profile (see [`SessionOptions::profile_dir`]): `(graph, file)`.
    pub fn end_profiling(&mut self) -> Result<Vec<(String, std::path::PathBuf)>, RuntimeError> {
        let mut files = Vec::new();
        for g in [&mut self.perception.0, &mut self.encoder, &mut self.decoder] {
            let file = g.end_profiling()?;
            files.push((g.name().to_string(), file));
        }
        Ok(files)
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
        .with_vocab(usize::try_from(self.manifest.vocab.size).unwrap_or(0))
    }
}
