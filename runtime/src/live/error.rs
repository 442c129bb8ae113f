//! Why a live source failed, and whether waiting and reopening can help.

use crate::audio::AudioError;
use crate::error::MissingFeature;
use crate::vision::video::VideoError;
use crate::vision::VisionError;
use std::path::PathBuf;

/// A live source failure. [`LiveError::is_recoverable`] tells the loops whether to retry with
/// backoff (an unplugged camera, a microphone that went away) or to stop (a bad flag).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The `--source` text cannot be understood.
    #[error("bad source `{spec}`: {reason}")]
    BadSpec { spec: String, reason: String },
    /// The device or file could not be opened (missing device, busy, no permission).
    #[error("cannot open {source_name}: {reason}")]
    Open { source_name: String, reason: String },
    /// A source that was running stopped delivering (unplugged, driver error, stream closed).
    #[error("{source_name} was lost: {reason}")]
    Lost { source_name: String, reason: String },
    /// This build or platform cannot open the source.
    #[error("{source_name} is not supported here: {reason}")]
    Unsupported { source_name: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// This build was compiled without the source's feature.
    #[error(transparent)]
    NotBuilt(#[from] MissingFeature),
    #[error(transparent)]
    Vision(#[from] VisionError),
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error(transparent)]
    Audio(#[from] AudioError),
}

impl LiveError {
    /// Whether reopening the source later may succeed (device errors), as opposed to errors
    /// that will repeat (bad flags, unsupported platform, malformed files).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, LiveError::Open { .. } | LiveError::Lost { .. })
    }

    /// Whether only the current item is bad (one unreadable image in a folder): the loop
    /// reports it, skips it and asks for the next.
    pub fn is_item_error(&self) -> bool {
        matches!(self, LiveError::Vision(_))
    }
}
