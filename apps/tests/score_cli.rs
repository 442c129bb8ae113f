//! `unival score`: every task's file formats, `--json` as one object, the table, and clear
//! errors with exit code 1. The numbers themselves are checked against pycocoevalcap in
//! `metrics/tests/coco_caption_parity.rs`; here the CLI must report the same ones.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn unival(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unival"))
        .arg("score")
        .args(args)
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn metrics_testdata(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../metrics/testdata");
    root.join(name).to_string_lossy().into_owned()
}

#[test]
fn caption_csv_json_matches_pycocoevalcap_numbers() {
    let csv = metrics_testdata("tricky_captions.csv");
    let doc = json_of(&unival(&[
        "caption",
        "--predictions",
        &csv,
        "--json",
        "--no-meteor",
    ]));
    let text = std::fs::read_to_string(metrics_testdata("coco_caption_expected.json")).unwrap();
    let expected: Value = serde_json::from_str(&text).unwrap();
    let want = &expected["tricky_captions"]["metrics"];
    assert_eq!(doc["items"], 30);
    let m = &doc["metrics"];
    assert!((m["cider_d"].as_f64().unwrap() - want["CIDEr"].as_f64().unwrap()).abs() < 1e-6);
    assert!((m["bleu_4"].as_f64().unwrap() - want["Bleu_4"].as_f64().unwrap()).abs() < 1e-6);
    assert!(m["meteor"].is_null() && m["spice"].is_null());
    let notes = doc["notes"].to_string();
    assert!(
        notes.contains("METEOR: skipped") && notes.contains("SPICE: not computed"),
        "{notes}"
    );
}

#[test]
fn coco_results_and_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let preds = write(
        dir.path(),
        "res.json",
        r#"[{"image_id": 1, "caption": "a dog runs."}, {"image_id": 2, "caption": "a red car"}]"#,
    );
    let refs = write(
        dir.path(),
        "ann.json",
        r#"{"images": [], "annotations": [{"image_id": 1, "caption": "A dog runs."}, {"image_id": 1, "caption": "a dog is running"}, {"image_id": 2, "caption": "a red car parked"}, {"image_id": 3, "caption": "unused"}]}"#,
    );
    let doc = json_of(&unival(&[
        "video-caption",
        "--predictions",
        &preds,
        "--references",
        &refs,
        "--json",
        "--no-meteor",
    ]));
    assert_eq!(doc["task"], "video-caption");
    assert_eq!(doc["items"], 2);
    assert!(doc["metrics"]["bleu_1"].as_f64().unwrap() > 0.8);

    let out = unival(&[
        "caption",
        "--predictions",
        &preds,
        "--references",
        &refs,
        "--no-meteor",
    ]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("caption: 2 items") && table.contains("cider_d"),
        "{table}"
    );
}

#[test]
fn vqa_accuracy_per_answer_type() {
    let dir = tempfile::tempdir().unwrap();
    let preds = write(
        dir.path(),
        "res.json",
        r#"[{"question_id": 7, "answer": "Two"}, {"question_id": 8, "answer": "yes"}]"#,
    );
    let answers = |a: &[&str]| {
        a.iter()
            .map(|x| format!(r#"{{"answer": "{x}"}}"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    let ann = format!(
        r#"{{"annotations": [{{"question_id": 7, "answer_type": "number", "answers": [{}]}}, {{"question_id": 8, "answer_type": "yes/no", "answers": [{}]}}]}}"#,
        answers(&["2", "2", "3", "3", "3", "3", "3", "3", "3", "3"]),
        answers(&["yes"; 10]),
    );
    let refs = write(dir.path(), "ann.json", &ann);
    let doc = json_of(&unival(&[
        "vqa",
        "--predictions",
        &preds,
        "--references",
        &refs,
        "--json",
    ]));
    let m = &doc["metrics"];
    assert!(
        (m["accuracy_number"].as_f64().unwrap() - 60.0).abs() < 1e-9,
        "{m}"
    );
    assert!((m["accuracy_yes/no"].as_f64().unwrap() - 100.0).abs() < 1e-9);
    assert!((m["accuracy"].as_f64().unwrap() - 80.0).abs() < 1e-9);
}

#[test]
fn refcoco_and_label_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let preds = write(dir.path(), "p.jsonl", "{\"uniq_id\": \"a\", \"box\": [0, 0, 10, 10]}\n{\"uniq_id\": \"b\", \"box\": [0, 0, 10, 10]}\n");
    let refs = write(
        dir.path(),
        "r.json",
        r#"[{"uniq_id": "a", "box": [0, 0, 10, 11]}, {"uniq_id": "b", "box": [20, 20, 30, 30]}]"#,
    );
    let doc = json_of(&unival(&[
        "refcoco",
        "--predictions",
        &preds,
        "--references",
        &refs,
        "--json",
    ]));
    assert_eq!(doc["metrics"]["acc@0.5"], 50.0);

    let preds = write(
        dir.path(),
        "l.json",
        r#"[{"id": 1, "label": "yes"}, {"id": 2, "label": "no"}, {"id": 3, "label": "maybe"}]"#,
    );
    let refs = write(
        dir.path(),
        "lr.json",
        r#"[{"id": 1, "label": "yes"}, {"id": 2, "label": "maybe"}, {"id": 3, "label": "maybe "}]"#,
    );
    let doc = json_of(&unival(&[
        "snli-ve",
        "--predictions",
        &preds,
        "--references",
        &refs,
        "--json",
    ]));
    assert!((doc["metrics"]["accuracy"].as_f64().unwrap() - 200.0 / 3.0).abs() < 1e-9);
}

#[test]
fn bad_inputs_fail_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let preds = write(
        dir.path(),
        "res.json",
        r#"[{"image_id": 9, "caption": "a cat"}]"#,
    );
    let refs = write(
        dir.path(),
        "ann.json",
        r#"{"annotations": [{"image_id": 1, "caption": "a dog"}]}"#,
    );
    let out = unival(&[
        "caption",
        "--predictions",
        &preds,
        "--references",
        &refs,
        "--no-meteor",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ann.json") && err.contains("\"9\""), "{err}");

    let broken = write(dir.path(), "broken.json", "[{\"image_id\": 1,");
    let out = unival(&["caption", "--predictions", &broken, "--references", &refs]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.json"));

    let out = unival(&["vqa", "--predictions", &preds]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--references"));
}

/// METEOR through the jar that `scripts/setup.sh` puts under `$UNIVAL_HOME/.cache/`, found by
/// the CLI itself; skipped loudly (failing under `CI=true`) when it is not there.
#[test]
fn caption_meteor_runs_the_setup_jar() {
    let home = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let jar = home.join(".cache/pycocoevalcap/meteor/meteor-1.5.jar");
    if !jar.is_file() {
        let msg = format!(
            "SKIPPED: {} not found (run scripts/setup.sh)",
            jar.display()
        );
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{msg}");
        eprintln!("{msg}");
        return;
    }
    let csv = metrics_testdata("tricky_captions.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_unival"))
        .args([
            "score",
            "caption",
            "--predictions",
            &csv,
            "--json",
            "--require-meteor",
        ])
        .env("UNIVAL_HOME", &home)
        .env_remove("UNIVAL_METEOR_JAR")
        .output()
        .unwrap();
    let doc = json_of(&out);
    let text = std::fs::read_to_string(metrics_testdata("coco_caption_expected.json")).unwrap();
    let expected: Value = serde_json::from_str(&text).unwrap();
    let want = expected["tricky_captions"]["metrics"]["METEOR"]
        .as_f64()
        .unwrap();
    let got = doc["metrics"]["meteor"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    assert!(doc["notes"].to_string().contains("METEOR 1.5 jar"));
}
