//! Test helpers for the audio module: locating the shared oracle data, reading the STFT kernels
//! from the oracle checkpoint, and writing small WAV files byte by byte.

use std::path::{Path, PathBuf};

pub use crate::vision::test_support::read_npy_f32;

/// Root of the shared oracle data: `$UNIVAL_SHARED`, else the first ancestor of this crate that
/// has `shared/oracle`. Missing: prints a loud SKIPPED line and returns `None`, or panics when
/// `CI=true` (CI must run these tests).
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let found = match std::env::var_os("UNIVAL_SHARED") {
        Some(dir) => Some(PathBuf::from(dir)).filter(|d| d.join("oracle").is_dir()),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|a| a.join("shared"))
            .find(|d| d.join("oracle").is_dir()),
    };
    if found.is_none() {
        let msg = format!(
            "SKIPPED {test}: shared oracle data not found (set UNIVAL_SHARED or place shared/ \
             beside the repository)"
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
    }
    found
}

/// The oracle's audio case directories: PANN CNN6 (`micro_av_fp16.pt`) and CNN14
/// (`micro_cnn14_fp16.pt`, the encoder of the released audio checkpoints).
pub const AUDIO_CASES: [&str; 2] = ["audio_caption", "audio_caption_cnn14"];

/// The oracle's (CNN6) audio case directory.
pub fn audio_case(shared: &Path) -> PathBuf {
    oracle_case(shared, AUDIO_CASES[0])
}

/// The oracle case directory `dev/<case>`.
pub fn oracle_case(shared: &Path, case: &str) -> PathBuf {
    shared.join("oracle/dev").join(case)
}

/// `meta.json` of oracle case `case`.
pub fn case_meta(shared: &Path, case: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(oracle_case(shared, case).join("meta.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `(real, imag)` STFT kernels `[513, 1024]` of the oracle's `micro_av_fp16.pt`.
pub fn oracle_kernels(shared: &Path) -> (Vec<f32>, Vec<f32>) {
    case_kernels(shared, AUDIO_CASES[0])
}

/// `(real, imag)` STFT kernels `[513, 1024]` of the checkpoint oracle case `case` was computed
/// with (its `meta.json` names it), read with the exporter's checkpoint reader (the tensors
/// have unusual strides; `to_f32` honours them).
pub fn case_kernels(shared: &Path, case: &str) -> (Vec<f32>, Vec<f32>) {
    use unival_export::{Checkpoint, WeightsChoice};
    let meta = case_meta(shared, case);
    let file = meta["checkpoint"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let ckpt = Checkpoint::open(
        shared.join("oracle/dev/checkpoints").join(file),
        WeightsChoice::Model,
    )
    .unwrap();
    let get = |part: &str| {
        let t = ckpt
            .weights
            .get(&format!(
                "encoder.embed_audios.spectrogram_extractor.stft.{part}.weight"
            ))
            .unwrap();
        assert_eq!(t.shape(), [513, 1, 1024]);
        t.to_f32().unwrap()
    };
    (get("conv_real"), get("conv_imag"))
}

/// A canonical 16-bit PCM WAV with `channels` interleaved channels.
pub fn wav_i16(rate: u32, channels: u16, interleaved: &[i16]) -> Vec<u8> {
    let data: Vec<u8> = interleaved.iter().flat_map(|s| s.to_le_bytes()).collect();
    wav_bytes(1, rate, channels, 16, &data)
}

/// A 32-bit float WAV (format tag 3).
pub fn wav_f32(rate: u32, channels: u16, interleaved: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = interleaved.iter().flat_map(|s| s.to_le_bytes()).collect();
    wav_bytes(3, rate, channels, 32, &data)
}

/// RIFF/WAVE with a `fmt ` chunk and a `data` chunk holding `data`.
pub fn wav_bytes(format: u16, rate: u32, channels: u16, bits: u16, data: &[u8]) -> Vec<u8> {
    let block = channels * bits / 8;
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&format.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// A 1-D little-endian int16 `.npy` array (numpy's `np.save` of an `int16` vector).
pub fn read_npy_i16(path: &Path) -> Vec<i16> {
    let (_, data) = crate::vision::test_support::read_npy_raw(path, "<i2");
    data.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}
