//! `unival bench` on a tiny synthetic model: the report has every stage with sane numbers, the
//! `--preset` path builds its bundle once and reuses it, and `--out` writes the same report.
//! No timing thresholds: the machine is shared.

mod common;

use common::{scratch, unival};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn demo_image() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/demo-images/100000.png")
}

fn positive(v: &Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x.is_finite() && x > 0.0, "{what} = {x}");
    x
}

fn check_report(r: &Value, steps: u64) {
    for stage in [
        "preprocess",
        "perception",
        "encoder",
        "decoder_step",
        "search_overhead",
    ] {
        let s = &r["stages"][stage];
        let median = positive(&s["median_ms"], &format!("{stage}.median_ms"));
        let p90 = positive(&s["p90_ms"], &format!("{stage}.p90_ms"));
        positive(&s["floor_ms"], &format!("{stage}.floor_ms"));
        assert!(median <= p90, "{stage}: median {median} > p90 {p90}");
    }
    let median = positive(&r["total"]["median_ms"], "total.median_ms");
    let p90 = positive(&r["total"]["p90_ms"], "total.p90_ms");
    assert!(median <= p90);
    for key in ["peak_rss_bytes", "load_ms", "bundle_bytes", "weight_bytes"] {
        positive(&r[key], key);
    }
    for key in ["bandwidth_gbs", "gflops", "cores"] {
        positive(&r["machine"][key], key);
    }
    assert_eq!(r["device"], "cpu");
    assert_eq!(r["steps"], steps);
    assert_eq!(r["iterations"], 2);
    // The steps' share of a caption can never exceed the caption.
    let per_step = r["stages"]["decoder_step"]["median_ms"].as_f64().unwrap();
    assert!(
        per_step < median,
        "step {per_step} ms vs caption {median} ms"
    );
}

#[test]
fn preset_bundle_is_built_once_and_the_report_is_complete() {
    let dir = scratch();
    let cache = dir.path().join("cache");
    let image = demo_image();
    let args = |steps: &str| {
        vec![
            "bench".into(),
            "--preset".into(),
            "tiny".into(),
            "--cache".into(),
            cache.clone().into_os_string(),
            "--image".into(),
            image.clone().into_os_string(),
            "--iterations".into(),
            "2".into(),
            "--steps".into(),
            steps.into(),
            "--json".into(),
        ]
    };
    let first = unival(args("4")).ok();
    assert!(first.stderr.contains("synthesising a tiny checkpoint"));
    let report: Value = serde_json::from_str(&first.stdout).expect("--json prints one object");
    check_report(&report, 4);
    assert!(cache.join("bench-tiny/manifest.json").is_file());
    assert!(
        !cache.join("bench-tiny.pt").exists(),
        "the checkpoint is removed"
    );

    let second = unival(args("3")).ok();
    assert!(!second.stderr.contains("synthesising"), "{}", second.stderr);
    check_report(&serde_json::from_str(&second.stdout).unwrap(), 3);
}

#[test]
fn table_on_stdout_and_json_in_out_file() {
    let dir = scratch();
    let bundle = common::tiny_caption_bundle();
    let out = dir.path().join("bench.json");
    let traces = dir.path().join("traces");
    let run = unival([
        "bench".as_ref(),
        "--model".as_ref(),
        bundle.as_os_str(),
        "--image".as_ref(),
        demo_image().as_os_str(),
        "--iterations".as_ref(),
        "2".as_ref(),
        "--warmup".as_ref(),
        "0".as_ref(),
        "--steps".as_ref(),
        "5".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--profile".as_ref(),
        traces.as_os_str(),
    ])
    .ok();
    for needle in [
        "decoder_step",
        "search_overhead",
        "floor ms",
        "peak RSS",
        "GFLOP/s",
        "profile of `decoder`",
        "slowest nodes",
    ] {
        assert!(run.stdout.contains(needle), "{needle}:\n{}", run.stdout);
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    check_report(&report, 5);
    check_profile(&report, 5);
}

/// `--profile`: each graph's trace file exists and its runs and operator times add up.
fn check_profile(r: &Value, steps: u64) {
    let runs = |graph: &str| r["profile"][graph]["runs"].as_u64().unwrap();
    assert_eq!(runs("image_encoder"), 2, "{}", r["profile"]);
    assert_eq!(runs("encoder"), 2);
    assert_eq!(runs("decoder"), 2 * steps);
    for graph in ["image_encoder", "encoder", "decoder"] {
        let p = &r["profile"][graph];
        let file = p["file"].as_str().unwrap();
        assert!(Path::new(file).is_file(), "{file}");
        let kernel = positive(&p["kernel_ms"], "kernel_ms");
        let ops = p["by_op_type"].as_array().unwrap();
        assert!(!ops.is_empty());
        let listed: f64 = ops.iter().map(|o| o["ms_per_run"].as_f64().unwrap()).sum();
        assert!(listed <= kernel * 1.0001, "{graph}: {listed} > {kernel}");
        let shares: f64 = ops.iter().map(|o| o["share"].as_f64().unwrap()).sum();
        assert!(shares > 0.5 && shares <= 1.0001, "{graph}: shares {shares}");
    }
    let decoder_ops = &r["profile"]["decoder"]["by_op_type"];
    assert!(
        decoder_ops
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["op_type"] == "MatMul"),
        "{decoder_ops}"
    );
}

/// Without `--image` the built-in test pattern is captioned, from any directory (no
/// `models/demo-images` needed).
#[test]
fn without_an_image_the_built_in_pattern_runs_anywhere() {
    let dir = scratch();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_unival"))
        .current_dir(dir.path())
        .args(["bench", "--model"])
        .arg(common::tiny_caption_bundle())
        .args([
            "--iterations",
            "2",
            "--warmup",
            "0",
            "--steps",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_report(&report, 2);
    assert_eq!(report["image"], "built-in 640x480 test pattern");
}

#[test]
fn bad_flags_fail_cleanly() {
    let run = unival(["bench", "--iterations", "0"]);
    assert_ne!(run.code, 0);
    let run = unival([
        "bench",
        "--model",
        "/nonexistent/bundle",
        "--image",
        "x.png",
    ]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"));
}
