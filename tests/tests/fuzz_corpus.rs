//! The fuzz smoke pass of CI: every input saved under `fuzz/corpus/<target>/` (the seeds, what
//! `scripts/fuzz.sh` kept, and the regression inputs of crashes it found) replayed through the
//! same target function the `cargo fuzz` binary runs (`unival_tests::fuzz_targets`). The `web`
//! corpus is replayed against a live server by apps/tests/fuzz_web_corpus.rs.
//!
//! `mutation_fuzz` (ignored; scripts/fuzz.sh runs it where `cargo fuzz` cannot) fuzzes the
//! targets without coverage for `UNIVAL_FUZZ_SECONDS` each (default 10), optionally only those
//! named in `UNIVAL_FUZZ_TARGETS` (comma-separated).

use std::time::Duration;
use unival_tests::fuzz_targets::mutate::{fuzz_dir, read_corpus, run_for};
use unival_tests::fuzz_targets::{Target, TARGETS};

fn target(name: &str) -> Target {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, run)| *run)
        .expect("a known target")
}

fn replay(name: &str) {
    let run = target(name);
    let inputs = read_corpus(&fuzz_dir().join("corpus").join(name));
    assert!(!inputs.is_empty(), "fuzz/corpus/{name}/ is empty");
    for (file, data) in &inputs {
        eprintln!("{name}: {}", file.display());
        run(data);
    }
    eprintln!("{name}: {} inputs replayed", inputs.len());
}

#[test]
fn every_target_has_a_corpus() {
    for name in TARGETS.iter().map(|(n, _)| *n).chain(["web"]) {
        let dir = fuzz_dir().join("corpus").join(name);
        assert!(dir.is_dir(), "{} is missing", dir.display());
    }
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

#[test]
#[ignore = "fuzzing run: scripts/fuzz.sh"]
fn mutation_fuzz() {
    let seconds: u64 = std::env::var("UNIVAL_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let only = std::env::var("UNIVAL_FUZZ_TARGETS").unwrap_or_default();
    let mut crashes = Vec::new();
    for (i, (name, run)) in TARGETS.iter().enumerate() {
        if !only.is_empty() && !only.split(',').any(|n| n == *name) {
            continue;
        }
        let corpus: Vec<Vec<u8>> = read_corpus(&fuzz_dir().join("corpus").join(name))
            .into_iter()
            .map(|(_, data)| data)
            .collect();
        let artifacts = fuzz_dir().join("artifacts").join(name);
        let seed = 0x5eed_0000 + i as u64 + std::process::id() as u64;
        let report = run_for(run, &corpus, Duration::from_secs(seconds), seed, &artifacts);
        println!(
            "FUZZ {name}: {} executions in {seconds} s, {} crashes",
            report.executions,
            report.crashes.len()
        );
        crashes.extend(report.crashes);
    }
    assert!(crashes.is_empty(), "crashing inputs: {crashes:?}");
}
