//! `unival eval perception-test` on a small dataset in the official format, made here: two
//! generated clips, the official annotation layout (dict by video id, `metadata`,
//! `mc_question`) and a cut-frame mapping, run on a synthetic video-QA bundle.
//!
//! Checked: one record per question with every option's score and the argmax as answer;
//! top-1 accuracy overall and per area / reasoning / tag recomputed from the records; the
//! challenge submission file; a cut equal to running on the clip trimmed to those frames; the
//! choice equal to `unival video-qa` constrained to the same three options.

mod common;

use common::run_ok;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_unival"))
}

/// A lossless intra-only clip (MJPEG at top quality would still be lossy; FFV1 is exact), so a
/// trimmed copy holds exactly the same first frames.
fn clip(dir: &Path, name: &str, source: &str, frames: u32) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", source])
        .args([
            "-frames:v",
            &frames.to_string(),
            "-c:v",
            "ffv1",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&out)
        .status()
        .expect("running ffmpeg (scripts/setup.sh installs it)");
    assert!(status.success(), "ffmpeg failed making {}", out.display());
    out
}

/// The first `frames` frames of `src`, stream-copied (no re-encoding).
fn trimmed(src: &Path, out: &Path, frames: u32) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(src)
        .args(["-frames:v", &frames.to_string(), "-c", "copy"])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
}

fn question(
    id: u64,
    q: &str,
    options: [&str; 3],
    answer: usize,
    area: &str,
    tags: &[&str],
) -> Value {
    json!({
        "id": id, "question": q, "options": options, "answer_id": answer,
        "area": area, "reasoning": if id.is_multiple_of(2) { "Descriptive" } else { "Predictive" },
        "tag": tags
    })
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    bundle: PathBuf,
    annotations: PathBuf,
    cuts: PathBuf,
    videos: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let ckpt = root.join("tiny.pt");
    run_ok(
        bin()
            .args([
                "export",
                "synth",
                "--preset",
                "tiny",
                "--seed",
                "3",
                "--task",
                "video_vqa_gen",
                "--out",
            ])
            .arg(&ckpt),
    );
    let bundle = root.join("bundle");
    common::export(&ckpt, "video_qa", &bundle, &[]).ok();
    let videos = root.join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    clip(&videos, "video_1.mkv", "testsrc=size=160x128:rate=10", 40);
    clip(
        &videos,
        "video_2.mkv",
        "mandelbrot=size=160x128:rate=10",
        30,
    );
    let annotations = root.join("mc_question_valid.json");
    let doc = json!({
        "video_1": {
            "metadata": {"video_id": "video_1", "num_frames": 40, "frame_rate": 10.0},
            "mc_question": [
                question(0, "What colour is the top bar?", ["White", "Black", "Green"], 0, "Semantics", &["colour"]),
                question(1, "How many squares move?", ["one", "two", "three"], 1, "Physics", &["counting", "motion"])
            ]
        },
        "video_2": {
            "metadata": {"video_id": "video_2", "num_frames": 30, "frame_rate": 10.0},
            "mc_question": [
                question(0, "Where is the hidden object at the end?", ["left", "middle", "right"], 2, "Memory", &["motion"])
            ]
        }
    });
    std::fs::write(&annotations, doc.to_string()).unwrap();
    let cuts = root.join("cut_frame_mapping_valid.json");
    std::fs::write(&cuts, json!({"video_1": 20}).to_string()).unwrap();
    Fixture {
        _dir: dir,
        root,
        bundle,
        annotations,
        cuts,
        videos,
    }
}

fn perception(f: &Fixture, annotations: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    run_ok(
        bin()
            .args(["eval", "perception-test", "--json", "--model"])
            .arg(&f.bundle)
            .arg("--annotations")
            .arg(annotations)
            .arg("--videos")
            .arg(&f.videos)
            .arg("--out")
            .arg(out)
            .args(extra),
    )
}

fn scores(record: &Value) -> Vec<f64> {
    record["choice"]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap())
        .collect()
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn perception_test_scores_options_reports_breakdowns_and_writes_the_submission() {
    let f = fixture();
    let out = f.root.join("pt.jsonl");
    let cuts = f.cuts.to_str().unwrap().to_string();
    let run = perception(&f, &f.annotations, &out, &["--cut-frames", &cuts]);
    let text = String::from_utf8_lossy(&run.stdout).to_string();
    let metrics: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    eprintln!("{metrics}");
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    let mut right = 0;
    for r in &recs {
        let c = &r["choice"];
        let scores = scores(r);
        assert_eq!(scores.len(), 3);
        assert!(
            scores.iter().all(|s| s.is_finite() && *s < 0.0),
            "{scores:?}"
        );
        let best = (0..3).fold(0, |b, i| if scores[i] > scores[b] { i } else { b });
        assert_eq!(c["predicted_id"], best);
        assert_eq!(r["prediction"], c["options"][best]);
        right += usize::from(c["predicted_id"] == c["answer_id"]);
    }
    let top1 = metrics["metrics"]["top1_accuracy"].as_f64().unwrap();
    assert_eq!(top1, right as f64 / 3.0);
    let b = &metrics["breakdown"];
    assert_eq!(b["area"]["Memory"]["total"], 1);
    assert_eq!(b["reasoning"]["Descriptive"]["total"], 2);
    assert_eq!(b["tag"]["motion"]["total"], 2);

    // The submission: {video_id: [{id, answer_id, answer}]}.
    let sub: Value =
        serde_json::from_str(&std::fs::read_to_string(f.root.join("pt.submission.json")).unwrap())
            .unwrap();
    assert_eq!(sub["video_1"].as_array().unwrap().len(), 2);
    let first = &sub["video_1"][0];
    assert_eq!(first["id"], 0);
    assert_eq!(first["answer_id"], recs[0]["choice"]["predicted_id"]);
    assert_eq!(first["answer"], recs[0]["prediction"]);
    // `unival eval merge` scores the file the same and writes the same submission.
    let (merged, sub2) = (f.root.join("merged.jsonl"), f.root.join("sub2.json"));
    let m = run_ok(
        bin()
            .args(["eval", "merge", "--json", "--out"])
            .arg(&merged)
            .arg("--submission")
            .arg(&sub2)
            .arg(&out),
    );
    let merged_metrics: Value =
        serde_json::from_str(String::from_utf8_lossy(&m.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(merged_metrics["breakdown"], metrics["breakdown"]);
    assert_eq!(merged_metrics["metrics"], metrics["metrics"]);
    let sub2: Value = serde_json::from_str(&std::fs::read_to_string(&sub2).unwrap()).unwrap();
    assert_eq!(sub2, sub);

    // The cut: video_1 cut at frame 20 scores as the clip trimmed to its first 20 frames.
    let trimmed_dir = f.root.join("trimmed");
    std::fs::create_dir_all(&trimmed_dir).unwrap();
    trimmed(
        &f.videos.join("video_1.mkv"),
        &trimmed_dir.join("video_1.mkv"),
        20,
    );
    let only_1: Value = serde_json::from_str(&std::fs::read_to_string(&f.annotations).unwrap())
        .map(|mut v: Value| {
            v.as_object_mut().unwrap().remove("video_2");
            v
        })
        .unwrap();
    let ann_1 = f.root.join("only_1.json");
    std::fs::write(&ann_1, only_1.to_string()).unwrap();
    let out_t = f.root.join("trimmed.jsonl");
    run_ok(
        bin()
            .args(["eval", "perception-test", "--model"])
            .arg(&f.bundle)
            .arg("--annotations")
            .arg(&ann_1)
            .arg("--videos")
            .arg(&trimmed_dir)
            .arg("--out")
            .arg(&out_t),
    );
    let t = records(&out_t);
    for i in 0..2 {
        let (a, b) = (scores(&t[i]), scores(&recs[i]));
        eprintln!("cut {b:?} trimmed {a:?}");
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-5),
            "{a:?} vs {b:?}"
        );
    }
    // Without the cut the whole clip is seen: other scores.
    let out_u = f.root.join("uncut.jsonl");
    perception(&f, &ann_1, &out_u, &[]);
    let (u, c) = (scores(&records(&out_u)[0]), scores(&recs[0]));
    assert!(
        u.iter().zip(&c).any(|(x, y)| (x - y).abs() > 1e-4),
        "{u:?} vs {c:?}"
    );

    // The same choice as `unival video-qa` constrained to the three options (beam 5 ≥ 3
    // options, unnormalized: the search is exhaustive over them).
    let answers = f.root.join("answers.txt");
    std::fs::write(&answers, "left\nmiddle\nright\n").unwrap();
    let vqa = run_ok(
        bin()
            .args([
                "video-qa",
                "--json",
                "--beam",
                "5",
                "--unnormalized",
                "--model",
            ])
            .arg(&f.bundle)
            .args(["-q", "Where is the hidden object at the end?", "--answers"])
            .arg(&answers)
            .arg(f.videos.join("video_2.mkv")),
    );
    let got: Value = serde_json::from_slice(&vqa.stdout).unwrap();
    let pt = recs.iter().find(|r| r["id"] == "video_2/0").unwrap();
    assert_eq!(got["text"], pt["prediction"]);
}

#[test]
fn bad_annotations_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let ann = dir.path().join("mc_question_valid.json");
    std::fs::write(&ann, "[1, 2]").unwrap();
    let r = common::unival([
        "eval".as_ref(),
        "perception-test".as_ref(),
        "--model".as_ref(),
        dir.path().as_os_str(),
        "--annotations".as_ref(),
        ann.as_os_str(),
        "--videos".as_ref(),
        dir.path().as_os_str(),
        "--out".as_ref(),
        dir.path().join("o.jsonl").as_os_str(),
    ]);
    common::assert_clean_failure(&r, "mc_question_valid.json", &["annotation"]);
}
