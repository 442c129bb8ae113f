//! `unival-export`: reads released UnIVAL checkpoints without Python and writes ONNX bundles.
//!
//! Data flow: [`checkpoint`] (zip + safe unpickler + safetensors) → typed config and weights →
//! `graphs` (ONNX via a small builder) → `bundle` (`models/<name>/` with `manifest.json`).
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod checkpoint;

pub use checkpoint::{Checkpoint, CheckpointError, StateDict, Tensor, WeightsChoice};
pub mod config;
pub mod synth;

pub use config::ModelConfig;
