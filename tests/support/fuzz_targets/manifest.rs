//! `manifest.json`: parsing, the format checks of [`Manifest::load`], and the file checks of
//! [`Manifest::verify_files`] on a bundle folder holding nothing but the manifest.

use super::temp_file;
use unival_manifest::Manifest;

/// Loads `data` as a bundle's manifest. A manifest that loads must save and load again with the
/// same files and graphs (floats are left out: serde_json's parser may move a decimal by one
/// ulp), and cannot verify any file: the bundle folder holds no other file, so a pass would mean
/// a file outside the bundle was read.
pub fn run(data: &[u8]) {
    let (dir, _path) = temp_file("manifest.json", data);
    let Ok(manifest) = Manifest::load(dir.path()) else {
        return;
    };
    let _ = manifest.bundle_hash();
    let listed_other_files = manifest.files.keys().any(|name| name != "manifest.json");
    if listed_other_files {
        assert!(
            manifest.verify_files(dir.path()).is_err(),
            "verify_files passed on files that are not in the bundle: {:?}",
            manifest.files.keys().collect::<Vec<_>>()
        );
    }
    let copy = tempfile::tempdir().expect("creating a temporary directory");
    manifest
        .save(copy.path())
        .expect("saving a loaded manifest");
    let again = Manifest::load(copy.path()).expect("loading a saved manifest");
    assert_eq!(
        again.files, manifest.files,
        "save + load changed the file list"
    );
    assert_eq!(
        again.graphs, manifest.graphs,
        "save + load changed the graphs"
    );
    assert_eq!(
        again.task.task, manifest.task.task,
        "save + load changed the task"
    );
}
