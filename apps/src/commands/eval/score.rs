//! Final metrics of a results file, computed by `unival-metrics` from the records alone (each
//! carries its target): captions → exact match and pycocoevalcap's metrics; VQAv2 → official
//! accuracy per answer type; the original's weighted answers → their mean confidence; one
//! answer (SNLI-VE, video QA) → accuracy; boxes → Acc@0.5 and mean IoU; multiple choice →
//! accuracy per area, reasoning type and tag. A failed item scores as wrong.

use super::dataset::Target;
use super::records::Record;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use unival_metrics::{
    accuracy, box_iou, grounding_accuracy, score_captions, vqa_accuracy, CaptionItem,
    CaptionOptions, GroundingItem, VqaItem,
};

/// Accuracy of one group of items (an area, a reasoning type, a tag).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupScore {
    pub correct: usize,
    pub total: usize,
}

/// The metrics of a results file.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub task: String,
    pub items: usize,
    pub errors: usize,
    /// Metric name → value (fractions; CIDEr-D on pycocoevalcap's scale), in display order.
    pub metrics: Vec<(String, f64)>,
    /// Breakdown name (e.g. `area`) → group → score.
    pub breakdown: BTreeMap<String, BTreeMap<String, GroupScore>>,
    /// How metrics were computed or why one is missing.
    pub notes: Vec<String>,
}

/// Scores `records` (all of one task).
pub fn score(records: &[Record]) -> anyhow::Result<Report> {
    let mut report = Report {
        task: records.first().map(|r| r.task.clone()).unwrap_or_default(),
        items: records.len(),
        errors: records.iter().filter(|r| r.error.is_some()).count(),
        ..Report::default()
    };
    if records.iter().any(|r| r.choice.is_some()) {
        super::perception::score::multiple_choice(records, &mut report);
        return Ok(report);
    }
    captions(records, &mut report)?;
    answers(records, &mut report);
    boxes(records, &mut report);
    Ok(report)
}

/// Exact match against any reference, and pycocoevalcap's metrics.
fn captions(records: &[Record], report: &mut Report) -> anyhow::Result<()> {
    let items: Vec<CaptionItem> = records
        .iter()
        .filter_map(|r| match &r.target {
            Some(Target::Captions(refs)) => Some(CaptionItem {
                id: r.id.clone(),
                candidate: r.prediction.clone(),
                references: refs.clone(),
            }),
            _ => None,
        })
        .collect();
    if items.is_empty() {
        return Ok(());
    }
    let exact = items
        .iter()
        .filter(|i| i.references.iter().any(|c| c.trim() == i.candidate.trim()))
        .count();
    report
        .metrics
        .push(("exact_match".into(), accuracy(exact, items.len())));
    let s = score_captions(&items, &CaptionOptions::default())?;
    for (n, b) in s.bleu.iter().enumerate() {
        report.metrics.push((format!("bleu_{}", n + 1), *b));
    }
    if let Some(m) = s.meteor {
        report.metrics.push(("meteor".into(), m));
    }
    report.metrics.push(("rouge_l".into(), s.rouge_l));
    report.metrics.push(("cider_d".into(), s.cider_d));
    report.notes.extend(s.notes);
    Ok(())
}

/// VQAv2 accuracy, weighted-answer score and plain answer accuracy.
fn answers(records: &[Record], report: &mut Report) {
    let mut vqa = Vec::new();
    let (mut weighted, mut n_weighted) = (0.0, 0usize);
    let (mut right, mut n_single) = (0usize, 0usize);
    for r in records {
        let pred = r.prediction.trim();
        match &r.target {
            Some(Target::HumanAnswers {
                answers,
                answer_type,
            }) if !answers.is_empty() => vqa.push(VqaItem {
                question_id: r.id.clone(),
                prediction: pred.to_string(),
                answers: answers.clone(),
                answer_type: answer_type.clone(),
            }),
            Some(Target::WeightedAnswers(list)) => {
                n_weighted += 1;
                weighted += list
                    .iter()
                    .find(|(_, a)| a == pred)
                    .map_or(0.0, |(w, _)| *w);
            }
            Some(Target::Answer(a)) => {
                n_single += 1;
                right += usize::from(a.trim() == pred);
            }
            _ => {}
        }
    }
    if !vqa.is_empty() {
        // The official tool reports percent; this report keeps every accuracy a fraction.
        let s = vqa_accuracy(&vqa);
        report
            .metrics
            .push(("vqa_accuracy".into(), s.overall / 100.0));
        for (t, v) in s.per_answer_type {
            report
                .metrics
                .push((format!("vqa_accuracy_{t}"), v / 100.0));
        }
    }
    if n_weighted > 0 {
        let mean = weighted / n_weighted as f64;
        report.metrics.push(("vqa_score".into(), mean));
    }
    if n_single > 0 {
        report
            .metrics
            .push(("accuracy".into(), accuracy(right, n_single)));
    }
}

/// Acc@0.5 and mean IoU; an item without a predicted box misses.
fn boxes(records: &[Record], report: &mut Report) {
    let items: Vec<GroundingItem> = records
        .iter()
        .filter_map(|r| match &r.target {
            Some(Target::Box(target)) => Some(GroundingItem {
                id: r.id.clone(),
                predicted: r.bbox.unwrap_or([0.0; 4]),
                target: *target,
            }),
            _ => None,
        })
        .collect();
    if items.is_empty() {
        return;
    }
    let iou: f64 = items
        .iter()
        .map(|i| box_iou(i.predicted, i.target))
        .sum::<f64>()
        / items.len() as f64;
    report
        .metrics
        .push(("acc@0.5".into(), grounding_accuracy(&items, 0.5)));
    report.metrics.push(("mean_iou".into(), iou));
}

impl Report {
    /// The report as one JSON object; `rate` is this run's items per second, when it ran any.
    pub fn to_json(&self, rate: Option<f64>) -> Value {
        let metrics: Map<String, Value> = self
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let breakdown: Map<String, Value> = self
            .breakdown
            .iter()
            .map(|(name, groups)| {
                let g: Map<String, Value> = groups
                    .iter()
                    .map(|(k, s)| {
                        let acc = accuracy(s.correct, s.total);
                        (
                            k.clone(),
                            json!({"accuracy": acc, "correct": s.correct, "total": s.total}),
                        )
                    })
                    .collect();
                (name.clone(), Value::Object(g))
            })
            .collect();
        let mut out = json!({
            "task": self.task,
            "items": self.items,
            "errors": self.errors,
            "metrics": metrics,
        });
        if !breakdown.is_empty() {
            out["breakdown"] = Value::Object(breakdown);
        }
        if let Some(r) = rate {
            out["items_per_second"] = json!(r);
        }
        if !self.notes.is_empty() {
            out["notes"] = json!(self.notes);
        }
        out
    }

    /// The report as an aligned text table.
    pub fn table(&self, rate: Option<f64>) -> String {
        let mut lines = vec![format!(
            "{}: {} items, {} failed",
            self.task, self.items, self.errors
        )];
        if let Some(r) = rate {
            lines.push(format!("  {:<24} {r:.3}", "items/s (this run)"));
        }
        for (k, v) in &self.metrics {
            lines.push(format!("  {k:<24} {v:.4}"));
        }
        for (name, groups) in &self.breakdown {
            lines.push(format!("by {name}:"));
            for (k, s) in groups {
                let acc = accuracy(s.correct, s.total);
                lines.push(format!("  {k:<24} {acc:.4}  ({}/{})", s.correct, s.total));
            }
        }
        lines.extend(self.notes.iter().map(|n| format!("note: {n}")));
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, prediction: &str, target: Target) -> Record {
        Record {
            index: 0,
            id: id.into(),
            task: "t".into(),
            prediction: prediction.into(),
            score: None,
            tokens: vec![],
            bbox: None,
            target: Some(target),
            choice: None,
            error: None,
        }
    }

    fn metric(r: &Report, name: &str) -> f64 {
        r.metrics.iter().find(|(k, _)| k == name).unwrap().1
    }

    #[test]
    fn answers_and_boxes_score_as_the_original() {
        let weighted = Target::WeightedAnswers(vec![(1.0, "two".into()), (0.3, "three".into())]);
        let r = score(&[
            record("a", "three", weighted.clone()),
            record("b", "four", weighted),
        ])
        .unwrap();
        assert!((metric(&r, "vqa_score") - 0.15).abs() < 1e-12);
        let r = score(&[
            record("a", "yes", Target::Answer("yes".into())),
            record("b", "no", Target::Answer("maybe".into())),
        ])
        .unwrap();
        assert_eq!(metric(&r, "accuracy"), 0.5);
        let mut hit = record("a", "", Target::Box([0.0, 0.0, 10.0, 10.0]));
        hit.bbox = Some([0.0, 0.0, 10.0, 8.0]);
        let miss = record("b", "", Target::Box([0.0, 0.0, 10.0, 10.0]));
        let r = score(&[hit, miss]).unwrap();
        assert_eq!(metric(&r, "acc@0.5"), 0.5);
    }
}
