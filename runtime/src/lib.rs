//! `unival-runtime`: drives exported UnIVAL bundles through ONNX Runtime.
#![warn(clippy::unwrap_used, clippy::expect_used)]
pub mod vision;
