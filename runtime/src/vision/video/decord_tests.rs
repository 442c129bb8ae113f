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
