//! Shared helpers for the end-to-end tests: locating `../shared/oracle`, reading `.npy`,
//! comparing tensors, and writing tiny ONNX graphs for runtime tests.

pub mod export_case;
pub mod fuzz_targets;
pub mod npy;
pub mod onnx_min;
pub mod oracle;

pub use export_case::export_case;
pub use oracle::{max_abs_diff, rel_max_err, OracleCase, OracleDir};
