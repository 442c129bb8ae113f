//! The fuzz smoke pass of CI: every input saved under `fuzz/corpus/<target>/` (the seeds, what
//! `scripts/fuzz.sh` kept, and the regression inputs of crashes it found) replayed through the
//! same target function the `cargo fuzz` binary runs (`unival_tests::fuzz_targets`). The `web`
//! corpus is replayed against a live server by apps/tests/fuzz_web_corpus.rs.

use std::path::{Path, PathBuf};
use unival_tests::fuzz_targets::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// The files of one corpus folder, sorted (so a failure names the same file every run).
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, run) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let files = inputs(target);
    assert!(!files.is_empty(), "fuzz/corpus/{target}/ is empty");
    for file in &files {
        let data = std::fs::read(file).unwrap();
        eprintln!("{target}: {}", file.display());
        run(&data);
    }
    eprintln!("{target}: {} inputs replayed", files.len());
}

#[test]
fn every_target_has_a_corpus() {
    for (name, _) in TARGETS {
        assert!(corpus_dir(name).is_dir(), "fuzz/corpus/{name}/ is missing");
    }
    assert!(corpus_dir("web").is_dir(), "fuzz/corpus/web/ is missing");
}

#[test]
fn image_corpus() {
    replay("image");
}

#[test]
fn video_corpus() {
    replay("video");
}

#[test]
fn audio_corpus() {
    replay("audio");
}

#[test]
fn manifest_corpus() {
    replay("manifest");
}

#[test]
fn tokenizer_corpus() {
    replay("tokenizer");
}

#[test]
fn prompts_corpus() {
    replay("prompts");
}
