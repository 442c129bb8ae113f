//! Readers of the standard prediction and reference files, turning them into metric items.
//! - [`records`]: JSON arrays, JSON lines, or `{"annotations": [...]}` objects of records with an
//!   id (captions: `image_id` first; per-question/per-expression items: `question_id`,
//!   `uniq_id`, `id` first, see [`records::ITEM_ID_KEYS`]) and a value (`caption`, `text`,
//!   `answer`, `label`, `box`, …): COCO results and annotations, VQA results, `unival … --json`
//!   output.
//! - [`csv`]: `candidate,reference_1,…,reference_N` tables (aac-metrics' example files).
//! - [`vqa`]: VQAv2 annotations (ten answers and the answer type per question).
//!
//! Every error names the file and what is wrong in it.

pub mod csv;
pub mod records;
pub mod vqa;

use crate::{CaptionItem, GroundingItem, MetricsError};
use records::Record;
use std::collections::BTreeMap;
use std::path::Path;

/// Reads a whole file as UTF-8 text, with the path in the error.
pub(crate) fn read_text(path: &Path) -> Result<String, MetricsError> {
    std::fs::read_to_string(path).map_err(|source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Caption items from a predictions file (COCO results JSON or JSON lines: one caption per id)
/// and a references file (COCO annotations or results-style records: any number per id). Every
/// predicted id must have references; references without a prediction are not scored (as
/// pycocoevalcap scores the result file's images).
pub fn caption_items(
    predictions: &Path,
    references: &Path,
) -> Result<Vec<CaptionItem>, MetricsError> {
    let preds = records::read_records(predictions, records::TEXT_KEYS)?;
    let refs = records::read_records(references, records::TEXT_KEYS)?;
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in refs {
        let text = r.text()?;
        by_id.entry(r.id).or_default().push(text);
    }
    let single = records::unique_by_id(preds, predictions)?;
    single
        .into_iter()
        .map(|p: Record| {
            let references = by_id.get(&p.id).cloned().ok_or_else(|| {
                MetricsError::format(
                    references,
                    format!("no reference caption for prediction id {:?}", p.id),
                )
            })?;
            Ok(CaptionItem {
                candidate: p.text()?,
                id: p.id,
                references,
            })
        })
        .collect()
}

/// Grounding items from predictions and references with a `box` (`[x0, y0, x1, y1]`) per id.
pub fn grounding_items(
    predictions: &Path,
    references: &Path,
) -> Result<Vec<GroundingItem>, MetricsError> {
    let preds = records::unique_by_id(
        records::read_records_with_ids(predictions, records::ITEM_ID_KEYS, records::BOX_KEYS)?,
        predictions,
    )?;
    let refs = records::unique_by_id(
        records::read_records_with_ids(references, records::ITEM_ID_KEYS, records::BOX_KEYS)?,
        references,
    )?;
    let targets: BTreeMap<String, Record> = refs.into_iter().map(|r| (r.id.clone(), r)).collect();
    preds
        .into_iter()
        .map(|p| {
            let target = targets.get(&p.id).ok_or_else(|| {
                MetricsError::format(references, format!("no reference box for id {:?}", p.id))
            })?;
            Ok(GroundingItem {
                predicted: p.bbox()?,
                target: target.bbox()?,
                id: p.id,
            })
        })
        .collect()
}

/// `(id, prediction, reference)` answer pairs (SNLI-VE labels, video-QA answers) from records
/// with a text value per id.
pub fn answer_pairs(
    predictions: &Path,
    references: &Path,
) -> Result<Vec<(String, String, String)>, MetricsError> {
    let preds = records::unique_by_id(
        records::read_records_with_ids(predictions, records::ITEM_ID_KEYS, records::TEXT_KEYS)?,
        predictions,
    )?;
    let refs = records::unique_by_id(
        records::read_records_with_ids(references, records::ITEM_ID_KEYS, records::TEXT_KEYS)?,
        references,
    )?;
    let answers: BTreeMap<String, Record> = refs.into_iter().map(|r| (r.id.clone(), r)).collect();
    preds
        .into_iter()
        .map(|p| {
            let reference = answers.get(&p.id).ok_or_else(|| {
                MetricsError::format(references, format!("no reference answer for id {:?}", p.id))
            })?;
            Ok((p.id.clone(), p.text()?, reference.text()?))
        })
        .collect()
}
