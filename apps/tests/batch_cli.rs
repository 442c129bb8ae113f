//! `--batch N` on the task commands and `unival bench --batch N`, on the tiny synthetic caption
//! bundle: batched runs print the same results in the same order as one file at a time (a
//! broken file still fails alone, exit code 1), and the bench reports items per second.
//! No timing thresholds: the machine is shared.

mod common;

use common::{scratch, unival};
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

fn demo_image(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/demo-images")
        .join(name)
}

/// The JSON lines of a run, without their timings.
fn results(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("one JSON object per line");
            v.as_object_mut().map(|o| o.remove("timings_ms"));
            v
        })
        .collect()
}

/// Same everything, scores within 1e-5 relative.
fn assert_same(a: &Value, b: &Value) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-5 * y.abs().max(1e-6), "{x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{a} vs {b}");
            x.iter().zip(y).for_each(|(x, y)| assert_same(x, y));
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.len(), y.len(), "{a} vs {b}");
            for (k, v) in x {
                assert_same(v, &y[k]);
            }
        }
        _ => assert_eq!(a, b),
    }
}

#[test]
fn batched_captions_equal_one_file_at_a_time() {
    let dir = scratch();
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"not a picture").unwrap();
    let bundle = common::tiny_caption_bundle();
    let mut files: Vec<PathBuf> = ["100000.png", "100001.png", "100002.png", "100003.png"]
        .iter()
        .map(|n| demo_image(n))
        .collect();
    files.insert(1, broken);
    let run = |batch: &str| {
        let mut args: Vec<OsString> = vec![
            "caption".into(),
            "--model".into(),
            bundle.into(),
            "--json".into(),
            "--batch".into(),
            batch.into(),
        ];
        args.extend(files.iter().map(|f| f.clone().into_os_string()));
        unival(args)
    };
    let alone = run("1");
    let batched = run("3");
    assert_eq!(alone.code, 1, "{}", alone.stderr);
    assert_eq!(batched.code, 1, "{}", batched.stderr);
    assert!(batched.stderr.contains("broken.png"), "{}", batched.stderr);
    let (a, b) = (results(&alone.stdout), results(&batched.stdout));
    assert_eq!(a.len(), 4);
    assert_same(&Value::Array(b), &Value::Array(a));
}

#[test]
fn bench_batch_reports_items_per_second() {
    let bundle = common::tiny_caption_bundle();
    let run = unival([
        "bench".as_ref(),
        "--model".as_ref(),
        bundle.as_os_str(),
        "--batch".as_ref(),
        "3".as_ref(),
        "--iterations".as_ref(),
        "2".as_ref(),
        "--warmup".as_ref(),
        "0".as_ref(),
        "--steps".as_ref(),
        "4".as_ref(),
        "--json".as_ref(),
    ])
    .ok();
    let report: Value = serde_json::from_str(&run.stdout).expect("--json prints one object");
    assert_eq!(report["batch"], 3);
    assert_eq!(report["steps"], 4);
    let rate = report["items_per_s"].as_f64().unwrap();
    assert!(rate.is_finite() && rate > 0.0, "{report}");
    assert!(report["pass"]["median_ms"].as_f64().unwrap() > 0.0);
}
