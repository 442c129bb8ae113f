//! End-to-end tests of [`super::preprocess_video`]: the oracle's `patch_videos`, videos of every
//! supported codec synthesised with the `ffmpeg` CLI (Debian `ffmpeg`, installed by
//! `scripts/setup.sh`) and compared with the CLI's own RGB24 output, directories of frames and
//! bad inputs. Without the shared data or the CLI the tests print `SKIPPED` (and fail when
//! `CI=true`).

use super::*;
use crate::vision::test_support::read_npy_f32;
use image::RgbImage;
use std::path::PathBuf;
use std::process::Command;

/// Says loudly that a test could not run; fails instead under CI.
fn skip(what: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!ci, "{what} (required when CI=true)");
    eprintln!("SKIPPED: {what}");
}

/// `UNIVAL_SHARED`, else the nearest ancestor's `shared/` that holds `oracle/`.
fn shared_dir() -> Option<PathBuf> {
    let found = match std::env::var_os("UNIVAL_SHARED") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|a| a.join("shared"))
            .find(|d| d.join("oracle").is_dir()),
    };
    let found = found.filter(|d| d.join("oracle").is_dir());
    if found.is_none() {
        skip("shared oracle data not found (set UNIVAL_SHARED)");
    }
    found
}

/// Whether the `ffmpeg` CLI is on the PATH.
fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip("the ffmpeg CLI is not installed (scripts/setup.sh installs it)");
    }
    ok
}

fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Encodes `frames` frames of FFmpeg's `testsrc2` pattern at `w×h`, `rate` fps.
fn synth(path: &Path, w: u32, h: u32, rate: u32, frames: u32, codec: &[&str]) {
    let src = format!("testsrc2=size={w}x{h}:rate={rate}");
    let n = frames.to_string();
    let mut args = vec!["-f", "lavfi", "-i", &src, "-frames:v", &n];
    args.extend_from_slice(codec);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
}

/// Every frame as the ffmpeg CLI converts it to RGB24 (auto-inserted `scale`, no frame drops).
fn cli_frames(path: &Path, w: u32, h: u32) -> Vec<RgbImage> {
    let raw = ffmpeg(&[
        "-i",
        path.to_str().unwrap(),
        "-vsync",
        "passthrough",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]);
    let len = (w * h * 3) as usize;
    raw.chunks_exact(len)
        .map(|c| RgbImage::from_raw(w, h, c.to_vec()).unwrap())
        .collect()
}

fn max_abs_diff(a: impl IntoIterator<Item = f32>, b: &[f32]) -> f32 {
    a.into_iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The oracle's `patch_videos` (written through decord by the original code) with the recorded
/// `video_frame_indices`; the report quotes the max |Δ| printed here.
#[test]
fn matches_oracle_patch_videos() {
    let Some(shared) = shared_dir() else { return };
    for case in ["video_caption", "video_qa"] {
        let dir = shared.join("oracle/dev").join(case);
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
        let cfg = &meta["task_cfg"];
        let num_frames = cfg["num_frames"].as_u64().unwrap() as usize;
        let size = cfg["patch_frame_size"].as_u64().unwrap() as usize;
        let (shape, want) = read_npy_f32(&dir.join("patch_videos.npy"));
        assert_eq!(shape[1..], [3, num_frames, size, size], "{case}");
        let per_sample = want.len() / shape[0];
        let samples = meta["video_frame_indices"].as_array().unwrap();
        assert_eq!(samples.len(), shape[0]);
        for (b, indices) in samples.iter().enumerate() {
            let indices: Vec<usize> = indices
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            let opts = VideoOptions {
                sampling: Sampling::Indices(indices.clone()),
                ..VideoOptions::new(num_frames, size)
            };
            let got = preprocess_video(&dir.join("video0.mp4"), &opts, [0.5; 3], [0.5; 3]).unwrap();
            assert_eq!(
                got.tensor.shape(),
                &shape[1..].iter().fold(vec![1], |mut v, d| {
                    v.push(*d);
                    v
                })[..]
            );
            assert_eq!(got.frame_indices, indices);
            assert_eq!(got.total_frames, 24);
            assert_eq!(got.fps, Some(8.0));
            let want_b = &want[b * per_sample..(b + 1) * per_sample];
            let max = max_abs_diff(got.tensor.iter().copied(), want_b);
            let exact = got
                .tensor
                .iter()
                .zip(want_b)
                .filter(|(a, b)| a == b)
                .count();
            eprintln!(
                "{case}[{b}] frames {indices:?}: max |Δ| = {max} ({:.2}/255), {exact}/{} exact",
                max * 127.5,
                want_b.len()
            );
            // decord and we run FFmpeg's own YUV → RGB24 graph: bit-identical is expected.
            assert_eq!(max, 0.0, "{case}[{b}]: max |Δ| {max}");
        }
    }
}

/// H.264 and MPEG-4 Part 2 in mp4, VP8/VP9 in webm, MJPEG in avi and mov: frame count, fps and
/// RGB24 pixels equal to the ffmpeg CLI's conversion of the same file.
#[test]
fn every_codec_decodes_like_the_ffmpeg_cli() {
    if !have_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (w, h) = (70u32, 46u32);
    let cases: [(&str, &[&str]); 6] = [
        (
            "h264.mp4",
            &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "2"],
        ),
        ("mpeg4.mp4", &["-c:v", "mpeg4", "-q:v", "3"]),
        ("vp8.webm", &["-c:v", "libvpx", "-b:v", "200k"]),
        ("vp9.webm", &["-c:v", "libvpx-vp9", "-b:v", "200k"]),
        ("mjpeg.avi", &["-c:v", "mjpeg", "-q:v", "3"]),
        ("mjpeg.mov", &["-c:v", "mjpeg", "-q:v", "3"]),
    ];
    for (name, codec) in cases {
        let path = tmp.path().join(name);
        synth(&path, w, h, 10, 20, codec);
        let info = probe_video(&path).unwrap();
        assert_eq!(info.total_frames, 20, "{name}");
        assert!((info.fps - 10.0).abs() < 1e-9, "{name}: fps {}", info.fps);
        assert_eq!(info.size, (w, h), "{name}");
        assert!((info.frame_times[19] - 1.9).abs() < 1e-6, "{name}");
        let reference = cli_frames(&path, w, h);
        assert_eq!(reference.len(), 20, "{name}");
        let wanted = [0usize, 7, 19, 7, 3];
        let ours = decode_frames(&path, &wanted).unwrap();
        for (&i, frame) in wanted.iter().zip(&ours) {
            assert_eq!(frame.dimensions(), (w, h), "{name} frame {i}");
            assert!(
                frame == &reference[i],
                "{name} frame {i} differs from ffmpeg's RGB24"
            );
        }
        eprintln!(
            "{name}: codec {}, 5 frames identical to the CLI",
            info.codec
        );
    }
}

#[test]
fn end_to_end_sampling_crop_short_video_and_segments() {
    if !have_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("clip.mp4");
    synth(
        &path,
        70,
        46,
        10,
        20,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    let reference = cli_frames(&path, 70, 46);

    // Middle sampling of 4 frames: boundaries [0, 5, 10, 15, 20] → 2, 7, 12, 17.
    let opts = VideoOptions::new(4, 32);
    let got = preprocess_video(&path, &opts, [0.5; 3], [0.5; 3]).unwrap();
    assert_eq!(got.frame_indices, [2, 7, 12, 17]);
    let picked: Vec<RgbImage> = [2, 7, 12, 17]
        .iter()
        .map(|&i| reference[i].clone())
        .collect();
    let want = frames_to_tensor(&picked, 32, [0.5; 3], [0.5; 3]).unwrap();
    assert_eq!(got.tensor, want);
    // 70x46 → 32: left = round(19) = 19, top = round(7) = 7; check one pixel by hand.
    let px = reference[7].get_pixel(19, 7)[1];
    assert_eq!(
        got.tensor[[0, 1, 1, 0, 0]],
        (f32::from(px) / 255.0 - 0.5) / 0.5
    );

    // Larger crop than the frame: padding becomes −1.
    let got = preprocess_video(&path, &VideoOptions::new(2, 64), [0.5; 3], [0.5; 3]).unwrap();
    assert_eq!(got.tensor[[0, 0, 0, 0, 0]], -1.0);
    assert_eq!(got.tensor[[0, 2, 1, 63, 63]], -1.0);

    // Segment [1 s, 2 s) of a 10 fps clip = frames 10..20; middle of 4 over
    // linspace(0, 10, 5) = [0, 2, 5, 7, 10] → 0, 3, 5, 8 → +10.
    let opts = VideoOptions {
        start: Some(1.0),
        end: Some(2.0),
        ..VideoOptions::new(4, 32)
    };
    let got = preprocess_video(&path, &opts, [0.5; 3], [0.5; 3]).unwrap();
    assert_eq!(got.frame_indices, [10, 13, 15, 18]);

    // Seeded rand is reproducible and within the segments.
    let opts = VideoOptions {
        sampling: Sampling::Rand { seed: 7 },
        ..VideoOptions::new(4, 32)
    };
    let a = preprocess_video(&path, &opts, [0.5; 3], [0.5; 3]).unwrap();
    let b = preprocess_video(&path, &opts, [0.5; 3], [0.5; 3]).unwrap();
    assert_eq!(a.frame_indices, b.frame_indices);
    assert_eq!(a.tensor, b.tensor);

    // A 3-frame video with num_frames 8 repeats the last frame, like the original.
    let short = tmp.path().join("short.mp4");
    synth(&short, 40, 30, 10, 3, &["-c:v", "mpeg4"]);
    let got = preprocess_video(&short, &VideoOptions::new(8, 32), [0.5; 3], [0.5; 3]).unwrap();
    assert_eq!(got.frame_indices, [0, 1, 2, 2, 2, 2, 2, 2]);
    assert_eq!(got.total_frames, 3);
    let t = &got.tensor;
    for f in 3..8 {
        for c in 0..3 {
            assert_eq!(
                t.slice(ndarray::s![0, c, f, .., ..]),
                t.slice(ndarray::s![0, c, 2, .., ..])
            );
        }
    }
    assert_ne!(
        t.slice(ndarray::s![0, 0, 0, .., ..]),
        t.slice(ndarray::s![0, 0, 2, .., ..])
    );
}

#[test]
fn directory_of_frames_is_a_video() {
    let tmp = tempfile::tempdir().unwrap();
    let frames: Vec<RgbImage> = (0..5u8)
        .map(|k| {
            RgbImage::from_fn(20 + u32::from(k), 12, |x, y| {
                image::Rgb([k * 40, x as u8 * 9, y as u8 * 17])
            })
        })
        .collect();
    // Written out of order; names sort to temporal order.
    for k in [3usize, 0, 4, 1, 2] {
        frames[k]
            .save(tmp.path().join(format!("frame_{k:03}.png")))
            .unwrap();
    }
    let opts = VideoOptions::new(3, 16);
    let got = preprocess_video(tmp.path(), &opts, [0.5; 3], [0.5; 3]).unwrap();
    // linspace(0, 5, 4) = [0, 1, 3, 5] → middles 0, 1, 3.
    assert_eq!(got.frame_indices, [0, 1, 3]);
    assert_eq!((got.total_frames, got.fps), (5, None));
    let want = frames_to_tensor(
        &[frames[0].clone(), frames[1].clone(), frames[3].clone()],
        16,
        [0.5; 3],
        [0.5; 3],
    )
    .unwrap();
    assert_eq!(got.tensor, want);
    let opts = VideoOptions {
        sampling: Sampling::Indices(vec![4, 2]),
        ..VideoOptions::new(3, 16)
    };
    let got = preprocess_video(tmp.path(), &opts, [0.5; 3], [0.5; 3]).unwrap();
    assert_eq!(got.frame_indices, [4, 2, 2]);
    let segment = VideoOptions {
        start: Some(0.5),
        ..VideoOptions::new(3, 16)
    };
    assert!(matches!(
        preprocess_video(tmp.path(), &segment, [0.5; 3], [0.5; 3]),
        Err(VideoError::NoTimestamps { .. })
    ));
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(
        preprocess_video(&empty, &opts, [0.5; 3], [0.5; 3]),
        Err(VideoError::EmptyDirectory { .. })
    ));
}

/// A 16-bit PCM mono WAV of `n` silent samples.
fn wav(n: u32) -> Vec<u8> {
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes()); // PCM
    v.extend_from_slice(&1u16.to_le_bytes()); // mono
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&32000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(2 * n).to_le_bytes());
    v.resize(v.len() + 2 * n as usize, 0);
    v
}

#[test]
fn bad_inputs_are_typed_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |p: &Path| preprocess_video(p, &VideoOptions::new(4, 32), [0.5; 3], [0.5; 3]);

    let missing = tmp.path().join("missing.mp4");
    match run(&missing) {
        Err(e @ VideoError::NotFound { .. }) => assert!(e.to_string().contains("missing.mp4")),
        other => panic!("{other:?}"),
    }
    for (name, bytes) in [
        ("notes.txt", b"just some text\nnot a video\n".to_vec()),
        (
            "noise.mp4",
            (0..4000u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        ("empty.mp4", Vec::new()),
    ] {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        match run(&p) {
            Err(e @ VideoError::NotAVideo { .. }) => assert!(e.to_string().contains(name)),
            other => panic!("{name}: {other:?}"),
        }
    }
    let p = tmp.path().join("sound.wav");
    std::fs::write(&p, wav(16000)).unwrap();
    assert!(
        matches!(run(&p), Err(VideoError::NoVideoStream { .. })),
        "{:?}",
        run(&p)
    );
    assert!(matches!(
        preprocess_video(&p, &VideoOptions::new(0, 32), [0.5; 3], [0.5; 3]),
        Err(VideoError::InvalidOptions { .. })
    ));
    let both = VideoOptions {
        sampling: Sampling::Indices(vec![1]),
        end: Some(1.0),
        ..VideoOptions::new(4, 32)
    };
    assert!(matches!(
        preprocess_video(&p, &both, [0.5; 3], [0.5; 3]),
        Err(VideoError::InvalidOptions { .. })
    ));
    if !have_ffmpeg() {
        return;
    }
    // Truncated: the container index (moov first) announces frames whose data is missing.
    let full = tmp.path().join("full.mp4");
    synth(
        &full,
        64,
        48,
        10,
        30,
        &["-c:v", "mpeg4", "-movflags", "+faststart"],
    );
    let bytes = std::fs::read(&full).unwrap();
    let cut = tmp.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let r = run(&cut);
    assert!(matches!(r, Err(VideoError::Corrupt { .. })), "{r:?}");
    // A video stream without a single frame.
    let zero = tmp.path().join("zero.avi");
    synth(&zero, 32, 24, 10, 0, &["-c:v", "mpeg4"]);
    let r = run(&zero);
    assert!(matches!(r, Err(VideoError::NoFrames { .. })), "{r:?}");
    // Unknown codec: an MJPEG AVI whose FourCC is rewritten to one no decoder knows.
    let avi = tmp.path().join("mj.avi");
    synth(&avi, 32, 24, 10, 5, &["-c:v", "mjpeg"]);
    let mut bytes = std::fs::read(&avi).unwrap();
    let mut patched = 0;
    for i in 0..bytes.len() - 4 {
        if &bytes[i..i + 4] == b"MJPG" {
            bytes[i..i + 4].copy_from_slice(b"QZQZ");
            patched += 1;
        }
    }
    assert!(patched > 0);
    let odd = tmp.path().join("odd.avi");
    std::fs::write(&odd, &bytes).unwrap();
    let r = run(&odd);
    assert!(
        matches!(r, Err(VideoError::UnsupportedCodec { .. })),
        "{r:?}"
    );
    // Out-of-range explicit index.
    let opts = VideoOptions {
        sampling: Sampling::Indices(vec![0, 30]),
        ..VideoOptions::new(4, 32)
    };
    assert!(matches!(
        preprocess_video(&full, &opts, [0.5; 3], [0.5; 3]),
        Err(VideoError::IndexOutOfRange {
            index: 30,
            total_frames: 30,
            ..
        })
    ));
}

/// Decode speed (run with `--ignored --nocapture`): 16 middle frames of a 10 s 640×360 H.264
/// clip at 30 fps, cropped to 384.
#[test]
#[ignore = "timing, not a correctness check"]
fn decode_speed() {
    if !have_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("speed.mp4");
    synth(
        &path,
        640,
        360,
        30,
        300,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    let opts = VideoOptions::new(16, 384);
    let t = std::time::Instant::now();
    let got = preprocess_video(&path, &opts, [0.5; 3], [0.5; 3]).unwrap();
    let dt = t.elapsed();
    eprintln!(
        "preprocess_video: 300-frame 640x360 h264, 16 frames → {:?} in {dt:?} ({:.0} decoded frames/s)",
        got.tensor.shape(),
        (got.frame_indices[15] + 1) as f64 / dt.as_secs_f64()
    );
}

#[path = "decord_tests.rs"]
mod decord;
