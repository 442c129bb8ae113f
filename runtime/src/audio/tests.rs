//! Tests of the file → `patch_audios` path: the oracle waveform, formats, mono mix, segments,
//! resampling through the pipeline, and bad files.

use super::test_support::{audio_case, read_npy_f32, shared_dir, wav_bytes, wav_f32, wav_i16};
use super::*;
use std::f64::consts::PI;

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn testdata(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/audio/testdata")
        .join(name)
}

/// `audio0.wav` (16-bit mono 48 kHz, exactly 480000 samples) must give the oracle's
/// `patch_audios.npy` bit for bit.
#[test]
fn oracle_wav_gives_patch_audios_exactly() {
    let Some(shared) = shared_dir("oracle_wav_gives_patch_audios_exactly") else {
        return;
    };
    let dir = audio_case(&shared);
    let got = load_waveform(&dir.join("audio0.wav"), &AudioOptions::default()).unwrap();
    assert_eq!((got.source_rate, got.channels), (48000, 1));
    let (shape, want) = read_npy_f32(&dir.join("patch_audios.npy"));
    assert_eq!(shape, [1, 480000]);
    assert_eq!(got.waveform.shape(), &shape[..]);
    let max = got
        .waveform
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let bit_equal = got
        .waveform
        .iter()
        .zip(&want)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    eprintln!("patch_audios: max |Δ| = {max}, bit-identical: {bit_equal}");
    assert!(bit_equal, "max |Δ| = {max}");
}

#[test]
fn stereo_and_multichannel_are_averaged() {
    let dir = tempfile::tempdir().unwrap();
    let frames: Vec<[i16; 3]> = vec![[1000, -3000, 7], [32767, 32767, -32768], [-5, 4, 0]];
    let flat: Vec<i16> = frames.iter().flatten().copied().collect();
    let path = write(&dir, "three.wav", &wav_i16(48000, 3, &flat));
    let got = decode_file(&path, Segment::ALL, 10.0).unwrap();
    assert_eq!((got.sample_rate, got.channels), (48000, 3));
    let want: Vec<f64> = frames
        .iter()
        .map(|f| f.iter().fold(0.0, |a, &s| a + f64::from(s) / 32768.0) / 3.0)
        .collect();
    assert_eq!(got.samples, want);

    let stereo: Vec<f32> = vec![0.5, -0.25, 1.5, 0.5];
    let path = write(&dir, "float.wav", &wav_f32(16000, 2, &stereo));
    let got = decode_file(&path, Segment::ALL, 10.0).unwrap();
    assert_eq!(got.samples, [0.125, 1.0]);
}

/// The FLAC fixture decodes to exactly what `soundfile.read` + `np.mean(axis=1)` gave (SHA-256 of
/// the float64 samples, see `testdata/README.md`); Vorbis and MP3 give the same tone.
#[test]
fn flac_ogg_mp3_decode() {
    use sha2::{Digest, Sha256};
    let flac = decode_file(&testdata("tone440_stereo_22050.flac"), Segment::ALL, 10.0).unwrap();
    assert_eq!(
        (flac.sample_rate, flac.channels, flac.samples.len()),
        (22050, 2, 5512)
    );
    let bytes: Vec<u8> = flac.samples.iter().flat_map(|v| v.to_le_bytes()).collect();
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hex,
        include_str!("testdata/flac_mono_soundfile.sha256").trim()
    );
    for name in ["tone440_stereo_22050.ogg", "tone440_stereo_22050.mp3"] {
        let got = decode_file(&testdata(name), Segment::ALL, 10.0).unwrap();
        assert_eq!((got.sample_rate, got.channels), (22050, 2), "{name}");
        // Encoder delay and end padding are trimmed, as libsndfile does.
        assert_eq!(got.samples.len(), 5512, "{name}");
        // Correlate with the 440 Hz reference: lossy, but clearly the same tone, same level.
        let (mut dot, mut energy) = (0.0, 0.0);
        for (i, &v) in got.samples.iter().enumerate().take(5012).skip(500) {
            let r = 0.375 * (2.0 * PI * 440.0 * i as f64 / 22050.0).sin();
            dot += v * r;
            energy += r * r;
        }
        let gain = dot / energy;
        eprintln!(
            "{name}: {} frames, gain vs reference {gain}",
            got.samples.len()
        );
        assert!((gain - 1.0).abs() < 0.05, "{name}: gain {gain}");
    }
}

#[test]
fn resampled_input_is_48k_and_padded() {
    let dir = tempfile::tempdir().unwrap();
    let n = 44100 / 2; // 0.5 s of 1 kHz at 44.1 kHz
    let tone: Vec<i16> = (0..n)
        .map(|i| (16000.0 * (2.0 * PI * 1000.0 * i as f64 / 44100.0).sin()) as i16)
        .collect();
    let path = write(&dir, "tone.wav", &wav_i16(44100, 1, &tone));
    let got = load_waveform(&path, &AudioOptions::default()).unwrap();
    assert_eq!(got.source_rate, 44100);
    assert!((got.duration_s - 0.5).abs() < 1e-12);
    let w = got.waveform.as_slice().unwrap();
    // 0.5 s → 24000 samples at 48 kHz, repeated 20 times exactly.
    assert_eq!(&w[..24000], &w[24000..48000]);
    // One period of 1 kHz at 48 kHz is 48 samples.
    for i in 1000..1100 {
        assert!((w[i] - w[i + 48]).abs() < 2e-3, "{i}");
    }
    let peak = w[1000..2000].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!((peak - 16000.0 / 32768.0).abs() < 2e-3, "{peak}");
}

#[test]
fn segments_select_before_padding() {
    let dir = tempfile::tempdir().unwrap();
    let ramp: Vec<i16> = (0..48000).map(|i| (i % 30000) as i16).collect();
    let path = write(&dir, "ramp.wav", &wav_i16(48000, 1, &ramp));
    let opts = AudioOptions {
        segment: Segment {
            start_s: Some(0.25),
            end_s: Some(0.5),
        },
        ..AudioOptions::default()
    };
    let got = load_waveform(&path, &opts).unwrap();
    let w = got.waveform.as_slice().unwrap();
    let q = |s: i16| int16_round_trip(&[f64::from(s) / 32768.0])[0];
    assert_eq!(w[0], q(12000));
    assert_eq!(w[11999], q(23999));
    assert_eq!(w[12000], q(12000), "480000/12000 = 40 whole repeats");
    assert_eq!(w[479999], q(23999));
    // Start only / end only.
    let tail = decode_file(
        &path,
        Segment {
            start_s: Some(0.9),
            end_s: None,
        },
        10.0,
    )
    .unwrap();
    assert_eq!(tail.samples.len(), 4800);
    let head = decode_file(
        &path,
        Segment {
            start_s: None,
            end_s: Some(0.001),
        },
        10.0,
    )
    .unwrap();
    assert_eq!(head.samples.len(), 48);
    // A segment past the end holds nothing; bad bounds are rejected before decoding.
    let past = Segment {
        start_s: Some(5.0),
        end_s: Some(6.0),
    };
    let err = decode_file(&path, past, 10.0).unwrap_err();
    assert!(matches!(err, AudioError::NoSamples { .. }), "{err}");
    assert!(err.to_string().contains("ramp.wav"), "{err}");
    for (s, e) in [
        (Some(0.5), Some(0.5)),
        (Some(-1.0), None),
        (None, Some(f64::NAN)),
    ] {
        let seg = Segment {
            start_s: s,
            end_s: e,
        };
        assert!(matches!(
            decode_file(&path, seg, 10.0),
            Err(AudioError::InvalidSegment { .. })
        ));
    }
    // Longer than the decode limit.
    assert!(matches!(
        decode_file(&path, Segment::ALL, 0.5),
        Err(AudioError::TooLong { .. })
    ));
}

#[test]
fn silence_is_valid_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "quiet.wav", &wav_i16(48000, 2, &[0; 2000]));
    let got = load_waveform(&path, &AudioOptions::default()).unwrap();
    assert!(got.waveform.iter().all(|&v| v == 0.0));
}

/// Ogg page (`flags`: 2 = BOS, 4 = EOS) with `payload` as one packet (CRC-32 with polynomial
/// 0x04c11db7, not reflected).
fn ogg_page(flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut page = b"OggS\x00".to_vec();
    page.push(flags);
    page.extend_from_slice(&0u64.to_le_bytes());
    page.extend_from_slice(&0x1234u32.to_le_bytes());
    page.extend_from_slice(&seq.to_le_bytes());
    page.extend_from_slice(&0u32.to_le_bytes()); // checksum placeholder
    page.push(1);
    page.push(payload.len() as u8);
    page.extend_from_slice(payload);
    let mut crc = 0u32;
    for &b in &page {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

#[test]
fn bad_files_give_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let opts = AudioOptions::default();
    let good = wav_i16(48000, 1, &[100; 4800]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.wav", vec![]),
        (
            "text.wav",
            b"this is not audio at all, just text\n".repeat(10),
        ),
        ("header_only.wav", good[..30].to_vec()),
        ("no_data.wav", wav_bytes(1, 48000, 1, 16, &[])),
        ("video_only.ogg", {
            let mut ogg = ogg_page(2, 0, b"\x80theora\x03\x02\x01 not audio");
            ogg.extend(ogg_page(4, 1, b"frame data"));
            ogg
        }),
        ("missing.wav", vec![]),
    ];
    for (name, bytes) in &cases {
        let path = if *name == "missing.wav" {
            dir.path().join(name)
        } else {
            write(&dir, name, bytes)
        };
        let err = load_waveform(&path, &opts).unwrap_err();
        eprintln!("{name}: {err}");
        assert!(err.to_string().contains(name), "{name}: {err}");
        let ok = match *name {
            "empty.wav" => matches!(err, AudioError::Empty { .. }),
            "text.wav" => matches!(err, AudioError::Unsupported { .. }),
            "header_only.wav" => {
                matches!(
                    err,
                    AudioError::Corrupt { .. } | AudioError::Unsupported { .. }
                )
            }
            "no_data.wav" => matches!(err, AudioError::NoSamples { .. }),
            "video_only.ogg" => matches!(err, AudioError::NoAudioTrack { .. }),
            "missing.wav" => matches!(err, AudioError::NotFound { .. }),
            _ => false,
        };
        assert!(ok, "{name}: unexpected {err:?}");
    }
    // A truncated WAV gives the samples that are there, as libsndfile (the original) does, and a
    // warning naming the file.
    let path = write(&dir, "truncated.wav", &good[..good.len() - 3000]);
    let got = decode_file(&path, Segment::ALL, 10.0).unwrap();
    assert_eq!(got.samples.len(), 4800 - 1500);
    assert!(
        got.warnings.iter().any(|w| w.contains("truncated.wav")),
        "{:?}",
        got.warnings
    );
    // In-memory bytes name `<memory>`.
    let err = decode_bytes(vec![], Some("wav"), Segment::ALL, 1.0).unwrap_err();
    assert!(err.to_string().contains("<memory>"));
}

#[test]
fn prepare_samples_validates_options() {
    let bad = AudioOptions {
        max_len: 0,
        ..AudioOptions::default()
    };
    assert!(matches!(
        prepare_samples(&[0.1; 10], 48000, 1, &bad),
        Err(AudioError::InvalidConfig { .. })
    ));
    let short = AudioOptions {
        max_len: 4,
        crop: Crop::Center,
        ..AudioOptions::default()
    };
    let got = prepare_samples(&[0.0, 0.1, 0.2, 0.3, 0.4, 0.5], 48000, 1, &short).unwrap();
    assert_eq!(got.waveform.shape(), [1, 4]);
    assert_eq!(got.waveform[[0, 0]], int16_round_trip(&[0.1])[0]);
}
