//! VQAv2 files: annotations (`{"annotations": [{"question_id", "answers": [{"answer"}…],
//! "answer_type", …}]}`), questions (`{"questions": [{"question_id", "image_id", "question"}]}`)
//! and results (`[{"question_id", "answer"}]`, or JSON lines).

use super::records::{read_records_with_ids, unique_by_id, ITEM_ID_KEYS, TEXT_KEYS};
use crate::{MetricsError, VqaItem};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One question's human answers and answer type.
#[derive(Debug, Clone)]
pub struct VqaAnnotation {
    /// The human answers' texts.
    pub answers: Vec<String>,
    /// `answer_type` when present.
    pub answer_type: Option<String>,
}

/// One VQAv2 question.
#[derive(Debug, Clone)]
pub struct VqaQuestion {
    /// Question id, as text.
    pub question_id: String,
    /// Image id, as text.
    pub image_id: String,
    /// The question.
    pub question: String,
}

fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn list_field<'a>(path: &Path, doc: &'a Value, key: &str) -> Result<&'a Vec<Value>, MetricsError> {
    doc.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| MetricsError::format(path, format!("no \"{key}\" list")))
}

fn parse_json(path: &Path) -> Result<Value, MetricsError> {
    serde_json::from_str(&super::read_text(path)?)
        .map_err(|e| MetricsError::format(path, format!("not JSON: {e}")))
}

/// VQAv2 annotations by question id.
pub fn read_vqa_annotations(path: &Path) -> Result<BTreeMap<String, VqaAnnotation>, MetricsError> {
    let doc = parse_json(path)?;
    let mut out = BTreeMap::new();
    for (i, ann) in list_field(path, &doc, "annotations")?.iter().enumerate() {
        let qid = id_text(ann.get("question_id")).ok_or_else(|| {
            MetricsError::format(path, format!("annotation {i} has no question_id"))
        })?;
        let answers = ann
            .get("answers")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                MetricsError::format(path, format!("question {qid}: no \"answers\" list"))
            })?
            .iter()
            .map(|a| a.get("answer").and_then(Value::as_str).map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| {
                MetricsError::format(path, format!("question {qid}: an answer without text"))
            })?;
        let answer_type = ann
            .get("answer_type")
            .and_then(Value::as_str)
            .map(str::to_string);
        out.insert(
            qid,
            VqaAnnotation {
                answers,
                answer_type,
            },
        );
    }
    Ok(out)
}

/// VQAv2 questions, in file order.
pub fn read_vqa_questions(path: &Path) -> Result<Vec<VqaQuestion>, MetricsError> {
    let doc = parse_json(path)?;
    list_field(path, &doc, "questions")?
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let bad = |what: &str| MetricsError::format(path, format!("question {i}: no {what}"));
            Ok(VqaQuestion {
                question_id: id_text(q.get("question_id")).ok_or_else(|| bad("question_id"))?,
                image_id: id_text(q.get("image_id")).ok_or_else(|| bad("image_id"))?,
                question: q
                    .get("question")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("question"))?
                    .to_string(),
            })
        })
        .collect()
}

/// VQA items from a results file and an annotations file; every predicted question must be
/// annotated.
pub fn vqa_items(predictions: &Path, annotations: &Path) -> Result<Vec<VqaItem>, MetricsError> {
    let anns = read_vqa_annotations(annotations)?;
    let records = read_records_with_ids(predictions, ITEM_ID_KEYS, TEXT_KEYS)?;
    let preds = unique_by_id(records, predictions)?;
    preds
        .into_iter()
        .map(|p| {
            let ann = anns.get(&p.id).ok_or_else(|| {
                MetricsError::format(
                    annotations,
                    format!("no annotation for question {:?}", p.id),
                )
            })?;
            Ok(VqaItem {
                prediction: p.text()?,
                question_id: p.id,
                answers: ann.answers.clone(),
                answer_type: ann.answer_type.clone(),
            })
        })
        .collect()
}
