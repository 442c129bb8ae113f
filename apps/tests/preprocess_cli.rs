//! `unival preprocess` through the real binary: for the oracle's image, video and audio cases the
//! written `.npy` holds exactly the original's `patch_images` / `patch_videos` / `patch_audios`
//! (same shape, same bytes), and each JSON line's sha256 is the sha256 of that data; bad inputs
//! are reported per file with a non-zero exit.

mod common;

use common::{assert_clean_failure, export, scratch, shared_dir, unival, Run};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use unival_tests::npy::NpyHeader;

/// A `.npy` file's header and raw data.
fn npy(path: &Path) -> (NpyHeader, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let (header, start) = unival_tests::npy::parse(path, &bytes).unwrap();
    (header, bytes[start..].to_vec())
}

/// `unival preprocess --model MODEL FLAGS… FILE --out OUT`, which must succeed with one line.
fn preprocess(model: &Path, file: &Path, out: &Path, flags: &[&str]) -> Value {
    let mut args: Vec<String> = vec!["preprocess".into(), "--model".into()];
    args.push(model.display().to_string());
    args.extend(flags.iter().map(|s| s.to_string()));
    args.push(file.display().to_string());
    args.push("--out".into());
    args.push(out.display().to_string());
    let run = unival(&args).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    serde_json::from_str(lines[0]).unwrap()
}

/// Checks the written file and the JSON line against the oracle's `want` array (one sample).
fn assert_matches_oracle(case: &str, line: &Value, written: &Path, want: &Path, tensor: &str) {
    assert_matches_sample(case, line, written, want, tensor, 0);
}

/// Checks the written file and the JSON line against sample `b` of the oracle's `want` array.
fn assert_matches_sample(
    case: &str,
    line: &Value,
    written: &Path,
    want: &Path,
    tensor: &str,
    b: usize,
) {
    let (got_header, got) = npy(written);
    let (want_header, want_batch) = npy(want);
    assert_eq!(got_header.descr, "<f4", "{got_header:?}");
    assert_eq!(want_header.descr, "<f4", "{want_header:?}");
    let mut want_shape = want_header.shape;
    let per_sample = want_batch.len() / want_shape[0];
    let want_all = want_batch[b * per_sample..(b + 1) * per_sample].to_vec();
    want_shape[0] = 1;
    let got_shape = got_header.shape;
    assert_eq!(got_shape, want_shape, "{case}: shape");
    let differing = got
        .chunks_exact(4)
        .zip(want_all.chunks_exact(4))
        .filter(|(a, b)| a != b)
        .count();
    eprintln!(
        "{case}: {tensor} {got_shape:?}: {differing}/{} values differ",
        got.len() / 4
    );
    assert_eq!(got.len(), want_all.len(), "{case}: data length");
    assert_eq!(differing, 0, "{case}: {tensor} differs from the oracle");
    let sha = hex::encode(Sha256::digest(&want_all));
    assert_eq!(line["sha256"], Value::from(sha), "{case}: sha256");
    assert_eq!(line["tensor"], Value::from(tensor), "{case}");
    assert_eq!(line["dtype"], Value::from("float32"), "{case}");
    let shape: Vec<usize> = line["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(shape, want_shape, "{case}: JSON shape");
}

fn checkpoint(shared: &Path, name: &str) -> PathBuf {
    shared.join("oracle/dev/checkpoints").join(name)
}

#[test]
fn image_cases_write_the_oracles_patch_images() {
    let Some(s) = shared_dir() else { return };
    let dir = scratch();
    let model = dir.path().join("caption");
    export(
        &checkpoint(&s, "micro_av_fp16.pt"),
        "caption",
        &model,
        &["--no-ema"],
    )
    .ok();
    // The four image cases differ only in the square side (480, RefCOCO 512).
    for (case, size) in [
        ("caption", "480"),
        ("vqa", "480"),
        ("snli_ve", "480"),
        ("refcoco", "512"),
    ] {
        let o = s.join("oracle/dev").join(case);
        let out = dir.path().join(format!("out_{case}"));
        let line = preprocess(&model, &o.join("img0.png"), &out, &["--image-size", size]);
        assert_eq!(
            line["file"],
            Value::from(o.join("img0.png").display().to_string())
        );
        let written = out.join("img0.png.npy");
        assert_matches_oracle(
            case,
            &line,
            &written,
            &o.join("patch_images.npy"),
            "patch_images",
        );
    }
}

#[test]
fn video_cases_write_the_oracles_patch_videos() {
    let Some(s) = shared_dir() else { return };
    let dir = scratch();
    let model = dir.path().join("video");
    export(
        &checkpoint(&s, "micro_av_fp16.pt"),
        "video_caption",
        &model,
        &[],
    )
    .ok();
    let o = s.join("oracle/dev/video_caption");
    let out = dir.path().join("out");
    let line = preprocess(
        &model,
        &o.join("video0.mp4"),
        &out,
        &[
            "--num-frames",
            "4",
            "--frame-size",
            "224",
            "--frame-indices",
            "1,10,12,20",
        ],
    );
    assert_matches_oracle(
        "video_caption",
        &line,
        &out.join("video0.mp4.npy"),
        &o.join("patch_videos.npy"),
        "patch_videos",
    );
}

/// Video QA: two samples of one clip with different frames (`--frame-indices`), T = 2.
#[test]
fn video_qa_samples_write_the_oracles_patch_videos() {
    let Some(s) = shared_dir() else { return };
    let dir = scratch();
    let model = dir.path().join("video_qa");
    export(&checkpoint(&s, "micro_av_fp16.pt"), "video_qa", &model, &[]).ok();
    let o = s.join("oracle/dev/video_qa");
    for (b, frames) in ["2,21", "1,16"].iter().enumerate() {
        let out = dir.path().join(format!("out{b}"));
        let flags = [
            "--num-frames",
            "2",
            "--frame-size",
            "224",
            "--frame-indices",
            frames,
        ];
        let line = preprocess(&model, &o.join("video0.mp4"), &out, &flags);
        assert_matches_sample(
            &format!("video_qa[{b}]"),
            &line,
            &out.join("video0.mp4.npy"),
            &o.join("patch_videos.npy"),
            "patch_videos",
            b,
        );
    }
}

#[test]
fn audio_cases_write_the_oracles_patch_audios() {
    let Some(s) = shared_dir() else { return };
    let dir = scratch();
    for (case, ckpt) in [
        ("audio_caption", "micro_av_fp16.pt"),
        ("audio_caption_cnn14", "micro_cnn14_fp16.pt"),
    ] {
        let model = dir.path().join(case);
        export(&checkpoint(&s, ckpt), "audio_caption", &model, &[]).ok();
        let o = s.join("oracle/dev").join(case);
        let out = dir.path().join(format!("out_{case}"));
        let line = preprocess(&model, &o.join("audio0.wav"), &out, &[]);
        assert_matches_oracle(
            case,
            &line,
            &out.join("audio0.wav.npy"),
            &o.join("patch_audios.npy"),
            "patch_audios",
        );
    }
}

#[test]
fn bad_inputs_are_reported_per_file() {
    let Some(s) = shared_dir() else { return };
    let dir = scratch();
    let model = dir.path().join("video");
    export(
        &checkpoint(&s, "micro_av_fp16.pt"),
        "video_caption",
        &model,
        &[],
    )
    .ok();
    let out = dir.path().join("out");
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let run: Run = unival([
        "preprocess".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        empty.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("empty.mp4"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // A good file next to a bad one is still written.
    let good = s.join("oracle/dev/video_caption/video0.mp4");
    let run = unival([
        "preprocess".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        empty.as_os_str(),
        good.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert!(out.join("video0.mp4.npy").is_file());
    // No bundle: one clean error line.
    let missing = dir.path().join("no_such_bundle");
    let run = unival([
        "preprocess".as_ref(),
        "--model".as_ref(),
        missing.as_os_str(),
        good.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_clean_failure(&run, "no_such_bundle", &[]);
    // Two inputs that would write the same .npy.
    let twin_dir = dir.path().join("twin");
    std::fs::create_dir_all(&twin_dir).unwrap();
    let twin = twin_dir.join("video0.mp4");
    std::fs::copy(&good, &twin).unwrap();
    let run = unival([
        "preprocess".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        good.as_os_str(),
        twin.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_clean_failure(&run, "video0.mp4.npy", &["would both be written"]);
}
