//! `--answers FILE`: the VQA answer list, as text (one answer per line) or the original
//! `ans2label` pickle (`{answer: label}`), read with the exporter's safe unpickler.

use anyhow::{bail, Context};
use std::path::Path;
use unival_export::checkpoint::read_pickle_json;

/// Pickle protocol ≥ 2 files start with the PROTO opcode.
const PICKLE_PROTO: u8 = 0x80;

/// The answers in `path`, in file order (pickles: label order).
pub fn load(path: &Path) -> anyhow::Result<Vec<String>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read the answer list", path.display()))?;
    let answers = if bytes.first() == Some(&PICKLE_PROTO) {
        from_pickle(path)?
    } else {
        let text = String::from_utf8(bytes).with_context(|| {
            format!(
                "{}: answer list is neither UTF-8 text nor a pickle",
                path.display()
            )
        })?;
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    if answers.is_empty() {
        bail!("{}: the answer list is empty", path.display());
    }
    Ok(answers)
}

fn from_pickle(path: &Path) -> anyhow::Result<Vec<String>> {
    let value = read_pickle_json(path)?;
    let Some(map) = value.as_object() else {
        bail!(
            "{}: expected an ans2label dict {{answer: label}}",
            path.display()
        );
    };
    let mut pairs: Vec<(i64, String)> = map
        .iter()
        .map(|(answer, label)| (label.as_i64().unwrap_or(i64::MAX), answer.clone()))
        .collect();
    pairs.sort();
    Ok(pairs.into_iter().map(|(_, a)| a).collect())
}
