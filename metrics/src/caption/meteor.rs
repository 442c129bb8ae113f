//! METEOR 1.5 through pycocoevalcap's jar (placeholder, completed below).

use super::{CaptionOptions, MeteorMode, Tokenised};
use crate::MetricsError;

/// Corpus METEOR of tokenised items, or `None` with a note when skipped.
pub(crate) fn score(
    _items: &[Tokenised],
    options: &CaptionOptions,
    notes: &mut Vec<String>,
) -> Result<Option<f64>, MetricsError> {
    match options.meteor {
        MeteorMode::Required => Err(MetricsError::Meteor("not available yet".into())),
        _ => {
            notes.push("METEOR: skipped".into());
            Ok(None)
        }
    }
}
