//! Every file of two public image test suites decodes as Pillow 10.0 reads it with the
//! original's settings (`LOAD_TRUNCATED_IMAGES = True`, `MAX_IMAGE_PIXELS = None`):
//! `Image.open(f).convert("RGB")` gives the same pixels, or both refuse the file.
//!
//! Suites (downloaded by `scripts/setup_image_suites.sh`, called from `scripts/setup.sh`, into
//! `.cache/image-suites/`): Pillow 10.0.0's `Tests/images` and libpng's PngSuite. Expected values
//! (`tests/fixtures/pillow10_images.json`) were written once by the dev-only
//! `scripts/dev/pillow_expected.py` under Pillow 10.0.0.
//!
//! Outcomes per file: `pixels` (same size and SHA-256 of the RGB bytes), `refused` (both refuse),
//! `bomb` (over 2 × 89,478,485 pixels: Pillow decodes it, we refuse it before allocating — the
//! one deliberate difference), `other format` (a format the runtime does not read, e.g. TIFF: we
//! refuse it as unsupported), or a mismatch. A mismatch fails the test unless the file is listed
//! in [`KNOWN_DIFFERENCES`], and a listed file that now matches fails it too, so the list stays
//! true.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use unival_runtime::vision::{load_rgb, ImageOptions, VisionError};

/// Files where we knowingly differ from Pillow 10.0, each with the reason (all PNG: the `png`
/// crate's handling of damaged files).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    // PNG (the `png` crate, through `image`).
    ("pillow/broken_data_stream.png", "Pillow skips CRC checks under LOAD_TRUNCATED_IMAGES; the png crate refuses the bad IDAT CRC"),
    ("pillow/truncated_image.png", "truncated IDAT: Pillow keeps the rows it has, the png crate refuses"),
];

/// Suite name in the fixture keys → folder under `.cache/image-suites/`.
const SUITES: &[(&str, &str)] = &[
    ("pillow", "Pillow-10.0.0/Tests/images"),
    ("pngsuite", "pngsuite"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Pixels,
    Refused,
    Bomb,
    OtherFormat,
    Mismatch,
}

fn suites_root() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    let root = workspace.join(".cache").join("image-suites");
    if root.join(".done").is_file() {
        return Some(root);
    }
    let msg = format!(
        "SKIPPED: image suites not found at {} (run scripts/setup_image_suites.sh)",
        root.display()
    );
    if unival_tests::oracle::is_ci() {
        panic!("{msg}");
    }
    eprintln!("{msg}");
    None
}

fn fixture() -> BTreeMap<String, serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pillow10_images.json");
    let text = std::fs::read_to_string(&path).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn file_of(root: &Path, key: &str) -> PathBuf {
    let (suite, rest) = key.split_once('/').expect("suite/path key");
    let dir = SUITES
        .iter()
        .find(|(name, _)| *name == suite)
        .map(|(_, dir)| dir)
        .expect("known suite");
    root.join(dir).join(rest)
}

/// Compares one file; returns the outcome and, for a mismatch, what differs.
fn check(path: &Path, expected: &serde_json::Value) -> (Outcome, String) {
    let opts = ImageOptions::default();
    let got = std::panic::catch_unwind(|| load_rgb(path, &opts));
    let got = match got {
        Ok(got) => got,
        Err(_) => return (Outcome::Mismatch, "decoder panicked".into()),
    };
    let skipped = expected.get("skipped").and_then(|v| v.as_str());
    if let Some(err) = expected.get("error") {
        return match got {
            Err(_) => (Outcome::Refused, String::new()),
            Ok(img) => (
                Outcome::Mismatch,
                format!("Pillow refuses ({err}), we decode {:?}", img.dimensions()),
            ),
        };
    }
    match (skipped, got) {
        // Refused either by the pixel budget or, when the header is too broken to reach the
        // size check, by the decoder: both keep the allocation from happening.
        (Some("bomb"), Err(_)) => (Outcome::Bomb, String::new()),
        (Some("format"), Err(VisionError::Unsupported { .. })) => {
            (Outcome::OtherFormat, String::new())
        }
        (Some(why), got) => (
            Outcome::Mismatch,
            format!("Pillow: {why}; we: {:?}", got.map(|i| i.dimensions())),
        ),
        (None, Err(e)) => (Outcome::Mismatch, format!("Pillow decodes, we refuse: {e}")),
        (None, Ok(img)) => {
            let size = (
                expected["width"].as_u64().unwrap_or(0),
                expected["height"].as_u64().unwrap_or(0),
            );
            let ours = (u64::from(img.width()), u64::from(img.height()));
            let sha = hex::encode(Sha256::digest(img.as_raw()));
            if ours == size && Some(sha.as_str()) == expected["sha256"].as_str() {
                (Outcome::Pixels, String::new())
            } else if ours != size {
                (Outcome::Mismatch, format!("size {ours:?}, Pillow {size:?}"))
            } else {
                (Outcome::Mismatch, "different pixels".into())
            }
        }
    }
}

fn format_of(expected: &serde_json::Value) -> String {
    match expected.get("format").and_then(|v| v.as_str()) {
        Some(f) => f.to_string(),
        None => "(refused)".into(),
    }
}

#[test]
fn every_suite_file_decodes_as_pillow_10_reads_it() {
    let Some(root) = suites_root() else { return };
    let known: BTreeMap<&str, &str> = KNOWN_DIFFERENCES.iter().copied().collect();
    let mut tally: BTreeMap<(String, String), BTreeMap<Outcome, usize>> = BTreeMap::new();
    let mut failures = Vec::new();
    for (key, expected) in fixture() {
        let (outcome, detail) = check(&file_of(&root, &key), &expected);
        let suite = key.split('/').next().unwrap_or_default().to_string();
        *tally
            .entry((suite, format_of(&expected)))
            .or_default()
            .entry(outcome)
            .or_default() += 1;
        match (
            outcome == Outcome::Mismatch,
            known.contains_key(key.as_str()),
        ) {
            (true, false) => failures.push(format!("{key}: {detail}")),
            (false, true) => failures.push(format!(
                "{key}: now matches; remove it from KNOWN_DIFFERENCES"
            )),
            (true, true) => eprintln!("known difference {key}: {detail}"),
            (false, false) => {}
        }
    }
    report(&tally);
    assert!(
        failures.is_empty(),
        "{} files differ from Pillow 10.0:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Prints matched/total per suite and format (matched = same pixels, same refusal, or a
/// deliberate bomb refusal; other formats are counted apart).
fn report(tally: &BTreeMap<(String, String), BTreeMap<Outcome, usize>>) {
    let mut per_suite: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for ((suite, format), counts) in tally {
        let get = |o| counts.get(&o).copied().unwrap_or(0);
        let matched = get(Outcome::Pixels) + get(Outcome::Refused) + get(Outcome::Bomb);
        let other = get(Outcome::OtherFormat);
        let total = counts.values().sum::<usize>();
        eprintln!(
            "{suite:9} {format:10} matched {matched:4}/{:<4} (pixels {}, refused {}, bomb {}) other-format {other}",
            total - other,
            get(Outcome::Pixels),
            get(Outcome::Refused),
            get(Outcome::Bomb),
        );
        let s = per_suite.entry(suite).or_default();
        s[0] += matched;
        s[1] += total - other;
        s[2] += other;
    }
    for (suite, [matched, total, other]) in per_suite {
        eprintln!("{suite}: matched {matched}/{total} files of the formats we read; {other} files of other formats refused");
    }
}
