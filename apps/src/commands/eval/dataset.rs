//! One evaluation item, whatever the dataset format: an id, the media the model sees, the text
//! of the request (question, expression, hypothesis) and what the prediction is scored against.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::PathBuf;

/// Where an item's image, video or sound is.
#[derive(Debug, Clone)]
pub enum MediaRef {
    /// A file on disk.
    File(PathBuf),
    /// An image stored inside the dataset (the original's TSVs hold base64 images); the bytes
    /// are written to a scratch file when the item runs.
    Inline(Vec<u8>),
}

/// What a prediction is scored against (it is also written to each output line, so an output
/// file can be scored on its own, e.g. after `unival eval merge`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Reference captions.
    Captions(Vec<String>),
    /// The ten human answers of VQAv2 and their answer type (official VQA accuracy).
    HumanAnswers {
        answers: Vec<String>,
        answer_type: Option<String>,
    },
    /// The original's TSV: answers with confidences (`conf|!+answer&&…`); a prediction scores
    /// its answer's confidence, 0 if absent (`utils/eval_utils.py:eval_vqa_gen`).
    WeightedAnswers(Vec<(f64, String)>),
    /// One correct answer (video QA datasets, SNLI-VE labels).
    Answer(String),
    /// The region's box `[x0, y0, x1, y1]` in original-image pixels (Acc@0.5).
    Box([f64; 4]),
}

/// One dataset item.
#[derive(Debug, Clone)]
pub struct Item {
    /// Unique within the dataset (question id, image id, the TSV's uniq_id).
    pub id: String,
    pub media: MediaRef,
    /// Question, referring expression or hypothesis (none for captioning).
    pub text: Option<String>,
    pub target: Target,
}

/// Fails naming `source` unless item ids are unique (resume and merge key on them).
pub fn check_unique_ids(items: &[Item], source: &str) -> anyhow::Result<()> {
    let mut seen = HashSet::new();
    for item in items {
        if !seen.insert(item.id.as_str()) {
            anyhow::bail!("{source}: item id `{}` appears twice", item.id);
        }
    }
    if items.is_empty() {
        anyhow::bail!("{source}: the dataset has no items");
    }
    Ok(())
}
