//! Perception Test results: top-1 accuracy overall and per area, reasoning type and tag (a
//! question counts once in each of its tags), and the challenge's submission file.

use super::super::records::Record;
use super::super::score::{GroupScore, Report};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use unival_metrics::accuracy;

/// Fills `report` from multiple-choice records (those with an `answer_id`; test-split
/// questions have none and are only counted).
pub fn multiple_choice(records: &[Record], report: &mut Report) {
    let mut right = 0;
    let mut total = 0;
    let mut add = |name: &str, group: &str, ok: bool| {
        let g = report
            .breakdown
            .entry(name.to_string())
            .or_default()
            .entry(group.to_string())
            .or_insert(GroupScore {
                correct: 0,
                total: 0,
            });
        g.total += 1;
        g.correct += usize::from(ok);
    };
    for c in records.iter().filter_map(|r| r.choice.as_ref()) {
        let Some(answer) = c.answer_id else { continue };
        let ok = c.predicted_id == Some(answer);
        total += 1;
        right += usize::from(ok);
        add("area", &c.area, ok);
        add("reasoning", &c.reasoning, ok);
        for tag in &c.tags {
            add("tag", tag, ok);
        }
    }
    if total > 0 {
        report
            .metrics
            .push(("top1_accuracy".into(), accuracy(right, total)));
    } else {
        report
            .notes
            .push("no answer_id in the annotations (test split): accuracy not computed".into());
    }
}

/// The challenge submission: `{video_id: [{"id": question id, "answer_id": k, "answer":
/// option text}]}` for every answered question, as the Perception Test's multiple-choice
/// baseline writes it.
pub fn submission(records: &[Record]) -> Value {
    let mut by_video: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for c in records.iter().filter_map(|r| r.choice.as_ref()) {
        let Some(k) = c.predicted_id else { continue };
        by_video.entry(&c.video_id).or_default().push(json!({
            "id": c.question_id,
            "answer_id": k,
            "answer": c.options.get(k).cloned().unwrap_or_default(),
        }));
    }
    Value::Object(
        by_video
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::Array(v)))
            .collect::<Map<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::super::records::Choice;
    use super::*;

    fn record(video: &str, qid: u64, predicted: Option<usize>, answer: usize) -> Record {
        Record {
            index: 0,
            id: format!("{video}/{qid}"),
            task: "perception_test".into(),
            prediction: String::new(),
            score: None,
            tokens: vec![],
            bbox: None,
            target: None,
            choice: Some(Choice {
                video_id: video.into(),
                question_id: json!(qid),
                options: vec!["a".into(), "b".into(), "c".into()],
                scores: vec![],
                predicted_id: predicted,
                answer_id: Some(answer),
                area: "Physics".into(),
                reasoning: "Descriptive".into(),
                tags: vec!["motion".into(), "counting".into()],
            }),
            error: predicted.is_none().then(|| "unreadable video".into()),
        }
    }

    #[test]
    fn failed_questions_count_as_wrong_and_are_left_out_of_the_submission() {
        let records = [record("v1", 0, Some(2), 2), record("v1", 1, None, 0)];
        let mut report = Report::default();
        multiple_choice(&records, &mut report);
        assert_eq!(report.metrics, vec![("top1_accuracy".to_string(), 0.5)]);
        let tag = &report.breakdown["tag"]["counting"];
        assert_eq!((tag.correct, tag.total), (1, 2));
        assert_eq!(
            submission(&records),
            json!({"v1": [{"id": 0, "answer_id": 2, "answer": "c"}]})
        );
    }
}
