//! Every sound format against the original's chain (`soundfile.read` → channel mean →
//! torchaudio `Resample` to 48 kHz in `f32` → int16 round trip), with the expected values that
//! `scripts/dev/audio_format_fixtures.py` computed (soundfile 0.14 with its bundled libsndfile
//! 1.2.2, torch/torchaudio 2.1.2) for the files in `testdata/formats/`.

use super::test_support::read_npy_i16;
use super::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

fn formats_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/audio/testdata/formats")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(formats_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn entries<'a>(manifest: &'a Value, group: &str) -> &'a Vec<Value> {
    manifest[group].as_array().unwrap()
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sha_f64(x: &[f64]) -> String {
    hex_sha256(&x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
}

/// The int16 codes of the model waveform for `decoded` (its own length, nothing padded): the
/// production path ([`prepare_samples`]) read back as `round(w · 32767)`.
fn pipeline_codes(decoded: &DecodedAudio) -> Vec<i16> {
    let out_len = (decoded.samples.len() as u64 * u64::from(MODEL_SAMPLE_RATE))
        .div_ceil(u64::from(decoded.sample_rate)) as usize;
    let opts = AudioOptions {
        max_len: out_len,
        ..AudioOptions::default()
    };
    let prepared = prepare_samples(
        &decoded.samples,
        decoded.sample_rate,
        decoded.channels,
        &opts,
    )
    .unwrap();
    prepared
        .waveform
        .iter()
        .map(|&w| (f64::from(w) * 32767.0).round() as i16)
        .collect()
}

/// Largest |Δ| in int16 codes and the share of equal codes.
fn compare(got: &[i16], want: &[i16]) -> (i32, f64) {
    assert_eq!(got.len(), want.len());
    let max = got
        .iter()
        .zip(want)
        .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
        .max()
        .unwrap_or(0);
    let equal = got.iter().zip(want).filter(|(a, b)| a == b).count();
    (max, equal as f64 / want.len().max(1) as f64)
}

/// 8-bit unsigned, 16/24/32-bit int, float32/64, A-law/µ-law, IMA/MS-ADPCM, GSM 6.10, FLAC,
/// W64, AIFF, AU and WAVE_FORMAT_EXTENSIBLE 6 and 9 channels at 48 kHz: the `float64` mono signal
/// is bit-identical to soundfile's (SHA-256), and so are the int16 codes.
#[test]
fn every_48k_format_decodes_exactly() {
    let manifest = expected();
    let mut failures = Vec::new();
    for e in entries(&manifest, "exact") {
        let name = e["file"].as_str().unwrap();
        let got = decode_file(&formats_dir().join(name), Segment::ALL, 60.0).unwrap();
        let shape = (got.sample_rate, got.channels, got.samples.len() as u64);
        let want_shape = (
            e["rate"].as_u64().unwrap() as u32,
            e["channels"].as_u64().unwrap() as usize,
            e["frames"].as_u64().unwrap(),
        );
        let f64_ok = sha_f64(&got.samples) == e["sha256_f64"].as_str().unwrap();
        let codes: Vec<u8> = pipeline_codes(&got)
            .iter()
            .flat_map(|c| c.to_le_bytes())
            .collect();
        let codes_ok = hex_sha256(&codes) == e["sha256_codes"].as_str().unwrap();
        eprintln!("{name}: {shape:?}, f64 exact {f64_ok}, int16 codes exact {codes_ok}");
        if shape != want_shape || !f64_ok || !codes_ok || !got.warnings.is_empty() {
            failures.push(format!(
                "{name}: {shape:?} vs {want_shape:?}, {f64_ok}, {codes_ok}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// MP3, Ogg Vorbis and Ogg Opus: the same decoders (mpg123, libvorbis, libopus) behind the
/// system libsndfile; the fixtures' expected codes came from soundfile's bundled libsndfile
/// 1.2.2. Measured: max |Δ| = 0 codes for all three (Debian bookworm libsndfile 1.2.0).
#[test]
fn lossy_formats_match_soundfile() {
    let manifest = expected();
    for e in entries(&manifest, "lossy") {
        let name = e["file"].as_str().unwrap();
        let got = decode_file(&formats_dir().join(name), Segment::ALL, 60.0).unwrap();
        assert_eq!(got.sample_rate, 48000, "{name}");
        let want = read_npy_i16(&formats_dir().join(format!("{name}.codes.npy")));
        let (max, share) = compare(&pipeline_codes(&got), &want);
        eprintln!(
            "{name}: max |Δ| {max} int16 codes, {:.4} % equal",
            share * 100.0
        );
        assert!(max <= LOSSY_MAX_CODES, "{name}: max |Δ| = {max}");
    }
}

/// Bound asserted for the lossy decoders (measured: see the test's doc).
const LOSSY_MAX_CODES: i32 = 2;

/// Files at 8, 11.025, 16, 22.05, 32, 44.1 and 96 kHz through torchaudio's `Resample` in `f32`.
/// Measured on x86-64: upsampling is bit-identical (max |Δ| 0, 100 % equal); 96 kHz → 48 kHz
/// differs by at most 1 code (PyTorch sums that convolution in another order).
#[test]
fn resampled_files_match_torchaudio() {
    let manifest = expected();
    for e in entries(&manifest, "resampled") {
        let name = e["file"].as_str().unwrap();
        let got = decode_file(&formats_dir().join(name), Segment::ALL, 60.0).unwrap();
        assert_eq!(
            sha_f64(&got.samples),
            e["sha256_f64"].as_str().unwrap(),
            "{name}"
        );
        let want = read_npy_i16(&formats_dir().join(format!("{name}.codes.npy")));
        let (max, share) = compare(&pipeline_codes(&got), &want);
        eprintln!(
            "{name}: {} Hz → 48 kHz: max |Δ| {max} int16 codes, {:.3} % equal",
            got.sample_rate,
            share * 100.0
        );
        let bound = if got.sample_rate < MODEL_SAMPLE_RATE {
            0
        } else {
            1
        };
        assert!(max <= bound, "{name}: max |Δ| = {max}");
    }
}

/// Truncated files: libsndfile reads the frames that are there (so does the original), and a
/// warning says so; where libsndfile fails, a clear error naming the file.
#[test]
fn truncated_files_read_like_libsndfile_with_a_warning() {
    let manifest = expected();
    let dir = tempfile::tempdir().unwrap();
    for e in entries(&manifest, "truncated") {
        let name = e["file"].as_str().unwrap();
        let keep = e["keep_bytes"].as_u64().unwrap() as usize;
        let bytes = std::fs::read(formats_dir().join(name)).unwrap();
        let path = dir.path().join(format!("cut_{name}"));
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let got = decode_file(&path, Segment::ALL, 60.0);
        match (&got, e.get("error")) {
            (Ok(d), None) => {
                eprintln!(
                    "cut {name}: {} frames, warnings {:?}",
                    d.samples.len(),
                    d.warnings
                );
                assert_eq!(
                    d.samples.len() as u64,
                    e["frames"].as_u64().unwrap(),
                    "{name}"
                );
                assert_eq!(
                    sha_f64(&d.samples),
                    e["sha256_f64"].as_str().unwrap(),
                    "{name}"
                );
            }
            (Err(err), Some(_)) => {
                eprintln!("cut {name}: {err}");
                assert!(err.to_string().contains(&format!("cut_{name}")), "{err}");
            }
            _ => panic!("cut {name}: {got:?} but expected {e}"),
        }
    }
}

/// Damaged bytes (cut anywhere, header bytes overwritten) never panic: each gives samples or a
/// typed error naming the file.
#[test]
fn damaged_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "pcm16.wav",
        "ima_adpcm.wav",
        "pcm16.flac",
        "mp3.mp3",
        "vorbis.ogg",
        "pcm16.aiff",
    ] {
        let bytes = std::fs::read(formats_dir().join(name)).unwrap();
        let path = dir.path().join(format!("bad_{name}"));
        let mut variants: Vec<Vec<u8>> = (1..bytes.len())
            .step_by(97)
            .map(|n| bytes[..n].to_vec())
            .collect();
        for at in (4..64.min(bytes.len())).step_by(3) {
            let mut v = bytes.clone();
            v[at] ^= 0xff;
            variants.push(v);
        }
        for v in variants {
            std::fs::write(&path, &v).unwrap();
            if let Err(err) = decode_file(&path, Segment::ALL, 60.0) {
                assert!(err.to_string().contains(&format!("bad_{name}")), "{err}");
            }
        }
    }
}

/// Bytes in memory go through the same reader callbacks as files and give the same samples.
#[test]
fn bytes_in_memory_equal_the_file() {
    for name in ["pcm16.flac", "ms_adpcm.wav", "opus.ogg"] {
        let path = formats_dir().join(name);
        let from_file = decode_file(&path, Segment::ALL, 60.0).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let from_memory = decode_bytes(bytes, None, Segment::ALL, 60.0).unwrap();
        assert_eq!(from_file, from_memory, "{name}");
    }
}
