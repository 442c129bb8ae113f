//! Dataset readers: each standard format becomes a list of [`Item`]s. The format is chosen from
//! the task and the file: `.tsv` (the original's, or `file<TAB>caption`), `.csv` (AudioCaps,
//! Clotho), `.json` / `.jsonl` (COCO, Karpathy, MSRVTT, VQAv2, MSRVTT-QA, SNLI-VE), `.p`
//! (RefCOCO's refs pickle with `instances.json`).

mod csv;
mod json;
mod refs;
mod tsv;

use super::args::DatasetArgs;
use super::dataset::{check_unique_ids, Item};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use unival_manifest::task::Modality;
use unival_manifest::TaskKind;

/// A dataset file and the directory its media names are relative to.
pub struct Source {
    pub path: PathBuf,
    pub media_dir: PathBuf,
}

impl Source {
    /// The file's text (UTF-8).
    pub fn text(&self) -> anyhow::Result<String> {
        std::fs::read_to_string(&self.path)
            .with_context(|| format!("{}: cannot read the dataset", self.name()))
    }

    /// The file parsed as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(&self.text()?)
            .with_context(|| format!("{}: not valid JSON", self.name()))
    }

    /// The dataset's name in messages.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// A media file named by the dataset.
    pub fn media(&self, name: &str) -> PathBuf {
        self.media_dir.join(name)
    }
}

/// The media directory for `task`: the flag of its modality, else the dataset's directory.
fn media_dir(task: TaskKind, args: &DatasetArgs) -> PathBuf {
    let flag = match task.modality() {
        Modality::Image => &args.images,
        Modality::Video => &args.videos,
        Modality::Audio => &args.audio,
    };
    flag.clone().unwrap_or_else(|| {
        args.data
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    })
}

/// Every item of `args.data` for `task`, ids checked unique.
pub fn load(task: TaskKind, args: &DatasetArgs) -> anyhow::Result<Vec<Item>> {
    let src = Source {
        path: args.data.clone(),
        media_dir: media_dir(task, args),
    };
    if !src.path.is_file() {
        bail!("{}: dataset file not found", src.name());
    }
    let ext = src
        .path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let items = match ext.as_str() {
        "tsv" => tsv::read(&src, task)?,
        "csv" => csv::read(&src, task)?,
        "json" | "jsonl" => json::read(&src, task, args)?,
        "p" | "pkl" if task == TaskKind::Refcoco => {
            refs::read(&src, args.annotations.as_deref(), &args.split)?
        }
        _ => bail!(
            "{}: unknown dataset format (expected .tsv, .csv, .json, .jsonl, or a RefCOCO refs .p)",
            src.name()
        ),
    };
    check_unique_ids(&items, &src.name())?;
    Ok(items)
}

#[cfg(test)]
mod tests;
