//! Shared helpers for the end-to-end tests: locating `../shared/oracle`, reading `.npy`,
//! comparing tensors, and writing tiny ONNX graphs for runtime tests.

pub mod npy;
pub mod onnx_min;
pub mod oracle;

pub use oracle::{max_abs_diff, rel_max_err, OracleCase, OracleDir};
