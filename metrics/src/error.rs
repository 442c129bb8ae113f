//! The library's typed errors.

use std::path::PathBuf;

/// What can go wrong while reading inputs or computing a metric.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what the format requires.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        message: String,
    },
    /// The inputs are inconsistent (e.g. an item without references).
    #[error("invalid input: {0}")]
    Input(String),
    /// METEOR was required but could not be computed with the jar.
    #[error("METEOR: {0}")]
    Meteor(String),
}

impl MetricsError {
    /// A [`MetricsError::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        MetricsError::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}
