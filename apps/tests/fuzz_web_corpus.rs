//! The web part of the fuzz smoke pass: every request saved under `fuzz/corpus/web/` is sent to
//! a running `unival live caption --serve` (the tiny bundle on a slideshow), which must answer
//! with HTTP or close, and still serve `GET /info` after each one
//! (`unival_tests::fuzz_targets::web`, the body of the `web` cargo fuzz target).
//!
//! `web_mutation_fuzz` (ignored; scripts/fuzz.sh runs it where `cargo fuzz` cannot) sends
//! mutations of the corpus for `UNIVAL_FUZZ_SECONDS` (default 10).

mod common;
mod live_support;

use common::tiny_caption_bundle;
use live_support::{slideshow, Live, FAST};
use std::net::SocketAddr;
use std::time::Duration;
use unival_tests::fuzz_targets::mutate::{fuzz_dir, read_corpus, run_for};
use unival_tests::fuzz_targets::web;

/// A live caption server on a free port; its address.
fn start_server(slides: &std::path::Path) -> (Live, SocketAddr) {
    let model = tiny_caption_bundle().to_str().unwrap().to_string();
    let source = format!("images:{}", slides.display());
    let mut args = vec![
        "live",
        "caption",
        "--model",
        &model,
        "--source",
        &source,
        "--loop",
        "--fps",
        "5",
        "--serve",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(&FAST);
    let mut live = Live::spawn(&args);
    let line = live.wait_stderr(Duration::from_secs(120), "serving http://");
    let addr = line
        .trim()
        .trim_start_matches("serving http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("no address in {line:?}: {e}"));
    (live, addr)
}

#[test]
fn web_corpus_is_answered_or_closed() {
    let slides = slideshow();
    let (mut live, addr) = start_server(slides.path());
    web::assert_alive(addr);
    let inputs = read_corpus(&fuzz_dir().join("corpus/web"));
    assert!(!inputs.is_empty(), "fuzz/corpus/web/ is empty");
    for (file, data) in &inputs {
        let outcome = web::exchange(addr, data);
        eprintln!("web: {}: {outcome:?}", file.display());
        web::assert_alive(addr);
    }
    live.kill();
}

#[test]
#[ignore = "fuzzing run: scripts/fuzz.sh"]
fn web_mutation_fuzz() {
    let seconds: u64 = std::env::var("UNIVAL_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let slides = slideshow();
    let (mut live, addr) = start_server(slides.path());
    let corpus: Vec<Vec<u8>> = read_corpus(&fuzz_dir().join("corpus/web"))
        .into_iter()
        .map(|(_, data)| data)
        .collect();
    let artifacts = fuzz_dir().join("artifacts/web");
    let seed = 0x3eb_0000 + u64::from(std::process::id());
    let run = |data: &[u8]| web::run(addr, data);
    let report = run_for(
        &run,
        &corpus,
        Duration::from_secs(seconds),
        seed,
        &artifacts,
    );
    println!(
        "FUZZ web: {} executions in {seconds} s, {} crashes",
        report.executions,
        report.crashes.len()
    );
    live.kill();
    assert!(
        report.crashes.is_empty(),
        "crashing inputs: {:?}",
        report.crashes
    );
}
