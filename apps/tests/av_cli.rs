//! Issue "video and audio" acceptance through the real `unival` binary, from the raw files of
//! the oracle cases (mp4, wav): all beams token for token and scores within 1e-5 relative; and
//! bad inputs (no video stream, empty or silent audio) handled clearly.

mod common;

use common::{assert_beams, run_ok, shared_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn unival() -> Command {
    Command::new(env!("CARGO_BIN_EXE_unival"))
}

fn oracle() -> Option<PathBuf> {
    shared_dir().map(|s| s.join("oracle/dev"))
}

/// Exports the checkpoint of oracle case `case` (named in its `meta.json`) for `task`.
fn export(o: &Path, case: &str, task: &str, out: &Path) {
    let m = meta(o, case);
    let file = m["checkpoint"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    run_ok(
        unival()
            .args(["export", "--task", task, "--checkpoint"])
            .arg(o.join("checkpoints").join(file))
            .arg("--out")
            .arg(out),
    );
}

fn first_json(out: &Output) -> Value {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

fn meta(o: &Path, case: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(o.join(case).join("meta.json")).unwrap()).unwrap()
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
fn video_caption_from_the_mp4_reproduces_the_oracle_beams() {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    export(&o, "video_caption", "video_caption", dir.path());
    let m = meta(&o, "video_caption");
    let out = run_ok(
        unival()
            .args([
                "video-caption",
                "--json",
                "--num-frames",
                "4",
                "--frame-size",
                "224",
            ])
            .args(["--frame-indices", "1,10,12,20"])
            .args(CAPTION_FLAGS)
            .arg("--model")
            .arg(dir.path())
            .arg(o.join("video_caption/video0.mp4")),
    );
    assert_beams("video_caption", &first_json(&out), &m["beam_hypos"][0]);
}

#[test]
fn video_qa_from_the_mp4_reproduces_both_oracle_samples() {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    export(&o, "video_qa", "video_qa", dir.path());
    let m = meta(&o, "video_qa");
    let samples = [
        ("what is moving in the video", "2,21"),
        (
            "what colour is the object that moves from the left to the right side?",
            "1,16",
        ),
    ];
    for (i, (q, frames)) in samples.iter().enumerate() {
        let out = run_ok(
            unival()
                .args([
                    "video-qa",
                    "--json",
                    "--num-frames",
                    "2",
                    "--frame-size",
                    "224",
                ])
                .args(["--frame-indices", frames, "-q", q, "--answers"])
                .arg(o.join("video_qa/ans2label.pkl"))
                .arg("--model")
                .arg(dir.path())
                .arg(o.join("video_qa/video0.mp4")),
        );
        let got = first_json(&out);
        assert_beams("video_qa", &got, &m["beam_hypos"][i]);
        assert_eq!(got["text"], m["eval_step_results"][i]["answer"]);
    }
}

/// Oracle case `case` of the audio-caption task, from its `audio0.wav` through the binary.
fn audio_caption_reproduces_the_oracle_beams(case: &str) {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    export(&o, case, "audio_caption", dir.path());
    let m = meta(&o, case);
    let out = run_ok(
        unival()
            .args(["audio-caption", "--json"])
            .args(CAPTION_FLAGS)
            .arg("--model")
            .arg(dir.path())
            .arg(o.join(case).join("audio0.wav")),
    );
    assert_beams(case, &first_json(&out), &m["beam_hypos"][0]);
}

#[test]
fn audio_caption_from_the_wav_reproduces_the_oracle_beams() {
    audio_caption_reproduces_the_oracle_beams("audio_caption");
}

/// The PANN CNN14 encoder of the released audio checkpoints (`micro_cnn14_fp16.pt`).
#[test]
fn audio_caption_cnn14_from_the_wav_reproduces_the_oracle_beams() {
    audio_caption_reproduces_the_oracle_beams("audio_caption_cnn14");
}

/// A WAV file of `samples` 16-bit mono samples at 48 kHz.
fn wav(path: &Path, samples: &[i16]) {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&48000u32.to_le_bytes());
    b.extend_from_slice(&96000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    std::fs::write(path, b).unwrap();
}

#[test]
fn bad_audio_and_video_inputs_are_handled_clearly() {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let audio_model = dir.path().join("audio");
    let video_model = dir.path().join("video");
    export(&o, "audio_caption", "audio_caption", &audio_model);
    export(&o, "video_caption", "video_caption", &video_model);
    let fails = |cmd: &mut Command, needle: &str| {
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{cmd:?} should fail");
        assert!(!err.contains("panicked"), "{cmd:?} panicked: {err}");
        assert!(
            err.contains(needle),
            "{cmd:?}: stderr lacks `{needle}`: {err}"
        );
    };
    // Zero-length audio: an error naming the file.
    let empty = dir.path().join("empty.wav");
    wav(&empty, &[]);
    fails(
        unival()
            .arg("audio-caption")
            .arg("--model")
            .arg(&audio_model)
            .arg(&empty),
        "empty.wav",
    );
    // Silent audio is valid input: it is captioned (the original would caption it too).
    let silent = dir.path().join("silent.wav");
    wav(&silent, &vec![0; 48000]);
    run_ok(
        unival()
            .arg("audio-caption")
            .arg("--model")
            .arg(&audio_model)
            .arg(&silent),
    );
    // A file with no video stream given to the video task.
    fails(
        unival()
            .arg("video-caption")
            .arg("--model")
            .arg(&video_model)
            .arg(&silent),
        "silent.wav",
    );
    // A text file posing as a video.
    let fake = dir.path().join("clip.mp4");
    std::fs::write(&fake, "not a video").unwrap();
    fails(
        unival()
            .arg("video-caption")
            .arg("--model")
            .arg(&video_model)
            .arg(&fake),
        "clip.mp4",
    );
    // An audio bundle asked for a video task.
    fails(
        unival()
            .arg("video-caption")
            .arg("--model")
            .arg(&audio_model)
            .arg(o.join("video_caption/video0.mp4")),
        "audio_caption",
    );
}
