//! `unival-runtime`: drives exported UnIVAL bundles through ONNX Runtime.
//!
//! Data flow (ARCHITECTURE.md §2): [`text`] (BPE), preprocessing, [`session`] / [`bundle`] (ONNX
//! Runtime), [`generate`] (fairseq-identical search), tasks.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod audio;
pub mod bundle;
pub mod ep;
pub mod error;
pub mod generate;
pub mod live;
pub mod model;
pub mod ort_lib;
pub mod profile;
pub mod session;
pub mod tasks;
pub mod text;
pub mod trt_shapes;

pub use bundle::Bundle;
pub use ep::{Device, OptLevel, Provider, ProviderReport, SessionOptions};
pub use error::RuntimeError;
pub use session::{GraphOutputs, GraphSession, Input};
pub mod vision;
