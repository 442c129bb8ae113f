//! The `--out` file: one JSON line per finished item, appended and flushed as each finishes,
//! so a killed run loses at most the line being written. `--resume` reads it back (dropping a
//! half-written last line), and `unival eval merge` joins several.
//!
//! Each line carries the item's target, so a file can be scored on its own.

use super::dataset::Target;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// One evaluated item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the dataset (merged files are sorted by it).
    pub index: usize,
    pub id: String,
    pub task: String,
    /// Caption, answer, box as text, entailment label or chosen option.
    pub prediction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<i64>,
    /// Grounding: the predicted box in original-image pixels.
    #[serde(rename = "box", default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f64; 4]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Multiple choice (Perception Test): the question and every option's score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Choice>,
    /// Why the item failed (its prediction is then empty and scores as wrong).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A multiple-choice question's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub video_id: String,
    pub question_id: serde_json::Value,
    pub options: Vec<String>,
    /// Summed log-probability of each option (empty when the item failed).
    #[serde(default)]
    pub scores: Vec<f64>,
    /// The best-scoring option (the first of equals); none when the item failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_id: Option<usize>,
    /// The correct option (absent in the test split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_id: Option<usize>,
    pub area: String,
    pub reasoning: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Complete records of `path` and the byte length they span. A last line without its newline
/// (a run killed while writing) is left out; any other unreadable line is an error.
pub fn read(path: &Path) -> anyhow::Result<(Vec<Record>, u64)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the results", path.display()))?;
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let mut records = Vec::new();
    for (n, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: Record = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not a result line", path.display(), n + 1))?;
        records.push(r);
    }
    Ok((records, complete as u64))
}

/// Appends records to the `--out` file.
pub struct Writer {
    file: File,
}

impl Writer {
    /// Opens `path` for a run: a fresh file, or with `resume` the existing one cut back to its
    /// complete lines, whose records are returned. Failed items are not finished: `resume`
    /// drops their lines so they run again. Without `resume` an existing non-empty file is
    /// refused rather than mixed with a new run.
    pub fn open(path: &Path, resume: bool, task: &str) -> anyhow::Result<(Writer, Vec<Record>)> {
        let exists = path.metadata().is_ok_and(|m| m.len() > 0);
        if exists && !resume {
            bail!(
                "{}: already holds results; pass --resume to continue that run, or remove it",
                path.display()
            );
        }
        let (mut done, mut keep) = if exists { read(path)? } else { (Vec::new(), 0) };
        if done.iter().any(|r| r.error.is_some()) {
            done.retain(|r| r.error.is_none());
            write_all(path, &done)?;
            keep = path.metadata().map_or(0, |m| m.len());
        }
        if let Some(other) = done.iter().find(|r| r.task != task) {
            bail!(
                "{}: holds results of task `{}`, not `{task}`",
                path.display(),
                other.task
            );
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create the directory", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("{}: cannot open for writing", path.display()))?;
        file.set_len(keep)
            .with_context(|| format!("{}: cannot drop the half-written line", path.display()))?;
        Ok((Writer { file }, done))
    }

    /// Appends one record as a line and flushes it.
    pub fn append(&mut self, record: &Record) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(record)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()?;
        Ok(())
    }
}

/// The records of every file in `inputs`, one per id, in dataset order. An id in several files
/// must have the same record in each.
pub fn merge(inputs: &[std::path::PathBuf]) -> anyhow::Result<Vec<Record>> {
    let mut by_id: BTreeMap<String, (Record, &Path)> = BTreeMap::new();
    for path in inputs {
        let (records, _) = read(path)?;
        for r in records {
            match by_id.get(&r.id) {
                Some((seen, _)) if seen == &r => {}
                Some((_, first)) => bail!(
                    "item `{}` differs between {} and {}",
                    r.id,
                    first.display(),
                    path.display()
                ),
                None => {
                    by_id.insert(r.id.clone(), (r, path));
                }
            }
        }
    }
    let mut all: Vec<Record> = by_id.into_values().map(|(r, _)| r).collect();
    if let Some(task) = all.first().map(|r| r.task.clone()) {
        if let Some(other) = all.iter().find(|r| r.task != task) {
            bail!("the inputs mix tasks `{task}` and `{}`", other.task);
        }
    }
    all.sort_by_key(|r| r.index);
    Ok(all)
}

/// Writes `records` to `path` (replacing it), one line each.
pub fn write_all(path: &Path, records: &[Record]) -> anyhow::Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("{}: cannot write", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: usize, prediction: &str) -> Record {
        Record {
            index,
            id: format!("item{index}"),
            task: "caption".into(),
            prediction: prediction.into(),
            score: Some(-1.5),
            tokens: vec![4, 2],
            bbox: None,
            target: Some(Target::Captions(vec!["a dog".into()])),
            choice: None,
            error: None,
        }
    }

    #[test]
    fn resume_drops_a_half_written_line_and_refuses_a_fresh_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let (mut w, done) = Writer::open(&path, false, "caption").unwrap();
        assert!(done.is_empty());
        w.append(&record(0, "a dog")).unwrap();
        w.append(&record(1, "a cat")).unwrap();
        drop(w);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"index\":2,\"id\":\"ite");
        std::fs::write(&path, &bytes).unwrap();
        assert!(Writer::open(&path, false, "caption").is_err());
        assert!(Writer::open(&path, true, "vqa").is_err());
        let (mut w, done) = Writer::open(&path, true, "caption").unwrap();
        assert_eq!(done, vec![record(0, "a dog"), record(1, "a cat")]);
        w.append(&record(2, "a cow")).unwrap();
        drop(w);
        let (all, _) = read(&path).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[2], record(2, "a cow"));
    }

    #[test]
    fn merge_sorts_by_index_and_refuses_disagreement() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        write_all(&a, &[record(1, "x"), record(3, "y")]).unwrap();
        write_all(&b, &[record(0, "z"), record(1, "x")]).unwrap();
        write_all(&c, &[record(0, "other")]).unwrap();
        let merged = merge(&[a.clone(), b.clone()]).unwrap();
        let order: Vec<usize> = merged.iter().map(|r| r.index).collect();
        assert_eq!(order, vec![0, 1, 3]);
        let err = merge(&[b, c]).unwrap_err().to_string();
        assert!(err.contains("item0"), "{err}");
    }
}
