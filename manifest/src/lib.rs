//! The bundle manifest (`models/<name>/manifest.json`): the single source of truth shared by the
//! exporter, which writes it, and the runtime, which refuses any bundle that does not match it.
//!
//! It also owns the facts both sides must agree on and that are not ONNX's business: vocabulary
//! ids ([`vocab`]), the graph input/output names ([`io`]) and the built-in task defaults
//! ([`task`], docs/model.md §5).
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod confine;
pub mod io;
mod manifest;
pub mod onnx_refs;
pub mod task;
pub mod vocab;

pub use manifest::*;
pub use task::{GenerationDefaults, Perception, TaskConfig, TaskKind};
