//! A coverage-free mutation runner: the fallback of scripts/fuzz.sh where `cargo fuzz` cannot
//! run, and a way to fuzz the targets from a normal test build. It mutates the saved corpus
//! (bit flips, boundary values, cuts, repeats, splices) with a seeded generator for a set time;
//! an input that makes a target panic is saved under `fuzz/artifacts/<target>/` and reported.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Largest mutated input (bytes): bounds time and memory per execution.
const MAX_INPUT: usize = 1 << 20;
/// Values that sit on the edges of integer ranges, written over header fields.
const BOUNDARIES: [u32; 8] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

/// What one run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs executed.
    pub executions: u64,
    /// Saved inputs that panicked the target.
    pub crashes: Vec<PathBuf>,
}

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Applies one to four random edits to `input`, splicing from `corpus` now and then.
fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next_u64() as u8;
            }
            2 if len >= 4 => {
                let i = rng.below(len - 3);
                let v = BOUNDARIES[rng.below(BOUNDARIES.len())];
                let bytes = if rng.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                out[i..i + 4].copy_from_slice(&bytes);
            }
            3 if len > 0 => out.truncate(rng.below(len)),
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let piece = out[start..end].to_vec();
                let at = rng.below(len);
                out.splice(at..at, piece);
            }
            5 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                out.drain(start..end);
            }
            _ => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let at = rng.below(out.len() + 1);
                    out.truncate(at);
                    out.extend_from_slice(&other[from..]);
                }
            }
        }
    }
    out.truncate(MAX_INPUT);
    out
}

/// Runs `target` on mutations of `corpus` for `time`, saving panicking inputs under
/// `artifacts/`. `corpus` must not be empty.
pub fn run_for(
    target: &dyn Fn(&[u8]),
    corpus: &[Vec<u8>],
    time: Duration,
    seed: u64,
    artifacts: &Path,
) -> Report {
    let mut rng = Rng(seed | 1);
    let mut report = Report::default();
    let start = Instant::now();
    while start.elapsed() < time {
        let base = &corpus[rng.below(corpus.len())];
        let input = mutate(&mut rng, base, corpus);
        report.executions += 1;
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            report.crashes.push(save(artifacts, &input));
        }
    }
    report
}

/// Saves a crashing input as `crash-<fnv-1a hash>`; returns its path.
fn save(dir: &Path, input: &[u8]) -> PathBuf {
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("crash-{hash:016x}"));
    std::fs::create_dir_all(dir).expect("creating the artifacts directory");
    std::fs::write(&path, input).expect("saving a crashing input");
    eprintln!("CRASH saved to {}", path.display());
    path
}

/// The files of a corpus folder, sorted by name.
pub fn read_corpus(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, data)
        })
        .collect()
}

/// `fuzz/` of this checkout.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}
