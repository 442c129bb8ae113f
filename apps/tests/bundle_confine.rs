//! Issue 15, item 2, through the real binary: a bundle may name only plain files inside its own
//! folder. A manifest listing `../../../etc/hostname` (with its true sha256), an absolute path,
//! a listed file that is a symbolic link leading out, and a graph whose external data points
//! outside are each refused by `unival inspect` (and the last by a task, before ONNX Runtime
//! opens the graph), with one line naming the offending entry.

mod common;

use common::{assert_clean_failure, scratch, tiny_caption_bundle, unival};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A copy of the tiny caption bundle in `dir`.
fn copy_bundle(dir: &Path) -> PathBuf {
    let out = dir.join("bundle");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(tiny_caption_bundle()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), out.join(entry.file_name())).unwrap();
    }
    out
}

fn manifest(bundle: &Path) -> Value {
    let text = std::fs::read_to_string(bundle.join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn save(bundle: &Path, m: &Value) {
    std::fs::write(bundle.join("manifest.json"), m.to_string()).unwrap();
}

fn entry_for(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    serde_json::json!({
        "bytes": bytes.len(),
        "sha256": hex::encode(Sha256::digest(&bytes)),
    })
}

fn inspect(bundle: &Path) -> common::Run {
    unival(["inspect", bundle.to_str().unwrap()])
}

#[test]
fn the_issue_manifest_reaching_etc_hostname_is_refused() {
    let dir = scratch();
    let bundle = copy_bundle(dir.path());
    assert_eq!(inspect(&bundle).code, 0, "the copy itself is fine");
    // A file outside the bundle, listed with its true size and hash (the issue used
    // /etc/hostname; a file of our own keeps the test independent of the machine).
    let outside = dir.path().join("secret.txt");
    std::fs::write(&outside, b"not the bundle's business\n").unwrap();
    let original = manifest(&bundle);
    for (name, reason) in [
        ("../secret.txt", "climbs out with `..`"),
        ("../../../etc/hostname", "climbs out with `..`"),
        (outside.to_str().unwrap(), "is an absolute path"),
    ] {
        let mut m = original.clone();
        m["files"][name] = entry_for(&outside);
        save(&bundle, &m);
        let run = inspect(&bundle);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        assert_clean_failure(&run, &format!("`{name}`"), &["refusing", reason]);
        assert!(!run.stderr.contains("match"), "{}", run.stderr);
    }
}

#[cfg(unix)]
#[test]
fn a_listed_file_that_links_outside_is_refused() {
    let dir = scratch();
    let bundle = copy_bundle(dir.path());
    let m = manifest(&bundle);
    let name = m["files"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| !k.ends_with(".onnx"))
        .unwrap()
        .clone();
    // The same bytes, moved out and linked back in: the hash would match.
    let outside = dir.path().join("moved-out");
    std::fs::rename(bundle.join(&name), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, bundle.join(&name)).unwrap();
    let run = inspect(&bundle);
    assert_clean_failure(
        &run,
        &format!("`{name}`"),
        &["refusing", "symbolic link", "outside the bundle folder"],
    );
    // A link that stays inside the bundle is fine.
    std::fs::remove_file(bundle.join(&name)).unwrap();
    std::fs::rename(&outside, bundle.join("real-copy")).unwrap();
    std::os::unix::fs::symlink(bundle.join("real-copy"), bundle.join(&name)).unwrap();
    assert_eq!(inspect(&bundle).code, 0, "{}", inspect(&bundle).stderr);
}

#[test]
fn external_data_pointing_outside_is_refused_before_onnx_runtime_opens_it() {
    let dir = scratch();
    let bundle = copy_bundle(dir.path());
    let mut m = manifest(&bundle);
    let (graph_file, data_file) = m["graphs"]
        .as_object()
        .unwrap()
        .values()
        .find_map(|g| Some((g["file"].as_str()?, g["external_data"].as_str()?)))
        .map(|(g, d)| (g.to_string(), d.to_string()))
        .expect("the tiny bundle keeps some weights in .onnx.data files");
    // Rewrite the location inside the graph to a name of the same length (so the protobuf
    // stays valid) that climbs out, and re-hash the graph so only the location is wrong.
    let bad = format!("../{}", "x".repeat(data_file.len() - 3));
    let graph = bundle.join(&graph_file);
    let bytes = std::fs::read(&graph).unwrap();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let needle = data_file.as_bytes();
    while i < bytes.len() {
        if bytes[i..].starts_with(needle) {
            out.extend_from_slice(bad.as_bytes());
            i += needle.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    assert_ne!(out, bytes, "the location was found in {graph_file}");
    std::fs::write(&graph, &out).unwrap();
    m["files"][&graph_file] = entry_for(&graph);
    save(&bundle, &m);
    let run = inspect(&bundle);
    assert_clean_failure(
        &run,
        &format!("`{bad}`"),
        &["refusing", &graph_file, "climbs out with `..`"],
    );
    // A task refuses the bundle before any graph reaches ONNX Runtime.
    let picture = dir.path().join("p.png");
    image::RgbImage::from_pixel(32, 32, image::Rgb([9, 99, 199]))
        .save(&picture)
        .unwrap();
    let run = unival([
        "caption",
        "--model",
        bundle.to_str().unwrap(),
        picture.to_str().unwrap(),
    ]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains(&format!("refusing `{bad}`")),
        "{}",
        run.stderr
    );
}
