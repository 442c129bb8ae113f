//! Typed errors of `unival merge`: each names the file (and key) it concerns.

use std::path::PathBuf;

use crate::checkpoint::CheckpointError;

/// Everything that can stop a merge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// An input could not be read, or the output could not be written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Fewer than one checkpoint.
    #[error("merge needs at least one checkpoint")]
    NoInputs,
    /// `--weights` does not give one weight per checkpoint.
    #[error("{weights} weight(s) for {inputs} checkpoint(s): give one weight per checkpoint")]
    WeightCount {
        /// Weights given.
        weights: usize,
        /// Checkpoints given.
        inputs: usize,
    },
    /// A weight is NaN or infinite.
    #[error("weight #{index} ({value}) is not a finite number")]
    BadWeight {
        /// 1-based position.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Two checkpoints do not share an architecture.
    #[error("{}: does not have the architecture of {}: {detail}", file.display(), first.display())]
    Mismatch {
        /// The checkpoint that differs.
        file: PathBuf,
        /// The first checkpoint (the reference).
        first: PathBuf,
        /// The first key, shape or type that differs.
        detail: String,
    },
    /// The output name does not say which format to write.
    #[error("{}: the output must end in .pt or .safetensors", file.display())]
    OutputKind {
        /// The output path.
        file: PathBuf,
    },
    /// The first checkpoint's metadata holds something that cannot be written back.
    #[error("{}: cannot copy metadata entry {path}: {detail}", file.display())]
    Metadata {
        /// The first checkpoint.
        file: PathBuf,
        /// Where in the pickled object (`extra_state.metrics…`).
        path: String,
        /// Why.
        detail: String,
    },
    /// Writing the output failed.
    #[error("{}: cannot write merged entry '{key}': {source}", file.display())]
    Write {
        /// The output.
        file: PathBuf,
        /// The state-dict key being written.
        key: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}
