//! decord 0.6.0 itself as the reference: the clips of `oracle/dev/video_decode` (frames that
//! decord returned, as uint8 `.npy`) and decord's behaviour on rotation metadata, edit lists,
//! variable frame rate, MPEG-TS and broken files (checked against decord with
//! `scripts/dev/decord_reference.py`, dev-only).

use super::*;
use crate::vision::test_support::read_npy_u8;

/// Every clip of `video_decode/`: decord's frame count, average fps and the requested frames,
/// bit for bit (odd-sized 4:2:0, 4:4:4, 4:2:2, BT.709 tags, full-range MJPEG, VP9, 640×360).
#[test]
fn video_decode_clips_equal_decords_frames() {
    let Some(shared) = shared_dir() else { return };
    let dir = shared.join("oracle/dev/video_decode");
    let cases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    let mut exact = 0;
    for case in cases {
        let file = dir.join(case["file"].as_str().unwrap());
        let name = case["file"].as_str().unwrap();
        let indices: Vec<usize> = case["indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let info = probe_video(&file).unwrap();
        assert_eq!(
            info.total_frames as u64,
            case["decord_len"].as_u64().unwrap(),
            "{name}: len"
        );
        assert_eq!(info.fps, case["decord_avg_fps"].as_f64().unwrap(), "{name}");
        let (shape, want) = read_npy_u8(&dir.join(case["frames"].as_str().unwrap()));
        let frames = decode_frames(&file, &indices).unwrap();
        assert_eq!(shape[0], frames.len(), "{name}");
        let per_frame = shape[1..].iter().product::<usize>();
        let mut differing = 0usize;
        let mut max = 0u8;
        for (k, frame) in frames.iter().enumerate() {
            assert_eq!(
                [frame.height() as usize, frame.width() as usize, 3],
                shape[1..],
                "{name}"
            );
            let reference = &want[k * per_frame..(k + 1) * per_frame];
            for (a, b) in frame.as_raw().iter().zip(reference) {
                if a != b {
                    differing += 1;
                    max = max.max(a.abs_diff(*b));
                }
            }
        }
        eprintln!(
            "{name} ({}): frames {indices:?}: {differing} values differ, max |Δ| {max}",
            case["stream"].as_str().unwrap_or("")
        );
        if differing == 0 {
            exact += 1;
        }
    }
    eprintln!("video_decode: {exact}/{} clips exact", cases.len());
    assert_eq!(exact, cases.len(), "clips differing from decord");
}

/// Frames of `path` as our decoder returns them (all of them).
fn all_frames(path: &Path) -> Vec<RgbImage> {
    let n = probe_video(path).unwrap().total_frames;
    decode_frames(path, &(0..n).collect::<Vec<_>>()).unwrap()
}

/// `ffmpeg -i src -c copy -metadata:s:v:0 rotate=DEG dst` (FFmpeg 5.1 writes a display matrix).
fn tag_rotation(src: &Path, dst: &Path, degrees: u32) {
    let tag = format!("rotate={degrees}");
    ffmpeg(&[
        "-i",
        src.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        &tag,
        dst.to_str().unwrap(),
    ]);
}

/// Rotation metadata turns the frames as decord's `transpose` filters do: 180° equals the
/// unrotated frames turned by half (decord 0.6.0 returns exactly that); the display matrix
/// FFmpeg writes for `rotate=90` means decord's 270 (`transpose=2`, counter-clockwise) and the
/// frames come out turned and with swapped sides, as the ffmpeg CLI's autorotation shows them.
#[test]
fn rotation_metadata_turns_frames_like_decord() {
    if !have_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base.mp4");
    synth(
        &base,
        64,
        48,
        10,
        6,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    let plain = all_frames(&base);
    for (degrees, turn) in [
        (
            180u32,
            image::imageops::rotate180 as fn(&RgbImage) -> RgbImage,
        ),
        (90, image::imageops::rotate270),
        (270, image::imageops::rotate90),
    ] {
        let path = tmp.path().join(format!("rot{degrees}.mp4"));
        tag_rotation(&base, &path, degrees);
        let info = probe_video(&path).unwrap();
        assert_eq!(info.total_frames, 6);
        let turned = all_frames(&path);
        for (k, (got, unrotated)) in turned.iter().zip(&plain).enumerate() {
            assert!(
                *got == turn(unrotated),
                "rotate={degrees}: frame {k} is not the unrotated frame turned"
            );
        }
        // The ffmpeg CLI autorotates with the same sign convention.
        let (w, h) = turned[0].dimensions();
        let cli = cli_frames(&path, w, h);
        assert!(
            cli == turned,
            "rotate={degrees}: differs from the CLI's autorotation"
        );
    }
}

/// An MP4 edit list that starts after the first frames (stream copy with `-ss`): decord counts
/// every packet (30), returns the decoded frames (25) from index 0 and repeats the last one for
/// the indices past them; checked against decord 0.6.0 (`scripts/dev/decord_reference.py`).
#[test]
fn edit_list_counts_packets_and_repeats_the_last_frame() {
    if !have_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let long = tmp.path().join("long.mp4");
    synth(
        &long,
        64,
        48,
        10,
        30,
        &[
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", "-bf", "2",
        ],
    );
    let edit = tmp.path().join("edit.mp4");
    ffmpeg(&[
        "-ss",
        "0.45",
        "-i",
        long.to_str().unwrap(),
        "-c",
        "copy",
        edit.to_str().unwrap(),
    ]);
    let full = all_frames(&long);
    let shown = cli_frames(&edit, 64, 48);
    assert_eq!(shown.len(), 25, "the edit list should hide 5 frames");
    let info = probe_video(&edit).unwrap();
    assert_eq!(info.total_frames, 30, "decord's len counts packets");
    assert_eq!(info.fps, 10.0);
    let got = all_frames(&edit);
    for (i, frame) in got.iter().enumerate() {
        let want = &full[(i + 5).min(29)];
        assert!(frame == want, "edit.mp4 frame {i}");
    }
    let tail = decode_frames(&edit, &[27, 3]).unwrap();
    assert!(tail[0] == full[29] && tail[1] == full[8]);
    assert!(matches!(
        decode_frames(&edit, &[30]),
        Err(VideoError::Corrupt { .. })
    ));
}

/// MPEG-TS and variable frame rate: decord's len (packets: 15) and its avg fps (the stream's
/// `avg_frame_rate`), frame `i` = the `i`-th frame in presentation order. (decord 0.6.0 itself
/// repeats frame 2 for every later index of the MPEG-2 TS clip and raises on the H.264 TS clip,
/// its seeking being off for TS; it returns these frames for the VFR clips.)
#[test]
fn mpeg_ts_and_variable_frame_rate_clips() {
    if !have_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let vfr_pts = ["-vf", "setpts='N*N/2/TB/10'", "-fps_mode", "passthrough"];
    let x264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"];
    let cases: Vec<(&str, Vec<&str>, Option<f64>)> = vec![
        ("h264.ts", [&x264[..], &["-bf", "2"]].concat(), Some(10.0)),
        ("mpeg2.ts", vec!["-c:v", "mpeg2video"], Some(10.0)),
        ("vfr.mkv", [&vfr_pts[..], &x264[..]].concat(), Some(10.0)),
        // decord (FFmpeg 4.1) reports 2.0 fps here, FFmpeg 5.1's demuxer 5.0: not asserted.
        ("vfr.mp4", [&vfr_pts[..], &x264[..]].concat(), None),
    ];
    for (name, codec, fps) in cases {
        let path = tmp.path().join(name);
        synth(&path, 64, 48, 10, 15, &codec);
        let info = probe_video(&path).unwrap();
        assert_eq!(info.total_frames, 15, "{name}");
        if let Some(fps) = fps {
            assert_eq!(info.fps, fps, "{name}");
        }
        let reference = cli_frames(&path, 64, 48);
        assert_eq!(reference.len(), 15, "{name}");
        assert!(all_frames(&path) == reference, "{name}: frames");
        let picked = decode_frames(&path, &[14, 0, 7]).unwrap();
        assert!(
            picked[0] == reference[14] && picked[1] == reference[0] && picked[2] == reference[7]
        );
    }
}

/// Where decord fails, we fail with a typed error naming the file: audio only, a file cut
/// before its index, zero bytes.
#[test]
fn files_decord_cannot_read_are_clear_errors() {
    if !have_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let audio = tmp.path().join("tone.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=d=1",
        "-c:a",
        "aac",
        audio.to_str().unwrap(),
    ]);
    let r = probe_video(&audio);
    assert!(matches!(r, Err(VideoError::NoVideoStream { .. })), "{r:?}");
    assert!(r.unwrap_err().to_string().contains("tone.m4a"));
    // Index (moov) at the end, the end cut off.
    let full = tmp.path().join("full.mp4");
    synth(
        &full,
        64,
        48,
        10,
        12,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    let bytes = std::fs::read(&full).unwrap();
    let cut = tmp.path().join("cut_end.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() - 200]).unwrap();
    let r = probe_video(&cut);
    assert!(
        matches!(
            r,
            Err(VideoError::NotAVideo { .. } | VideoError::Corrupt { .. })
        ),
        "{r:?}"
    );
    assert!(r.unwrap_err().to_string().contains("cut_end.mp4"));
    let zero = tmp.path().join("zero.mp4");
    std::fs::write(&zero, b"").unwrap();
    let r = decode_frames(&zero, &[0]);
    assert!(matches!(r, Err(VideoError::NotAVideo { .. })), "{r:?}");
}
