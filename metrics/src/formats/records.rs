//! Records with an id and a value, from JSON arrays, `{"annotations": [...]}` objects or JSON
//! lines.

use crate::MetricsError;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Keys naming a caption record's id (one image or clip, several captions), in order of
/// preference.
pub const ID_KEYS: &[&str] = &["image_id", "question_id", "uniq_id", "id", "file"];
/// Keys naming a per-question or per-expression record's id (VQA, RefCOCO and SNLI-VE records
/// also carry the `image_id` that several of them share), in order of preference.
pub const ITEM_ID_KEYS: &[&str] = &["question_id", "uniq_id", "id", "image_id", "file"];
/// Keys holding a text value (caption, answer, label), in order of preference.
pub const TEXT_KEYS: &[&str] = &["caption", "answer", "text", "label", "prediction"];
/// Keys holding a box value.
pub const BOX_KEYS: &[&str] = &["box", "bbox"];

/// One record: its id, its value and the file it came from (for error messages).
#[derive(Debug, Clone)]
pub struct Record {
    /// The id, as text (integers converted).
    pub id: String,
    /// The value under the first value key found.
    pub value: Value,
    /// The file it was read from.
    pub source: PathBuf,
}

impl Record {
    /// The value as text.
    pub fn text(&self) -> Result<String, MetricsError> {
        self.value.as_str().map(str::to_string).ok_or_else(|| {
            MetricsError::format(
                &self.source,
                format!("id {:?}: the value is not a string", self.id),
            )
        })
    }

    /// The value as a box `[x0, y0, x1, y1]` of four numbers.
    pub fn bbox(&self) -> Result<[f64; 4], MetricsError> {
        let bad = || {
            MetricsError::format(
                &self.source,
                format!("id {:?}: the box is not 4 numbers", self.id),
            )
        };
        let list = self
            .value
            .as_array()
            .filter(|l| l.len() == 4)
            .ok_or_else(bad)?;
        let mut out = [0.0; 4];
        for (slot, v) in out.iter_mut().zip(list) {
            *slot = v.as_f64().ok_or_else(bad)?;
        }
        Ok(out)
    }
}

/// The records of `path`; each needs an id key and one of `value_keys`.
pub fn read_records(path: &Path, value_keys: &[&str]) -> Result<Vec<Record>, MetricsError> {
    read_records_with_ids(path, ID_KEYS, value_keys)
}

/// [`read_records`] with the id keys given, in order of preference.
pub fn read_records_with_ids(
    path: &Path,
    id_keys: &[&str],
    value_keys: &[&str],
) -> Result<Vec<Record>, MetricsError> {
    let text = super::read_text(path)?;
    let objects = parse_objects(&text, path)?;
    objects
        .into_iter()
        .enumerate()
        .map(|(i, obj)| to_record(obj, i, path, id_keys, value_keys))
        .collect()
}

/// A JSON document (array, or object with `annotations`), else JSON lines.
fn parse_objects(text: &str, path: &Path) -> Result<Vec<Value>, MetricsError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(list)) => Ok(list),
        Ok(Value::Object(mut map)) => match map.remove("annotations") {
            Some(Value::Array(list)) => Ok(list),
            Some(_) => Err(MetricsError::format(path, "\"annotations\" is not a list")),
            // A JSON-lines file of one record.
            None => Ok(vec![Value::Object(map)]),
        },
        Ok(_) => Err(MetricsError::format(
            path,
            "expected a JSON list of records",
        )),
        Err(whole_err) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, line)| {
                serde_json::from_str::<Value>(line).map_err(|e| {
                    MetricsError::format(
                        path,
                        format!(
                            "not JSON ({whole_err}) nor JSON lines (line {}: {e})",
                            n + 1
                        ),
                    )
                })
            })
            .collect(),
    }
}

fn to_record(
    obj: Value,
    index: usize,
    path: &Path,
    id_keys: &[&str],
    value_keys: &[&str],
) -> Result<Record, MetricsError> {
    let Value::Object(map) = obj else {
        return Err(MetricsError::format(
            path,
            format!("record {index} is not a JSON object"),
        ));
    };
    let id = id_keys
        .iter()
        .find_map(|k| map.get(*k))
        .and_then(id_string)
        .ok_or_else(|| {
            MetricsError::format(
                path,
                format!("record {index} has no id (one of {id_keys:?})"),
            )
        })?;
    let value = value_keys
        .iter()
        .find_map(|k| map.get(*k))
        .cloned()
        .ok_or_else(|| {
            MetricsError::format(
                path,
                format!("record {index} (id {id:?}) has none of {value_keys:?}"),
            )
        })?;
    Ok(Record {
        id,
        value,
        source: path.to_path_buf(),
    })
}

/// Ids are strings or integers (COCO's `image_id`); both become text.
fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `records` after checking that no id repeats.
pub fn unique_by_id(records: Vec<Record>, path: &Path) -> Result<Vec<Record>, MetricsError> {
    let mut seen = BTreeSet::new();
    for r in &records {
        if !seen.insert(r.id.as_str()) {
            return Err(MetricsError::format(
                path,
                format!("id {:?} appears more than once", r.id),
            ));
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str, id_keys: &[&str]) -> Result<Vec<Record>, MetricsError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, text).unwrap();
        read_records_with_ids(&path, id_keys, TEXT_KEYS)
    }

    #[test]
    fn list_annotations_and_json_lines() {
        let list = records(r#"[{"image_id": 3, "caption": "a"}]"#, ID_KEYS).unwrap();
        assert_eq!(
            (list[0].id.as_str(), list[0].text().unwrap()),
            ("3", "a".into())
        );
        let ann = records(
            r#"{"annotations": [{"image_id": 1, "id": 9, "caption": "b"}]}"#,
            ID_KEYS,
        );
        assert_eq!(ann.unwrap()[0].id, "1");
        let one_line = records("{\"file\": \"x.jpg\", \"text\": \"c\"}\n", ID_KEYS).unwrap();
        assert_eq!(one_line[0].id, "x.jpg");
        let lines = records(
            "{\"id\": 1, \"answer\": \"d\"}\n\n{\"id\": 2, \"answer\": \"e\"}\n",
            ID_KEYS,
        );
        assert_eq!(lines.unwrap().len(), 2);
    }

    #[test]
    fn item_ids_prefer_the_question() {
        let r = records(
            r#"[{"image_id": 1, "question_id": 5, "answer": "no"}]"#,
            ITEM_ID_KEYS,
        );
        assert_eq!(r.unwrap()[0].id, "5");
    }

    #[test]
    fn errors_name_the_problem() {
        let e = records(r#"[{"caption": "a"}]"#, ID_KEYS)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no id"), "{e}");
        let e = records("[1,", ID_KEYS).unwrap_err().to_string();
        assert!(e.contains("r.json") && e.contains("not JSON"), "{e}");
    }
}
