//! Fuzz target bodies, shared by the `cargo fuzz` binaries in `fuzz/` and by the corpus replay
//! test (tests/tests/fuzz_corpus.rs), so CI replays every saved input through exactly the code
//! the fuzzer ran.
//!
//! Each target takes arbitrary bytes, feeds them to one reader of user input, and panics only
//! when that reader breaks its contract: it panicked, or it returned something that cannot be
//! right (checked by the target's properties). An error result is the expected answer to bad
//! input and passes.

pub mod audio;
pub mod image;
pub mod manifest;
pub mod mutate;
pub mod prompts;
pub mod tokenizer;
pub mod video;
pub mod web;

/// A target that needs nothing but its input.
pub type Target = fn(&[u8]);

/// The self-contained targets by name (the name is the corpus folder `fuzz/corpus/<name>/` and
/// the `cargo fuzz` target). `web` is not here: it needs a running server ([`web::exchange`]).
pub const TARGETS: [(&str, Target); 6] = [
    ("image", image::run),
    ("video", video::run),
    ("audio", audio::run),
    ("manifest", manifest::run),
    ("tokenizer", tokenizer::run),
    ("prompts", prompts::run),
];

/// Writes `data` to a fresh temporary file named `name` (for readers that take a path) and
/// returns the directory holding it (removed when dropped).
fn temp_file(name: &str, data: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("unival-fuzz")
        .tempdir()
        .expect("creating a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, data).expect("writing the fuzz input");
    (dir, path)
}
