//! `unival eval` on the original's own TSVs (`shared/oracle/dev/<case>/<case>_test.tsv`: base64
//! images inline for the image tasks, file names for video and audio): each prediction and the
//! metric equal what the original's evaluation step produced (`meta.json`: `eval_step_results`,
//! `eval_step_scores`); the same VQA question as VQAv2 JSON gets the official accuracy.

mod common;

use common::{run_ok, shared_dir, tokens};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn meta(o: &Path, case: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(o.join(case).join("meta.json")).unwrap()).unwrap()
}

fn export(o: &Path, case: &str, task: &str, out: &Path, extra: &[&str]) {
    let m = meta(o, case);
    let file = m["checkpoint"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    common::export(&o.join("checkpoints").join(file), task, out, extra).ok();
}

/// `unival eval SUBCOMMAND --json` on the case's TSV: (the one record, the metrics).
fn eval(o: &Path, case: &str, sub: &str, model: &Path, extra: &[&str]) -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let run = run_ok(
        Command::new(env!("CARGO_BIN_EXE_unival"))
            .args(["eval", sub, "--json", "--model"])
            .arg(model)
            .arg("--data")
            .arg(o.join(case).join(format!("{case}_test.tsv")))
            .arg("--out")
            .arg(&out)
            .args(extra),
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let record: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let stdout = String::from_utf8(run.stdout).unwrap();
    let metrics: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    (record, metrics["metrics"].clone())
}

#[test]
fn image_task_tsvs_with_inline_images_reproduce_the_original_eval_step() {
    let Some(s) = shared_dir() else { return };
    let o = s.join("oracle/dev");
    let dir = tempfile::tempdir().unwrap();

    let vqa = dir.path().join("vqa");
    export(&o, "vqa", "vqa", &vqa, &[]);
    let answers = o.join("vqa/ans2label.pkl");
    let (r, m) = eval(
        &o,
        "vqa",
        "vqa",
        &vqa,
        &["--answers", answers.to_str().unwrap()],
    );
    let want = meta(&o, "vqa");
    assert_eq!(r["prediction"], want["eval_step_results"][0]["answer"]);
    assert_eq!(
        m["vqa_score"],
        want["eval_step_scores"][0].as_f64().unwrap()
    );

    // The same question as VQAv2 JSON (questions + annotations, COCO file naming): two of ten
    // humans said "yes", so the official accuracy is (2·⅓ + 8·⅔)/10 = 0.6.
    let images = dir.path().join("val2014");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(
        o.join("vqa/img0.png"),
        images.join("COCO_val2014_000000000001.jpg"),
    )
    .unwrap();
    let questions = dir.path().join("questions.json");
    let q = "how many triangles can be seen in this picture?";
    let doc = serde_json::json!({"data_subtype": "val2014", "questions": [
        {"question_id": 100, "image_id": 1, "question": q}]});
    std::fs::write(&questions, doc.to_string()).unwrap();
    let mut humans = vec![serde_json::json!({"answer": "yes"}); 2];
    humans.extend(vec![serde_json::json!({"answer": "two"}); 8]);
    let annotations = dir.path().join("annotations.json");
    let doc = serde_json::json!({"annotations": [
        {"question_id": 100, "answer_type": "number", "answers": humans}]});
    std::fs::write(&annotations, doc.to_string()).unwrap();
    let out = dir.path().join("vqa2.jsonl");
    let run = run_ok(
        Command::new(env!("CARGO_BIN_EXE_unival"))
            .args(["eval", "vqa", "--json", "--model"])
            .arg(&vqa)
            .arg("--data")
            .arg(&questions)
            .arg("--annotations")
            .arg(&annotations)
            .arg("--images")
            .arg(&images)
            .arg("--answers")
            .arg(&answers)
            .arg("--out")
            .arg(&out),
    );
    let stdout = String::from_utf8(run.stdout).unwrap();
    let m: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    for key in ["vqa_accuracy", "vqa_accuracy_number"] {
        let got = m["metrics"][key].as_f64().unwrap();
        assert!((got - 0.6).abs() < 1e-9, "{key} {got}");
    }

    let refcoco = dir.path().join("refcoco");
    export(&o, "refcoco", "refcoco", &refcoco, &["--no-ema"]);
    let (r, m) = eval(&o, "refcoco", "refcoco", &refcoco, &[]);
    let want = meta(&o, "refcoco");
    let boxed = want["eval_step_results"][1][0]["box"].as_array().unwrap();
    for (g, w) in r["box"].as_array().unwrap().iter().zip(boxed) {
        let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
        assert!((g - w).abs() <= 0.5, "box coordinate {g} vs oracle {w}");
    }
    // eval_step_scores[4] is the original's 0.5acc.
    assert_eq!(
        m["acc@0.5"],
        want["eval_step_scores"][4][0].as_f64().unwrap()
    );

    let snli = dir.path().join("snli_ve");
    export(&o, "snli_ve", "snli_ve", &snli, &["--no-ema"]);
    let (r, m) = eval(&o, "snli_ve", "snli-ve", &snli, &[]);
    let want = meta(&o, "snli_ve");
    assert_eq!(r["prediction"], want["eval_step_results"][0]["answer"]);
    assert_eq!(m["accuracy"], want["eval_step_scores"][0].as_f64().unwrap());
}

const CAPTION_FLAGS: [&str; 7] = [
    "--beam",
    "5",
    "--max-len-b",
    "22",
    "--unnormalized",
    "--no-repeat-ngram-size",
    "3",
];

#[test]
fn video_and_audio_tsvs_with_file_names_reproduce_the_original_captions() {
    let Some(s) = shared_dir() else { return };
    let o = s.join("oracle/dev");
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("video");
    export(&o, "video_caption", "video_caption", &video, &[]);
    let mut flags = vec!["--num-frames", "4", "--frame-size", "224"];
    flags.extend(["--frame-indices", "1,10,12,20"]);
    flags.extend(CAPTION_FLAGS);
    let (r, _) = eval(&o, "video_caption", "video-caption", &video, &flags);
    let want = meta(&o, "video_caption");
    assert_eq!(
        tokens(&r["tokens"]),
        tokens(&want["beam_hypos"][0][0]["tokens"])
    );
    assert_eq!(r["prediction"], want["eval_step_results"][0]["caption"]);

    let audio = dir.path().join("audio");
    export(&o, "audio_caption", "audio_caption", &audio, &[]);
    let (r, _) = eval(&o, "audio_caption", "audio-caption", &audio, &CAPTION_FLAGS);
    let want = meta(&o, "audio_caption");
    assert_eq!(
        tokens(&r["tokens"]),
        tokens(&want["beam_hypos"][0][0]["tokens"])
    );
    assert_eq!(r["prediction"], want["eval_step_results"][0]["caption"]);
}
