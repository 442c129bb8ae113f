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
    /// Question id, for messages.
    pub question_id: String,
    /// The predicted answer, as generated (normalised here).
    pub prediction: String,
    /// Human answers as annotated (VQAv2: ten).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(prediction: &str, answers: &[&str], answer_type: &str) -> VqaItem {
        VqaItem {
            question_id: "q".into(),
            prediction: prediction.into(),
            answers: answers.iter().map(|a| a.to_string()).collect(),
            answer_type: Some(answer_type.into()),
        }
    }

    /// Worked by hand: with k humans giving the prediction, the subsets leaving out one of them
    /// see k-1 matches, the others k: acc = (k·min((k-1)/3,1) + (10-k)·min(k/3,1)) / 10.
    #[test]
    fn leave_one_out_subsets() {
        let cases = [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)];
        for (k, expected) in cases {
            let mut answers = vec!["yes"; k];
            answers.extend(vec!["no"; 10 - k]);
            let acc = vqa_item_accuracy(&item("yes", &answers, "yes/no"));
            assert!((acc - expected).abs() < 1e-12, "k={k}: {acc}");
        }
    }

    #[test]
    fn prediction_is_normalised_humans_only_punctuated() {
        // "Two." -> "2" matches three "2"s; the "two" answers are not digit-mapped (official).
        let answers = ["2", "2", "2", "two", "two", "two", "two", "3", "3", "3"];
        let acc = vqa_item_accuracy(&item("Two.", &answers, "number"));
        assert!((acc - 0.9).abs() < 1e-12, "{acc}");
        // All humans identical: they are left untouched, the prediction still normalised.
        let same = ["a dog"; 10];
        assert_eq!(vqa_item_accuracy(&item("a dog", &same, "other")), 0.0);
        let same = ["dog"; 10];
        assert_eq!(vqa_item_accuracy(&item("The dog!", &same, "other")), 1.0);
    }

    #[test]
    fn overall_and_per_type_in_percent() {
        let items = [
            item("yes", &["yes"; 10], "yes/no"),
            item("no", &["yes"; 10], "yes/no"),
            item(
                "3",
                &["3", "3", "4", "4", "4", "4", "4", "4", "4", "4"],
                "number",
            ),
        ];
        let s = vqa_accuracy(&items);
        assert_eq!(s.items, 3);
        assert!((s.per_answer_type["yes/no"] - 50.0).abs() < 1e-9);
        assert!((s.per_answer_type["number"] - 60.0).abs() < 1e-9);
        assert!((s.overall - 160.0 / 3.0).abs() < 1e-9);
    }
}
