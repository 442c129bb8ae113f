//! Bundles are confined to their folder (issue 15): bundles are downloaded and shared, so a
//! name in `manifest.json` (or an external-data `location` inside a graph, [`crate::onnx_refs`])
//! must not reach any file outside the bundle directory.
//!
//! The rule, in one place: a bundle names its files by **plain file names** — one path
//! component, no separators, not `.` or `..`, not absolute — and a name that is a symbolic link
//! must resolve to a file inside the bundle directory. The exporter writes nothing else
//! (`export/src/bundle/write.rs`), so subfolders are not allowed: the simplest rule that every
//! real bundle passes.

use crate::ManifestError;
use std::path::{Path, PathBuf};

/// Why a name is not a plain file name inside the bundle.
fn lexical_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name.contains('\0') {
        return Some("contains a NUL byte");
    }
    if name.starts_with('/') || name.starts_with('\\') || Path::new(name).is_absolute() {
        return Some("is an absolute path");
    }
    if name.split(['/', '\\']).any(|part| part == "..") {
        return Some("climbs out with `..`");
    }
    if name.contains('/') || name.contains('\\') {
        return Some("has a path separator (bundle files are plain names in the bundle folder)");
    }
    // A drive prefix (`C:x`) on Windows; harmless elsewhere but never written by the exporter.
    if name.contains(':') {
        return Some("has a drive or stream prefix (`:`)");
    }
    if name == "." {
        return Some("names the bundle folder itself");
    }
    None
}

/// The path of the bundle file `name` inside `dir`, or [`ManifestError::OutsideBundle`] when
/// `name` is not a plain file name or is a symbolic link that resolves outside `dir`.
/// `named_in` is the file that names it (the manifest, or a graph), for the error.
///
/// A name that does not exist is returned as is: whoever opens it reports it missing.
pub fn bundle_path(dir: &Path, name: &str, named_in: &Path) -> Result<PathBuf, ManifestError> {
    let refuse = |reason: String| ManifestError::OutsideBundle {
        named_in: named_in.to_path_buf(),
        entry: name.to_string(),
        reason,
    };
    if let Some(reason) = lexical_problem(name) {
        return Err(refuse(reason.to_string()));
    }
    let path = dir.join(name);
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Ok(path);
    };
    if meta.file_type().is_symlink() {
        let resolved = std::fs::canonicalize(&path)
            .map_err(|e| refuse(format!("is a symbolic link that cannot be resolved ({e})")))?;
        let root = std::fs::canonicalize(dir).map_err(|source| ManifestError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if !resolved.starts_with(&root) {
            return Err(refuse(format!(
                "is a symbolic link to {}, outside the bundle folder",
                resolved.display()
            )));
        }
    }
    Ok(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn reason(dir: &Path, name: &str) -> String {
        match bundle_path(dir, name, Path::new("m.json")).unwrap_err() {
            ManifestError::OutsideBundle { entry, reason, .. } => {
                assert_eq!(entry, name);
                reason
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn plain_names_pass_and_others_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(
            bundle_path(d, "encoder.onnx", Path::new("m")).unwrap(),
            d.join("encoder.onnx")
        );
        assert_eq!(reason(d, "/etc/hostname"), "is an absolute path");
        assert_eq!(reason(d, "../../../etc/hostname"), "climbs out with `..`");
        assert_eq!(reason(d, ".."), "climbs out with `..`");
        assert!(reason(d, "sub/encoder.onnx").starts_with("has a path separator"));
        assert!(reason(d, "a\\b").starts_with("has a path separator"));
        assert_eq!(reason(d, ""), "is empty");
        assert_eq!(reason(d, "."), "names the bundle folder itself");
        assert_eq!(reason(d, "a\0b"), "contains a NUL byte");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_must_stay_inside() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, b"x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("real.onnx"), b"y").unwrap();
        std::os::unix::fs::symlink(&secret, d.join("out.onnx")).unwrap();
        std::os::unix::fs::symlink(d.join("real.onnx"), d.join("in.onnx")).unwrap();
        assert!(reason(d, "out.onnx").contains("outside the bundle folder"));
        assert_eq!(
            bundle_path(d, "in.onnx", Path::new("m")).unwrap(),
            d.join("in.onnx")
        );
        std::os::unix::fs::symlink(d.join("gone"), d.join("dangling")).unwrap();
        assert!(reason(d, "dangling").contains("cannot be resolved"));
    }
}
