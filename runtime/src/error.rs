//! `RuntimeError`: everything that can go wrong between a bundle directory and a graph's outputs
//! (finding ONNX Runtime, choosing an execution provider, loading and running a graph).
//!
//! Every variant carries the context a user needs to act on it: the file, the graph name, the
//! tensor name, what was expected and what was found.

use std::path::PathBuf;
use unival_manifest::ManifestError;

/// A capability this build of `unival-runtime` was compiled without (a cargo feature turned
/// off): the error says which feature brings it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this build has no {what} support: rebuild unival-runtime with feature `{feature}`")]
pub struct MissingFeature {
    /// What is missing, as the user would say it ("video file", "camera").
    pub what: &'static str,
    /// The cargo feature of `unival-runtime` that provides it.
    pub feature: &'static str,
}

impl MissingFeature {
    /// Video files (FFmpeg).
    pub const VIDEO: MissingFeature = MissingFeature {
        what: "video file",
        feature: "video",
    };
    /// Cameras (nokhwa).
    pub const CAMERA: MissingFeature = MissingFeature {
        what: "camera",
        feature: "live",
    };
    /// Microphones (cpal).
    pub const MICROPHONE: MissingFeature = MissingFeature {
        what: "microphone",
        feature: "live",
    };
}

/// Why the runtime could not load, configure or run something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The bundle's manifest is missing, malformed, of another format, or its files do not match.
    #[error(transparent)]
    Manifest(#[from] ManifestError),

    /// No ONNX Runtime shared library was found anywhere the runtime looks.
    #[error(
        "ONNX Runtime library not found (looked in: {searched}). Run `scripts/setup.sh` to fetch it \
         into .cache/onnxruntime/, or set ORT_DYLIB_PATH=/path/to/libonnxruntime.so"
    )]
    LibraryNotFound {
        /// The places searched, in order, joined for display.
        searched: String,
    },

    /// `ORT_DYLIB_PATH` names a file that does not exist.
    #[error(
        "ORT_DYLIB_PATH={path}: no such file. Point it at an existing libonnxruntime.so, or unset \
         it and run `scripts/setup.sh` to use the project's copy"
    )]
    DylibPathMissing {
        /// The value of `ORT_DYLIB_PATH`.
        path: PathBuf,
    },

    /// The library exists but the dynamic loader refused it, or it is not ONNX Runtime.
    #[error(
        "{path}: cannot load ONNX Runtime: {reason}. Run `scripts/setup.sh`, or set \
         ORT_DYLIB_PATH=/path/to/libonnxruntime.so"
    )]
    LibraryLoad {
        /// The library that was tried.
        path: PathBuf,
        /// The loader's or ONNX Runtime's message.
        reason: String,
    },

    /// The library is older than the API level this build needs.
    #[error(
        "{path}: ONNX Runtime {found} is too old; this build needs {required} or newer. Run \
         `scripts/setup.sh`, or set ORT_DYLIB_PATH to a newer libonnxruntime.so"
    )]
    LibraryTooOld {
        /// The library that was loaded.
        path: PathBuf,
        /// Its version string, e.g. `1.16.3`.
        found: String,
        /// The oldest accepted version, e.g. `1.20`.
        required: String,
    },

    /// A `--device` value that is not `cpu|cuda[:N]|tensorrt[:N]|auto`.
    #[error("unknown device `{value}`: expected cpu, cuda, cuda:N, tensorrt, tensorrt:N or auto")]
    BadDevice {
        /// The rejected text.
        value: String,
    },

    /// A `--opt-level` value that is not `disable|basic|extended|all`.
    #[error(
        "unknown graph optimisation level `{value}`: expected disable, basic, extended or all"
    )]
    BadOptLevel {
        /// The rejected text.
        value: String,
    },

    /// An execution provider that was explicitly requested cannot be used.
    #[error(
        "graph `{graph}`: {provider} cannot be used: {reason}. Use \
         `--device cpu`, or a GPU build of ONNX Runtime (ORT_DYLIB_PATH)"
    )]
    ProviderUnavailable {
        /// Graph being loaded.
        graph: String,
        /// ONNX Runtime's provider name (`CUDAExecutionProvider`, …).
        provider: String,
        /// Why: ONNX Runtime's message.
        reason: String,
    },

    /// ONNX Runtime failed while configuring a session (options, threads).
    #[error("graph `{graph}`: cannot configure the ONNX Runtime session: {source}")]
    SessionConfig {
        /// Graph being loaded.
        graph: String,
        /// ONNX Runtime's error.
        source: ort::Error,
    },

    /// ONNX Runtime could not create a session from a graph file (missing, truncated, corrupt,
    /// unsupported operator, …).
    #[error("{path}: cannot load graph `{graph}`: {reason}")]
    GraphLoad {
        /// Graph name.
        graph: String,
        /// The `.onnx` file.
        path: PathBuf,
        /// ONNX Runtime's message.
        reason: String,
    },

    /// The ONNX graph's inputs/outputs differ from what the manifest declares.
    #[error("{path}: graph `{graph}` does not match the manifest: {}", differences.join("; "))]
    SpecMismatch {
        /// Graph name.
        graph: String,
        /// The `.onnx` file.
        path: PathBuf,
        /// One line per difference (missing, unexpected, wrong type).
        differences: Vec<String>,
    },

    /// Host-side tensor shapes that do not fit together (a model output of an unexpected
    /// shape, an empty input).
    #[error("graph `{graph}`: {reason}")]
    BadShape {
        /// Graph name.
        graph: String,
        /// What did not fit.
        reason: String,
    },

    /// The bundle has no graph of that name.
    #[error("bundle `{bundle}` has no graph `{graph}` (it has: {available})")]
    UnknownGraph {
        /// Bundle name from the manifest.
        bundle: String,
        /// The requested graph.
        graph: String,
        /// The graphs the manifest lists, joined for display.
        available: String,
    },

    /// A run was given an input the graph does not take.
    #[error("graph `{graph}`: no input named `{name}` (inputs: {expected})")]
    UnknownInput {
        /// Graph name.
        graph: String,
        /// The rejected input name.
        name: String,
        /// The graph's input names, joined for display.
        expected: String,
    },

    /// A run was not given one of the graph's inputs.
    #[error("graph `{graph}`: input `{name}` was not provided")]
    MissingInput {
        /// Graph name.
        graph: String,
        /// The missing input.
        name: String,
    },

    /// An input's element type differs from the manifest's.
    #[error("graph `{graph}`: input `{name}` is {actual}, the graph takes {expected}")]
    InputType {
        /// Graph name.
        graph: String,
        /// Input name.
        name: String,
        /// Element type the manifest declares.
        expected: String,
        /// Element type that was passed.
        actual: String,
    },

    /// ONNX Runtime could not wrap an array as a tensor.
    #[error("graph `{graph}`: cannot build input tensor `{name}`: {source}")]
    InputTensor {
        /// Graph name.
        graph: String,
        /// Input name.
        name: String,
        /// ONNX Runtime's error.
        source: ort::Error,
    },

    /// ONNX Runtime failed during a run.
    #[error("graph `{graph}`: run failed: {source}")]
    Run {
        /// Graph name.
        graph: String,
        /// ONNX Runtime's error.
        source: ort::Error,
    },

    /// An I/O binding could not be created, or an input or output could not be bound to it.
    #[error("graph `{graph}`: cannot bind `{name}`: {source}")]
    Binding {
        /// Graph name.
        graph: String,
        /// The input or output (`*` for the binding itself).
        name: String,
        /// ONNX Runtime's error.
        source: ort::Error,
    },

    /// A run's outputs have no value of that name.
    #[error("graph `{graph}`: no output named `{name}` (outputs: {available})")]
    MissingOutput {
        /// Graph name.
        graph: String,
        /// The requested output.
        name: String,
        /// The names present, joined for display.
        available: String,
    },

    /// An output could not be read as the requested element type (or is not on the host).
    #[error("graph `{graph}`: output `{name}` cannot be read as {requested}: {source}")]
    OutputType {
        /// Graph name.
        graph: String,
        /// Output name.
        name: String,
        /// The Rust element type asked for.
        requested: &'static str,
        /// ONNX Runtime's error.
        source: ort::Error,
    },

    /// A file or directory the runtime needs (engine cache) could not be created or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}
