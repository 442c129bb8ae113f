//! An input encoded once: perception and encoder outputs kept so that one encoding can serve a
//! search ([`super::Pipeline::decode`]) and teacher forcing
//! ([`crate::model::Model::teacher_force`]) — what `unival compare` does to two bundles on the same
//! caption.

use super::Timings;
use crate::model::Encoded;
use std::time::Instant;

/// A request's input after preprocessing, perception and the encoder
/// ([`super::Pipeline::encode`], [`super::Pipeline::encode_media`]).
pub struct EncodedInput {
    pub(crate) encoded: Encoded,
    /// The prompt the encoder saw; a later request must ask with the same one.
    pub(crate) prompt: String,
    /// `[BOS] + BPE(prompt) + [EOS]`.
    pub(crate) src: Vec<i64>,
    /// Sizes of an image input; grounding maps its box back with them.
    pub(crate) image: Option<ImageSizes>,
    /// Preprocess, perception and encoder times; the rest is filled by the search.
    pub(crate) timings: Timings,
    /// When the request started (the output's `total` counts from here).
    pub(crate) started: Instant,
}

/// The square side an image was resized to and its original `(width, height)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ImageSizes {
    pub(crate) side: usize,
    pub(crate) original: (u32, u32),
}

impl EncodedInput {
    /// The encoder's outputs (cross-attention inputs of the decoder, `encoder_out`).
    pub fn encoded(&self) -> &Encoded {
        &self.encoded
    }

    /// The encoder's text: `[BOS] + BPE(prompt) + [EOS]`.
    pub fn source_tokens(&self) -> &[i64] {
        &self.src
    }

    /// Times of the stages run so far (preprocess, perception, encoder).
    pub fn timings(&self) -> &Timings {
        &self.timings
    }
}
