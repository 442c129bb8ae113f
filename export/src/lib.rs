//! `unival-export`: reads released UnIVAL checkpoints without Python and writes ONNX bundles.
//!
//! Data flow: [`checkpoint`] (zip + safe unpickler + safetensors) → [`config`] and weights →
//! [`graphs`] (ONNX via the [`onnx`] builder) → [`bundle`] (`models/<name>/` + `manifest.json`).
//! [`synth`] writes random-init checkpoints in the real format for tests and benchmarks.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod bundle;
pub mod checkpoint;
pub mod config;
pub mod graphs;
pub mod keys;
pub mod merge;
pub mod onnx;
pub mod quant;
pub mod synth;

pub use checkpoint::{Checkpoint, CheckpointError, Contents, StateDict, Tensor, WeightsChoice};
pub use config::ModelConfig;
