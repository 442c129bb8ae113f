//! Video files through FFmpeg: probe, pick frames like the task does, decode them.

use super::temp_file;
use unival_runtime::vision::video::{decode_frames, frame_indices, probe_video, Sampling};

/// Frames decoded per input at most (enough to reach past the first keyframe interval).
const FRAMES: usize = 3;
/// Largest announced frame count the target decodes from (bounds the time one input takes).
const MAX_FRAMES: usize = 10_000;

/// Probes `data` as a video file; a probed video must decode its sampled frames or fail cleanly.
pub fn run(data: &[u8]) {
    let (_dir, path) = temp_file("input.video", data);
    let Ok(info) = probe_video(&path) else {
        return;
    };
    assert!(info.total_frames > 0, "a probed video has no frames");
    assert_eq!(
        info.frame_times.len(),
        info.total_frames,
        "one presentation time per frame"
    );
    if info.total_frames > MAX_FRAMES {
        return;
    }
    let indices = frame_indices(FRAMES, info.total_frames, &Sampling::Middle, &path)
        .expect("middle sampling of a non-empty video");
    assert!(indices.iter().all(|&i| i < info.total_frames));
    if let Ok(frames) = decode_frames(&path, &indices) {
        assert_eq!(frames.len(), indices.len(), "one image per index");
    }
}
