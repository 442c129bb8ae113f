//! `unival-export`: reads released UnIVAL checkpoints without Python and writes ONNX bundles.
//!
//! Data flow: [`checkpoint`] (zip + safe unpickler + safetensors) → [`config`] and weights →
//! [`graphs`] (ONNX via the [`onnx`] builder) → [`bundle`] (`models/<name>/` + `manifest.json`).
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod checkpoint;
pub mod config;
pub mod bundle;
pub mod graphs;
pub mod keys;
pub mod onnx;
