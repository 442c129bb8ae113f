//! Why an export failed: every variant names the file it concerns.

use crate::checkpoint::CheckpointError;
use crate::graphs::GraphError;
use crate::quant::QuantError;
use std::path::{Path, PathBuf};
use unival_manifest::ManifestError;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Boxed: a graph error is large, and every export result would carry its size.
    #[error("{path}: {source}")]
    Graph {
        path: PathBuf,
        source: Box<GraphError>,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{path}: cannot write the bundle: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: keys this exporter does not understand: {keys}")]
    UnknownKeys { path: PathBuf, keys: String },
    #[error("{path}: {why}")]
    Invalid { path: PathBuf, why: String },
    #[error("{path}: {source}")]
    Quant { path: PathBuf, source: QuantError },
}

impl ExportError {
    /// A graph error met while exporting `checkpoint`; a checkpoint error already names the
    /// file, so it is passed through as it is.
    pub fn graph(checkpoint: &Path, source: GraphError) -> Self {
        match source {
            GraphError::Checkpoint(e) => ExportError::Checkpoint(e),
            source => ExportError::Graph {
                path: checkpoint.to_path_buf(),
                source: Box::new(source),
            },
        }
    }

    /// `why` about `path`.
    pub fn invalid(path: &Path, why: impl Into<String>) -> Self {
        ExportError::Invalid {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }
}
