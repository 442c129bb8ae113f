//! `Pipeline::run_media` (what the live loops call with camera frames and microphone windows)
//! gives exactly what `Pipeline::run` gives for the same media read from a file: same beams,
//! same scores, for an image, a clip of frames and a window of samples.

use unival_manifest::Precision;
use unival_runtime::audio::{decode_file, Segment};
use unival_runtime::tasks::{Media, Pipeline, Request, TaskOutput};
use unival_runtime::vision::video::{decode_frames, probe_video};
use unival_runtime::vision::{load_rgb, ImageOptions};
use unival_runtime::SessionOptions;
use unival_tests::{export_case, OracleDir};

fn pipeline(oracle: &OracleDir, case: &str, dir: &std::path::Path) -> Pipeline {
    export_case(oracle, &oracle.case(case), dir, Precision::Fp32);
    Pipeline::open(dir, &SessionOptions::default()).unwrap()
}

fn assert_same(file: &TaskOutput, media: &TaskOutput) {
    assert!(!file.beams.is_empty());
    assert_eq!(file.beams.len(), media.beams.len());
    for (a, b) in file.beams.iter().zip(&media.beams) {
        assert_eq!(a.tokens, b.tokens);
        assert_eq!(a.score, b.score);
    }
    assert_eq!(file.text, media.text);
}

#[test]
fn image_in_memory_equals_image_file() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut p = pipeline(&oracle, "caption", tmp.path());
    let path = oracle.case("caption").file("img0.png");
    let from_file = p.run(&path, &Request::Caption).unwrap();
    let rgb = load_rgb(&path, &ImageOptions::default()).unwrap();
    let from_memory = p
        .run_media("frame", &Media::Image(rgb), &Request::Caption)
        .unwrap();
    assert_same(&from_file, &from_memory);
    assert_eq!(from_memory.file, "frame");
}

#[test]
fn frames_in_memory_equal_video_file() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut p = pipeline(&oracle, "video_caption", tmp.path());
    let path = oracle.case("video_caption").file("video0.mp4");
    let from_file = p.run(&path, &Request::VideoCaption).unwrap();
    let all: Vec<usize> = (0..probe_video(&path).unwrap().total_frames).collect();
    let frames = decode_frames(&path, &all).unwrap();
    let from_memory = p
        .run_media("clip", &Media::Frames(frames), &Request::VideoCaption)
        .unwrap();
    assert_same(&from_file, &from_memory);
}

/// For both audio cases: PANN CNN6 and CNN14 (the encoder of the released audio checkpoints).
#[test]
fn samples_in_memory_equal_audio_file() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    for case in ["audio_caption", "audio_caption_cnn14"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = pipeline(&oracle, case, tmp.path());
        let path = oracle.case(case).file("audio0.wav");
        let from_file = p.run(&path, &Request::AudioCaption).unwrap();
        let decoded = decode_file(&path, Segment::ALL, 3600.0).unwrap();
        let media = Media::Audio {
            mono: decoded.samples,
            rate: decoded.sample_rate,
        };
        let from_memory = p.run_media("mic", &media, &Request::AudioCaption).unwrap();
        assert_same(&from_file, &from_memory);
    }
}

#[test]
fn media_of_another_modality_is_refused() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut p = pipeline(&oracle, "caption", tmp.path());
    let media = Media::Audio {
        mono: vec![0.0; 16],
        rate: 16_000,
    };
    let err = p
        .run_media("mic", &media, &Request::Caption)
        .unwrap_err()
        .to_string();
    assert!(err.contains("audio samples"), "{err}");
}
