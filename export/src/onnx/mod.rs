//! ONNX output: protobuf types ([`proto`]), the graph builder ([`builder`]), composite operators
//! ([`ops`]) and the file writer ([`write`](mod@write)).

pub mod builder;
pub mod conv;
pub mod cost;
mod format;
pub mod make;
pub mod ops;
pub mod proto;
pub mod prune;
pub mod tables;
pub mod write;

pub use builder::{Attr, GraphBuilder, Value};
pub use format::WeightFormat;
