//! `unival-runtime`: drives exported UnIVAL bundles through ONNX Runtime.
//!
//! Data flow (ARCHITECTURE.md §2): [`text`] (tokenizer), preprocessing, [`engine`] / [`bundle`]
//! (ONNX Runtime), [`generate`] (fairseq-identical search), tasks.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod audio;
pub mod bundle;
pub mod engine;
pub mod error;
pub mod generate;
pub mod live;
pub mod model;
pub mod tasks;
pub mod text;

pub use bundle::Bundle;
pub use engine::{
    Device, GraphOutputs, GraphSession, Input, OptLevel, Provider, ProviderReport, SessionOptions,
};
pub use error::RuntimeError;
pub mod vision;
