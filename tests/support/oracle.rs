//! The oracle reference set written by the original PyTorch UnIVAL (`shared/oracle/`, see its
//! README): locating it, reading a case's arrays and `meta.json`, and comparing our tensors with
//! the reference.
//!
//! Tests that need the oracle call [`OracleDir::find`] and return early on `None`; that prints a
//! loud `SKIPPED:` line, and under `CI=true` it panics instead, so CI can never pass by skipping.

use crate::npy::{self, NpyError};
use ndarray::{ArrayD, ArrayViewD};
use std::path::{Path, PathBuf};

/// Environment variable naming the oracle directory (the one holding `dev/`).
pub const ORACLE_ENV: &str = "UNIVAL_ORACLE";

/// The oracle directory (it holds `README.md` and `dev/<case>/`).
#[derive(Debug, Clone)]
pub struct OracleDir {
    root: PathBuf,
}

impl OracleDir {
    /// `$UNIVAL_ORACLE`, else the first `shared/oracle` found beside the workspace or one of its
    /// ancestors (`<workspace>/../shared/oracle` for a checkout next to `shared/`). When none
    /// exists, prints `SKIPPED: oracle not found at …` on stderr and returns `None`; with
    /// `CI=true` it panics with that message.
    pub fn find() -> Option<OracleDir> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let env = std::env::var_os(ORACLE_ENV).filter(|v| !v.is_empty());
        Self::find_in(env.map(PathBuf::from), &workspace, is_ci())
    }

    /// [`OracleDir::find`] with its inputs given (testable without touching the environment).
    pub fn find_in(env: Option<PathBuf>, workspace: &Path, ci: bool) -> Option<OracleDir> {
        let tried: Vec<PathBuf> = match env {
            Some(p) => vec![p],
            None => workspace
                .ancestors()
                .map(|a| a.join("shared").join("oracle"))
                .collect(),
        };
        if let Some(root) = tried.iter().find(|p| p.join("dev").is_dir()) {
            return Some(OracleDir { root: root.clone() });
        }
        let shown: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        let msg = format!(
            "SKIPPED: oracle not found at {} (set {ORACLE_ENV}=/path/to/oracle)",
            shown.join(", ")
        );
        if ci {
            panic!("{msg}");
        }
        eprintln!("{msg}");
        None
    }

    /// The oracle directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Case `name` of the `dev` set (`caption`, `vqa`, `snli_ve`, `refcoco`, `video_caption`,
    /// `video_qa`, `audio_caption`, `audio_caption_cnn14`).
    pub fn case(&self, name: &str) -> OracleCase {
        OracleCase {
            name: name.to_string(),
            dir: self.root.join("dev").join(name),
        }
    }

    /// Names of the cases present (directories of `dev/` with a `meta.json`), sorted.
    pub fn cases(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join("dev"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("meta.json").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The checkpoint file `dev/checkpoints/<file>`.
    pub fn checkpoint(&self, file: &str) -> PathBuf {
        self.root.join("dev").join("checkpoints").join(file)
    }
}

/// Whether the tests run under CI (`CI=true` or `CI=1`), where a missing input must fail, not skip.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// One oracle case directory.
#[derive(Debug, Clone)]
pub struct OracleCase {
    name: String,
    dir: PathBuf,
}

/// Why a case file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OracleError {
    /// An array file could not be read.
    #[error(transparent)]
    Npy(#[from] NpyError),
    /// `meta.json` could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `meta.json` is not valid JSON.
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl OracleCase {
    /// Case name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The case directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
    /// A file of the case (`img0.png`, `caption_test.tsv`, …).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// Whether array `<array>.npy` exists in this case.
    pub fn has(&self, array: &str) -> bool {
        self.npy_path(array).is_file()
    }
    /// Path of array `<array>.npy`.
    pub fn npy_path(&self, array: &str) -> PathBuf {
        self.dir.join(format!("{array}.npy"))
    }
    /// `meta.json` as JSON.
    pub fn meta(&self) -> Result<serde_json::Value, OracleError> {
        let path = self.dir.join("meta.json");
        let text = std::fs::read_to_string(&path).map_err(|source| OracleError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| OracleError::Json { path, source })
    }
    /// Array `<array>.npy` as f32.
    pub fn f32(&self, array: &str) -> Result<ArrayD<f32>, OracleError> {
        Ok(npy::read_f32(&self.npy_path(array))?)
    }
    /// Array `<array>.npy` as i64.
    pub fn i64(&self, array: &str) -> Result<ArrayD<i64>, OracleError> {
        Ok(npy::read_i64(&self.npy_path(array))?)
    }
    /// Array `<array>.npy` as bool.
    pub fn bool(&self, array: &str) -> Result<ArrayD<bool>, OracleError> {
        Ok(npy::read_bool(&self.npy_path(array))?)
    }
}

fn check_shapes(a: &ArrayViewD<f32>, b: &ArrayViewD<f32>) {
    assert_eq!(
        a.shape(),
        b.shape(),
        "compared arrays differ in shape: {:?} vs {:?}",
        a.shape(),
        b.shape()
    );
}

/// `max |a − b|` over all elements; `+inf` when either side has a NaN where the other does not.
/// Panics when the shapes differ (a test failure, with both shapes).
pub fn max_abs_diff<'a, 'b>(
    a: impl Into<ArrayViewD<'a, f32>>,
    b: impl Into<ArrayViewD<'b, f32>>,
) -> f32 {
    let (a, b) = (a.into(), b.into());
    check_shapes(&a, &b);
    let mut worst = 0.0f32;
    for (x, y) in a.iter().zip(b.iter()) {
        if x.is_nan() && y.is_nan() {
            continue;
        }
        let d = (x - y).abs();
        if d.is_nan() {
            return f32::INFINITY;
        }
        worst = worst.max(d);
    }
    worst
}

/// `max |got − reference| / max |reference|`: the oracle README's tolerance measure for logits
/// that reach |x| ≈ 300. Falls back to the absolute difference when the reference is all zero.
pub fn rel_max_err<'a, 'b>(
    got: impl Into<ArrayViewD<'a, f32>>,
    reference: impl Into<ArrayViewD<'b, f32>>,
) -> f32 {
    let (got, reference) = (got.into(), reference.into());
    let diff = max_abs_diff(got.view(), reference.view());
    let scale = reference.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if scale > 0.0 {
        diff / scale
    } else {
        diff
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn diffs_measure_the_worst_element() {
        let r = array![[1.0f32, -300.0], [2.0, 0.5]].into_dyn();
        let g = array![[1.0f32, -299.7], [2.1, 0.5]].into_dyn();
        let d = max_abs_diff(&g, &r);
        assert!((d - 0.3).abs() < 1e-4, "{d}");
        assert!((rel_max_err(&g, &r) - 0.3 / 300.0).abs() < 1e-6);
        let nan = array![f32::NAN, 1.0].into_dyn();
        let one = array![0.0f32, 1.0].into_dyn();
        assert_eq!(max_abs_diff(&nan, &one), f32::INFINITY);
        assert_eq!(max_abs_diff(&nan, &nan), 0.0);
    }

    #[test]
    #[should_panic(expected = "differ in shape")]
    fn shape_mismatch_fails_the_test() {
        let a = ndarray::ArrayD::<f32>::zeros(vec![2, 3]);
        let b = ndarray::ArrayD::<f32>::zeros(vec![3, 2]);
        max_abs_diff(&a, &b);
    }

    #[test]
    fn missing_oracle_is_skipped_or_fatal_under_ci() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(OracleDir::find_in(Some(tmp.path().join("none")), tmp.path(), false).is_none());
        let fatal = std::panic::catch_unwind(|| {
            OracleDir::find_in(Some("/nonexistent/oracle".into()), Path::new("/"), true)
        });
        let msg = fatal.unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(
            msg.starts_with("SKIPPED: oracle not found at /nonexistent/oracle"),
            "{msg}"
        );
        std::fs::create_dir_all(tmp.path().join("ws/shared/oracle/dev")).unwrap();
        let found = OracleDir::find_in(None, &tmp.path().join("ws/deep/er"), false).unwrap();
        assert_eq!(found.root(), tmp.path().join("ws/shared/oracle"));
    }
}
