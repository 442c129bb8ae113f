//! Metrics of predictions already made, computed as the tools behind the paper's numbers compute
//! them:
//! - captions ([`score_captions`]): BLEU-1…4, METEOR 1.5, ROUGE-L and CIDEr-D of pycocoevalcap
//!   1.2, after its PTB tokenisation (re-implemented in Rust; METEOR runs the original jar when
//!   Java and the jar are present, see [`caption::meteor`]);
//! - VQA ([`vqa_accuracy`]): the official VQAv2 evaluation (answer normalisation, ten 9-of-10
//!   subsets), per answer type;
//! - grounding ([`grounding_accuracy`]): Acc@IoU as OFA/UnIVAL's RefCOCO evaluation computes it;
//! - plain [`accuracy`] (SNLI-VE, video-QA, multiple choice).
//!
//! [`formats`] reads the standard files (COCO results/annotations JSON, CSV, VQA JSON).

#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod caption;
mod error;
pub mod formats;
pub mod grounding;
pub mod vqa;

pub use caption::{score_captions, CaptionItem, CaptionOptions, CaptionScores, MeteorMode};
pub use error::MetricsError;
pub use grounding::{box_iou, grounding_accuracy, GroundingItem};
pub use vqa::{vqa_accuracy, VqaItem, VqaScores};

/// `correct / total` as a fraction in [0, 1]; 0 when `total` is 0 (an empty set has no accuracy,
/// and reporting 0 keeps JSON free of NaN).
pub fn accuracy(correct: usize, total: usize) -> f64 {
    if total == 0 {
        return 0.0;
    }
    correct as f64 / total as f64
}
