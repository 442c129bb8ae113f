//! `models/catalogue.json`: the released checkpoints and where to get them.
//!
//! Each entry: `name`, `task` (the default task of the export), `url` (the authors' page),
//! `download` (the checkpoint file itself, or null where only the page is known), `sha256`
//! (null until recorded from a real download), `size` (bytes, or null), and for a checkpoint
//! shipped in the repository `file` (its path, relative to the repository root), `note`.

use anyhow::{anyhow, Context};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One catalogue entry.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// What `unival pull NAME` takes.
    pub name: String,
    /// Default task of the export (`caption`, `vqa`, …; `pretrain` = the checkpoint's own).
    pub task: String,
    /// The authors' download page.
    #[serde(default)]
    pub url: Option<String>,
    /// URL of the checkpoint file.
    #[serde(default)]
    pub download: Option<String>,
    /// Lower-case hex SHA-256 of the file, when known.
    #[serde(default)]
    pub sha256: Option<String>,
    /// File size in bytes, when known.
    #[serde(default)]
    pub size: Option<u64>,
    /// A checkpoint shipped in the repository (relative to the repository root).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct Catalogue {
    models: Vec<Entry>,
}

/// Reads `path` and returns the entry called `name` (the error lists the names there are).
pub fn find(path: &Path, name: &str) -> anyhow::Result<Entry> {
    let text = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let catalogue: Catalogue = serde_json::from_slice(&text)
        .with_context(|| format!("{}: not a model catalogue", path.display()))?;
    let names: Vec<&str> = catalogue.models.iter().map(|e| e.name.as_str()).collect();
    let found = catalogue.models.iter().find(|e| e.name == name).cloned();
    found.ok_or_else(|| {
        anyhow!(
            "{}: no model named '{name}' (known: {})",
            path.display(),
            names.join(", ")
        )
    })
}
