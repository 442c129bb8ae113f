//! `unival eval` acceptance (issue 13, items 2–3) through the real binary:
//! - the demo model on its 20 test images (`captions.tsv`): every prediction equals the
//!   original's output (`expected.json`), exact-match rate and CIDEr-D reported;
//! - a run killed mid-way and resumed ends with the same file as an uninterrupted run, no
//!   duplicates; shards merged equal the unsharded run;
//! - dataset formats (COCO JSON, the original's TSV) and bad input.
//!
//! The Perception Test path is in `eval_perception.rs`.

mod common;

use common::{run_ok, shared_dir, unival};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_unival"))
}

/// The demo checkpoint exported for captioning, once per test process.
fn demo_bundle() -> &'static Path {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("eval_cli_demo");
        let _ = std::fs::remove_dir_all(&dir);
        let ckpt =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/checkpoints/demo_shapes.pt");
        common::export(&ckpt, "caption", &dir, &[]).ok();
        dir
    })
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The metrics object on the last stdout line of a `--json` run.
fn last_json(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    serde_json::from_str(text.lines().last().expect("no stdout")).unwrap()
}

fn eval_caption(data: &Path, images: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["eval", "caption", "--json", "--model"])
        .arg(demo_bundle())
        .arg("--data")
        .arg(data)
        .arg("--images")
        .arg(images)
        .arg("--out")
        .arg(out)
        .args(extra);
    c
}

#[test]
fn demo_eval_reproduces_the_original_and_scores_it() {
    let Some(s) = shared_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let test = s.join("demo/test");
    let out = dir.path().join("demo.jsonl");
    let run = run_ok(&mut eval_caption(
        &test.join("captions.tsv"),
        &test,
        &out,
        &[],
    ));
    let metrics = last_json(&run.stdout);
    eprintln!("{metrics}");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(test.join("expected.json")).unwrap())
            .unwrap();
    let results = expected["results"].as_array().unwrap();
    let records = lines(&out);
    assert_eq!(records.len(), 20);
    let mut same = 0;
    let mut original_exact = 0;
    for w in results {
        let file = format!("{}.png", w["image_id"].as_str().unwrap());
        let r = records.iter().find(|r| r["id"] == file.as_str()).unwrap();
        same += usize::from(r["prediction"] == w["hypothesis"] && r["tokens"] == w["tokens"]);
        original_exact += usize::from(w["hypothesis"] == w["reference"]);
    }
    eprintln!("predictions equal to the original's: {same}/20");
    assert_eq!(
        same, 20,
        "every prediction is the original's, token for token"
    );
    let m = &metrics["metrics"];
    let exact = m["exact_match"].as_f64().unwrap();
    assert_eq!(
        exact,
        original_exact as f64 / 20.0,
        "the original's exact-match rate"
    );
    let cider = m["cider_d"].as_f64().unwrap();
    assert!(cider.is_finite() && cider > 0.0, "{cider}");
    assert_eq!(metrics["items"], 20);
    assert_eq!(metrics["errors"], 0);
    assert!(metrics["items_per_second"].as_f64().unwrap() > 0.0);
}

/// The demo's images twice over, in the original's caption TSV (uniq_id, image_id,
/// captions, labels, file name): a run long enough to be killed mid-way.
fn long_tsv(test: &Path, to: &Path) {
    let refs = std::fs::read_to_string(test.join("captions.tsv")).unwrap();
    let mut tsv = String::new();
    let mut n = 0;
    for _ in 0..2 {
        for line in refs.lines().skip(1) {
            let (file, caption) = line.split_once('\t').unwrap();
            tsv.push_str(&format!("{n}\t{file}\t{caption}\t\t{file}\n"));
            n += 1;
        }
    }
    std::fs::write(to, tsv).unwrap();
}

/// Asserts two results files hold the same records in the same order: everything equal but
/// the scores, which may differ in their last bits between processes (ONNX Runtime's threaded
/// reductions), within 1e-6.
fn assert_same_results(got: &Path, want: &str) {
    let got = std::fs::read_to_string(got).unwrap();
    let (got, want): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        let mut g: Value = serde_json::from_str(g).unwrap();
        let mut w: Value = serde_json::from_str(w).unwrap();
        let gs = g.as_object_mut().unwrap().remove("score").unwrap();
        let ws = w.as_object_mut().unwrap().remove("score").unwrap();
        assert_eq!(g, w);
        assert!((gs.as_f64().unwrap() - ws.as_f64().unwrap()).abs() <= 1e-6);
    }
}

fn without_rate(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("items_per_second");
    v
}

/// Asserts two metric reports are equal, numbers within 1e-9 relative (a corpus metric's sum
/// may be taken in another order in another process).
fn assert_same_metrics(got: &Value, want: &Value) {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{g} vs {w}");
        }
        (Value::Object(g), Value::Object(w)) => {
            assert_eq!(g.keys().collect::<Vec<_>>(), w.keys().collect::<Vec<_>>());
            for (k, v) in w {
                assert_same_metrics(&g[k], v);
            }
        }
        _ => assert_eq!(got, want),
    }
}

#[test]
fn killed_run_resumes_and_shards_merge_to_the_unsharded_run() {
    let Some(s) = shared_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let test = s.join("demo/test");
    let data = dir.path().join("long.tsv");
    long_tsv(&test, &data);
    let full = dir.path().join("full.jsonl");
    let full_run = run_ok(&mut eval_caption(&data, &test, &full, &[]));
    let full_metrics = without_rate(last_json(&full_run.stdout));
    let full_text = std::fs::read_to_string(&full).unwrap();
    assert_eq!(full_text.lines().count(), 40);

    // Killed mid-way (after a few lines), then a half-written line as a crash leaves it.
    let killed = dir.path().join("killed.jsonl");
    let mut child = eval_caption(&data, &test, &killed, &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(&killed).map_or(0, |t| t.lines().count()) < 5 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read_to_string(&killed).unwrap();
    let done = before.lines().count();
    eprintln!("killed after {done} of 40 items");
    assert!(done < 40, "the run finished before it was killed");
    let mut partial = before.into_bytes();
    partial.extend_from_slice(b"{\"index\":99,\"id\":\"half");
    std::fs::write(&killed, partial).unwrap();
    // Without --resume the file is not overwritten or mixed.
    let refused = eval_caption(&data, &test, &killed, &[]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--resume"));
    let resumed = run_ok(&mut eval_caption(&data, &test, &killed, &["--resume"]));
    assert_same_results(&killed, &full_text);
    assert_same_metrics(&without_rate(last_json(&resumed.stdout)), &full_metrics);

    // Two shards, merged.
    let shards: Vec<PathBuf> = (0..2)
        .map(|i| {
            let out = dir.path().join(format!("shard{i}.jsonl"));
            run_ok(&mut eval_caption(
                &data,
                &test,
                &out,
                &["--shard", &format!("{i}/2")],
            ));
            assert_eq!(lines(&out).len(), 20);
            out
        })
        .collect();
    let merged = dir.path().join("merged.jsonl");
    let mut merge = bin();
    merge
        .args(["eval", "merge", "--json", "--out"])
        .arg(&merged)
        .args(&shards);
    let merge_run = run_ok(&mut merge);
    assert_same_results(&merged, &full_text);
    assert_same_metrics(&last_json(&merge_run.stdout), &full_metrics);

    // --limit cuts the dataset before sharding.
    let limited = dir.path().join("limited.jsonl");
    run_ok(&mut eval_caption(
        &data,
        &test,
        &limited,
        &["--limit", "7", "--shard", "1/3"],
    ));
    let ids: Vec<i64> = lines(&limited)
        .iter()
        .map(|r| r["index"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 4]);
}

#[test]
fn coco_json_reader_and_bad_inputs() {
    let Some(s) = shared_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let test = s.join("demo/test");
    let coco = dir.path().join("captions_test.json");
    let doc = serde_json::json!({
        "images": [{"id": 1, "file_name": "100000.png"}, {"id": 2, "file_name": "missing.png"}],
        "annotations": [
            {"image_id": 1, "caption": "a green triangle on the right"},
            {"image_id": 1, "caption": "one green triangle"},
            {"image_id": 2, "caption": "nothing"}
        ]
    });
    std::fs::write(&coco, doc.to_string()).unwrap();
    let out = dir.path().join("coco.jsonl");
    let run = eval_caption(&coco, &test, &out, &[]).output().unwrap();
    // The missing image fails (exit 1, named on stderr); the other is scored.
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("missing.png") && !err.contains("panicked"),
        "{err}"
    );
    let records = lines(&out);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["prediction"], "a green triangle on the right");
    assert!(records[1]["error"].is_string());
    let m = last_json(&run.stdout);
    assert_eq!(m["errors"], 1);
    assert_eq!(m["metrics"]["exact_match"], 0.5);
    // --resume runs the failed item again (here: now that its image is there).
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(test.join("100000.png"), images.join("100000.png")).unwrap();
    std::fs::copy(test.join("100000.png"), images.join("missing.png")).unwrap();
    let rerun = run_ok(&mut eval_caption(&coco, &images, &out, &["--resume"]));
    let records = lines(&out);
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.get("error").is_none()));
    assert_eq!(last_json(&rerun.stdout)["errors"], 0);

    // A dataset that is not there, or not a dataset: one clear line, exit 1, no panic.
    let bad = dir.path().join("notes.json");
    std::fs::write(&bad, "{not json").unwrap();
    for (data, needle) in [
        (dir.path().join("absent.tsv"), "absent.tsv"),
        (bad.clone(), "notes.json"),
    ] {
        let r = unival(
            [
                "eval".as_ref(),
                "caption".as_ref(),
                "--model".as_ref(),
                demo_bundle().as_os_str(),
                "--data".as_ref(),
                data.as_os_str(),
                "--out".as_ref(),
                dir.path().join("x.jsonl").as_os_str(),
            ]
            .to_vec(),
        );
        common::assert_clean_failure(&r, needle, &[]);
    }
}
