//! Sound files through libsndfile: decode from a file and from memory, then the task's waveform.

use super::temp_file;
use unival_runtime::audio::{decode_bytes, decode_file, prepare_samples, AudioOptions, Segment};

/// Longest sound decoded (seconds): bounds memory and time per input.
const MAX_SECONDS: f64 = 30.0;

/// Decodes `data`; both entry points must agree, and decoded samples must become a waveform.
pub fn run(data: &[u8]) {
    let (_dir, path) = temp_file("input.sound", data);
    let from_file = decode_file(&path, Segment::ALL, MAX_SECONDS);
    let from_memory = decode_bytes(data.to_vec(), None, Segment::ALL, MAX_SECONDS);
    assert_eq!(
        from_file.is_ok(),
        from_memory.is_ok(),
        "file and memory decoding disagree"
    );
    let Ok(decoded) = from_file else {
        return;
    };
    assert!(decoded.sample_rate > 0, "decoded with a zero sample rate");
    assert!(decoded.channels > 0, "decoded with no channel");
    let opts = AudioOptions {
        max_len: 4096,
        ..AudioOptions::default()
    };
    let prepared = prepare_samples(
        &decoded.samples,
        decoded.sample_rate,
        decoded.channels,
        &opts,
    );
    if let Ok(p) = prepared {
        assert_eq!(p.waveform.shape(), [1, 4096]);
        assert!(
            p.waveform.iter().all(|v| v.is_finite()),
            "non-finite sample"
        );
    }
}
