//! Typed errors of the checkpoint reader and writer: every variant names the file it concerns
//! and prints as one line.

use std::path::PathBuf;

/// Everything that can go wrong while reading (or writing) a UnIVAL checkpoint.
///
/// Each message starts with the file, so a user who passes several checkpoints knows which one
/// is at fault; shapes and keys are spelled out so no debugger is needed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The operating system refused to open, map, read or write the file.
    #[error("{}: I/O error: {source}", file.display())]
    Io {
        /// File concerned.
        file: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a zip archive (torch ≥ 1.6 `.pt` files are), or its directory is damaged.
    #[error("{}: not a torch zip checkpoint ({detail})", file.display())]
    NotZip {
        /// File concerned.
        file: PathBuf,
        /// What the zip reader reported.
        detail: String,
    },
    /// The zip archive has no `<prefix>/data.pkl` record, so it is not a `torch.save` file.
    #[error("{}: zip archive has no '*/data.pkl' record (not written by torch.save)", file.display())]
    NoDataPkl {
        /// File concerned.
        file: PathBuf,
    },
    /// A record the pickle refers to (`<prefix>/data/<key>`) is absent or unreadable.
    #[error("{}: storage record '{record}' {detail}", file.display())]
    BadRecord {
        /// File concerned.
        file: PathBuf,
        /// Record name inside the zip.
        record: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The pickle stream is malformed or uses something this reader does not interpret.
    #[error("{}: pickle error at byte {offset} (opcode {opcode}): {detail}", file.display())]
    Pickle {
        /// File concerned.
        file: PathBuf,
        /// Byte offset of the opcode inside `data.pkl`.
        offset: usize,
        /// The opcode, as `0xNN 'c'`.
        opcode: String,
        /// What went wrong.
        detail: String,
    },
    /// The file is a valid pickle but not a fairseq/UnIVAL training checkpoint.
    #[error("{}: not a UnIVAL/OFA checkpoint: {detail}", file.display())]
    NotUnival {
        /// File concerned.
        file: PathBuf,
        /// Which expected piece is absent.
        detail: String,
    },
    /// EMA weights were requested but the checkpoint stores none.
    #[error("{}: EMA weights requested but the checkpoint has no extra_state['ema']", file.display())]
    NoEma {
        /// File concerned.
        file: PathBuf,
    },
    /// One or more required state-dict keys are absent.
    #[error("{}: missing state-dict key(s): {}", file.display(), keys.join(", "))]
    MissingKey {
        /// File concerned.
        file: PathBuf,
        /// The absent keys.
        keys: Vec<String>,
    },
    /// A state-dict entry has a shape other than the architecture requires.
    #[error("{}: key '{key}' has shape {actual:?}, expected {expected:?}", file.display())]
    BadShape {
        /// File concerned.
        file: PathBuf,
        /// State-dict key.
        key: String,
        /// Shape the architecture requires.
        expected: Vec<usize>,
        /// Shape found in the file.
        actual: Vec<usize>,
    },
    /// A tensor uses a dtype this reader does not decode, or a conversion that makes no sense.
    #[error("{}: key '{key}': unsupported dtype {dtype} ({detail})", file.display())]
    UnsupportedDtype {
        /// File concerned.
        file: PathBuf,
        /// State-dict key (or storage marker).
        key: String,
        /// The dtype name as found.
        dtype: String,
        /// What was attempted.
        detail: String,
    },
    /// A tensor's offset/shape/strides reach past the end of its storage (truncated file or
    /// corrupt metadata).
    #[error("{}: key '{key}': storage too small: needs {needed} elements, has {available}", file.display())]
    StorageTooSmall {
        /// File concerned.
        file: PathBuf,
        /// State-dict key.
        key: String,
        /// Elements the view addresses (highest index + 1).
        needed: u64,
        /// Elements present in the storage.
        available: u64,
    },
    /// A tensor's metadata is inconsistent (negative sizes, rank mismatch, overflow).
    #[error("{}: key '{key}': malformed tensor: {detail}", file.display())]
    BadTensor {
        /// File concerned.
        file: PathBuf,
        /// State-dict key.
        key: String,
        /// What is inconsistent.
        detail: String,
    },
    /// A `cfg['model']` field has a value of the wrong type.
    #[error("{}: config field '{field}': expected {expected}, found {found}", file.display())]
    BadConfig {
        /// File concerned (the checkpoint, or the JSON config of a safetensors file).
        file: PathBuf,
        /// Field name.
        field: String,
        /// What type/range was expected.
        expected: String,
        /// What was found, rendered as JSON.
        found: String,
    },
    /// A safetensors file or its JSON config is malformed.
    #[error("{}: bad safetensors input: {detail}", file.display())]
    Safetensors {
        /// File concerned.
        file: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Result alias of the checkpoint module.
pub type Result<T, E = CheckpointError> = std::result::Result<T, E>;

impl CheckpointError {
    /// Wraps an I/O error with the file it concerns.
    pub(crate) fn io(file: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            file: file.into(),
            source,
        }
    }

    /// A "not a UnIVAL checkpoint" error.
    pub(crate) fn not_unival(file: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Self::NotUnival {
            file: file.into(),
            detail: detail.into(),
        }
    }
}
