//! Harness for tests that drive the real `unival` binary: running it, capturing its output,
//! shared tiny checkpoints and bundles built once per test process, and checks of the
//! one-line error contract.

#![allow(dead_code)] // each test file uses its own subset

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What one run of `unival` did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`-1` when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the whole output unless the run exited 0.
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "unival failed:\n{}", self.stderr);
        self
    }
}

/// Runs `unival ARGS…` to completion.
pub fn unival<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_unival"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("spawning unival");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh scratch directory for one test (removed when dropped).
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("export_cli")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("creating a scratch directory")
}

/// Directory for fixtures shared by the tests of this process, emptied on first use (so one
/// copy at most is left behind under the target directory).
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("export_cli_fixtures");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the fixture directory");
        dir
    })
}

/// Writes `unival export synth --preset tiny ARGS --out DIR/NAME` once per process.
fn synth_once(cell: &'static OnceLock<PathBuf>, name: &str, args: &[&str]) -> &'static Path {
    cell.get_or_init(|| {
        let out = fixtures().join(name);
        let mut all = vec!["export", "synth", "--preset", "tiny", "--seed", "7"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out", out.to_str().expect("utf-8 path")]);
        unival(all).ok();
        out
    })
}

/// Tiny checkpoint, fp32 storage, no EMA.
pub fn tiny_fp32() -> &'static Path {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    synth_once(&CELL, "tiny_fp32.pt", &["--dtype", "fp32"])
}

/// Tiny checkpoint, fp16 storage, with `extra_state['ema']`, saved for VQA.
pub fn tiny_fp16_ema() -> &'static Path {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    synth_once(
        &CELL,
        "tiny_fp16_ema.pt",
        &["--dtype", "fp16", "--ema", "--task", "vqa_gen"],
    )
}

/// The caption bundle of [`tiny_fp32`] (weights inline), exported once per process.
pub fn tiny_caption_bundle() -> &'static Path {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        let out = fixtures().join("caption_bundle");
        export(tiny_fp32(), "caption", &out, &[]).ok();
        out
    })
}

/// `unival export --checkpoint CKPT --task TASK --out OUT EXTRA…`.
pub fn export(checkpoint: &Path, task: &str, out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec![
        "export".as_ref(),
        "--checkpoint".as_ref(),
        checkpoint.as_os_str(),
        "--task".as_ref(),
        task.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(|s| OsStr::new(*s)));
    unival(args)
}

/// Asserts the one-line failure contract: non-zero exit, stderr is exactly one line starting
/// with `error: ` and naming `names` (the file name, or the bad flag value) exactly once, with
/// every `needles` entry, and no panic anywhere.
pub fn assert_clean_failure(run: &Run, names: &str, needles: &[&str]) {
    assert_ne!(
        run.code, 0,
        "expected a failure, got success:\n{}",
        run.stderr
    );
    assert_ne!(run.code, 101, "exit code 101 is a panic:\n{}", run.stderr);
    assert!(
        !run.stderr.contains("panicked") && !run.stdout.contains("panicked"),
        "panic:\n{}",
        run.stderr
    );
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "expected one line:\n{}", run.stderr);
    let line = lines[0];
    eprintln!("{line}");
    assert!(line.starts_with("error: "), "{line}");
    assert_eq!(
        line.matches(names).count(),
        1,
        "message should name {names} once: {line}"
    );
    for n in needles {
        assert!(line.contains(n), "message lacks {n:?}: {line}");
    }
}

/// The file name of `path`, for [`assert_clean_failure`].
pub fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `../shared` (oracle and demo), from `$UNIVAL_SHARED` or the nearest ancestor's `shared/`.
/// `None` with a loud SKIPPED line when it is absent; a failure under `CI=true`.
pub fn shared_dir() -> Option<PathBuf> {
    let candidates = std::env::var_os("UNIVAL_SHARED")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|a| a.join("shared")),
        );
    for c in candidates {
        if c.join("oracle/dev").is_dir() && c.join("demo").is_dir() {
            return Some(c);
        }
    }
    let msg = "SKIPPED: ../shared (oracle and demo) not found; set UNIVAL_SHARED";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("{msg}");
    None
}

/// Runs `cmd`, failing the test with its stderr unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "command failed: {cmd:?}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A JSON array of token ids.
pub fn tokens(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_i64().unwrap())
        .collect()
}

/// Every beam of the CLI's `--json` output against the oracle's hypotheses (`beam_hypos[i]`):
/// tokens equal, scores within 1e-5 relative.
pub fn assert_beams(case: &str, got: &serde_json::Value, want: &serde_json::Value) {
    let want = want.as_array().unwrap();
    let beams = got["beams"].as_array().unwrap();
    assert_eq!(beams.len(), want.len(), "{case}: beam count");
    assert_eq!(
        tokens(&got["tokens"]),
        tokens(&want[0]["tokens"]),
        "{case}: best beam"
    );
    for (i, (b, w)) in beams.iter().zip(want).enumerate() {
        assert_eq!(
            tokens(&b["tokens"]),
            tokens(&w["tokens"]),
            "{case}: beam {i} tokens"
        );
        let (s, r) = (b["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
        let rel = (s - r).abs() / r.abs().max(1e-12);
        assert!(
            rel <= 1e-5,
            "{case}: beam {i} score {s} vs oracle {r} (rel {rel:.2e})"
        );
    }
}
