//! VQAv2 accuracy exactly as the official evaluation (`vqaEval.py`) computes it: the prediction
//! is normalised ([`normalize`]); when the ten human answers are not all identical they get the
//! punctuation step only (the official code does not apply the digit/article step to them);
//! each of the ten leave-one-out subsets scores `min(#matches / 3, 1)`, and the item scores
//! their mean. Scores are in **percent** (0–100), like the official `accuracy` dict, but not
//! rounded (the official rounds to two decimals).

pub mod normalize;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One predicted answer with the human answers (VQAv2: ten).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VqaItem {
    pub question_id: String,
    pub prediction: String,
    pub answers: Vec<String>,
    /// `yes/no`, `number`, `other` in VQAv2; `None` leaves the item out of the per-type table.
    pub answer_type: Option<String>,
}

/// Accuracy in percent, overall and per answer type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VqaScores {
    /// Mean accuracy over items, in percent.
    pub overall: f64,
    /// Mean accuracy per answer type, in percent.
    pub per_answer_type: BTreeMap<String, f64>,
    /// Number of items scored.
    pub items: usize,
}

/// One item's accuracy as a fraction in [0, 1]; 0 for an item without human answers. A human
/// answer's own entry is left out of its subset by position (the original compares answer
/// records, which differ by `answer_id`).
pub fn vqa_item_accuracy(item: &VqaItem) -> f64 {
    if item.answers.is_empty() {
        return 0.0;
    }
    let prediction = normalize::normalize_prediction(&item.prediction);
    let first = &item.answers[0];
    let all_same = item.answers.iter().all(|a| a == first);
    let humans: Vec<String> = if all_same {
        item.answers.clone()
    } else {
        item.answers
            .iter()
            .map(|a| normalize::process_punctuation(a))
            .collect()
    };
    let matching: Vec<bool> = humans.iter().map(|h| *h == prediction).collect();
    let total_matches = matching.iter().filter(|m| **m).count();
    let sum: f64 = matching
        .iter()
        .map(|&own| {
            let others = total_matches - usize::from(own);
            (others as f64 / 3.0).min(1.0)
        })
        .sum();
    sum / humans.len() as f64
}

/// The official VQAv2 accuracy of `items` (see the module doc); all zero for no items.
pub fn vqa_accuracy(items: &[VqaItem]) -> VqaScores {
    let mut per_type: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut total = 0.0;
    for item in items {
        let acc = vqa_item_accuracy(item);
        total += acc;
        if let Some(t) = &item.answer_type {
            let slot = per_type.entry(t.clone()).or_insert((0.0, 0));
            slot.0 += acc;
            slot.1 += 1;
        }
    }
    let percent = |sum: f64, n: usize| if n == 0 { 0.0 } else { 100.0 * sum / n as f64 };
    VqaScores {
        overall: percent(total, items.len()),
        per_answer_type: per_type
            .into_iter()
            .map(|(k, (sum, n))| (k, percent(sum, n)))
            .collect(),
        items: items.len(),
    }
}
