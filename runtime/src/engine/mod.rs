//! Everything that talks to ONNX Runtime, behind one door: the rest of the runtime sees graphs
//! (load one, bind tensors by name, run) and never the `ort` crate's types.
//!
//! * [`ort_lib`]: finding and initialising the ONNX Runtime shared library.
//! * [`ep`]: execution providers (`--device`) and session options.
//! * [`session`]: one graph as a [`GraphSession`], plain runs and I/O bindings.
//! * [`trt_shapes`]: TensorRT optimisation profiles from the bundle's manifest.
//! * [`profile`]: ONNX Runtime's profiler traces read back as time per operator.

pub mod ep;
pub mod ort_lib;
pub mod profile;
pub mod session;
pub mod trt_shapes;

pub use ep::{Device, OptLevel, Provider, ProviderReport, SessionOptions};
pub use session::{GraphOutputs, GraphSession, Input};
