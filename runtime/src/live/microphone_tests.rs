//! Tests of the microphone source: sample conversion and the bounded buffer as pure code, and
//! the whole cpal → ALSA capture path through a FIFO-fed ALSA `file` PCM
//! ([`crate::live::alsa_fifo`]).

use super::*;
use crate::live::alsa_fifo::{self, rms, tone, zero_crossing_hz, AlsaFifo};
use std::sync::atomic::AtomicBool;

/// alsa-lib's configuration is process-wide: the ALSA tests take turns.
static ALSA: Mutex<()> = Mutex::new(());

#[test]
fn downmix_averages_frames() {
    assert_eq!(downmix(&[0.5, -0.5, 1.0, 0.0], 2), vec![0.0, 0.5]);
    assert_eq!(downmix(&[0.1, 0.2, 0.3, 0.9], 1), vec![0.1, 0.2, 0.3, 0.9]);
    // A trailing partial frame is ignored.
    assert_eq!(downmix(&[0.3, 0.3, 0.3, 1.0], 3), vec![0.3]);
    assert!(downmix(&[1.0], 0).is_empty());
}

#[test]
fn integer_formats_scale_to_unit_range() {
    assert_eq!(
        slice_to_mono(&[i16::MIN, 0, 16384], 1),
        vec![-1.0, 0.0, 0.5]
    );
    assert_eq!(
        slice_to_mono(&[0u8, 128, 255, 128], 2),
        vec![-0.5, (127.0 / 128.0) / 2.0]
    );
    assert_eq!(slice_to_mono(&[i32::MIN, i32::MIN], 2), vec![-1.0]);
    assert_eq!(slice_to_mono(&[0.25f32, 0.75], 2), vec![0.5]);
}

#[test]
fn buffer_drops_and_counts_the_oldest_samples() {
    let mut buf = Buffer::new(5);
    buf.push(&[1.0, 2.0, 3.0], Stamp::now());
    buf.push(&[4.0, 5.0, 6.0, 7.0], Stamp::now());
    assert_eq!(
        buf.samples.iter().copied().collect::<Vec<_>>(),
        vec![3.0, 4.0, 5.0, 6.0, 7.0]
    );
    assert_eq!(buf.dropped, 2);
    // A push longer than the whole buffer keeps its newest samples.
    buf.push(&[10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0], Stamp::now());
    assert_eq!(
        buf.samples.iter().copied().collect::<Vec<_>>(),
        vec![12.0, 13.0, 14.0, 15.0, 16.0]
    );
    assert_eq!(buf.dropped, 2 + 5 + 2);
}

#[test]
fn invalid_options_are_refused() {
    let opts = MicOptions {
        chunk_seconds: 3.0,
        ..MicOptions::default()
    };
    let err = MicrophoneSource::open_with(Some("x"), &opts).err().unwrap();
    assert!(matches!(err, LiveError::BadSpec { .. }), "{err}");
}

/// Reads chunks until `seconds` of audio have arrived (or fails after a generous timeout).
fn capture(mic: &mut MicrophoneSource, seconds: f64) -> Vec<f32> {
    let want = (f64::from(mic.sample_rate()) * seconds) as usize;
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds * 4.0 + 5.0);
    while got.len() < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} samples",
            got.len()
        );
        let chunk = mic.next_chunk().unwrap().unwrap();
        got.extend(chunk.samples);
    }
    got
}

/// Writes the tone then silence into the FIFO in real time, then silence until told to stop.
fn feed(fifo: &AlsaFifo, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let mut writer = fifo.writer().unwrap();
    let rate = fifo.rate;
    std::thread::spawn(move || {
        writer.write(&tone(440.0, rate, 1.5, 0.5)).unwrap();
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            writer.write(&vec![0.0; rate as usize / 20]).unwrap();
        }
        writer.finish().unwrap();
        writer.frames_written()
    })
}

/// The must-show path: a 440 Hz tone and then silence, written as raw S16_LE into the FIFO,
/// captured by `MicrophoneSource` through cpal and ALSA (`plug` → `file` → FIFO).
fn tone_then_silence(rate: u32, channels: u16) {
    let _turn = ALSA.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let fifo = AlsaFifo::create(dir.path(), rate, channels).unwrap();
    fifo.apply_env();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = feed(&fifo, Arc::clone(&stop));
    let mut mic = MicrophoneSource::open(Some(AlsaFifo::DEVICE)).unwrap();
    eprintln!("opened {}", mic.describe());
    let got = mic.sample_rate();
    let audio = capture(&mut mic, 2.3);
    assert_eq!(mic.dropped_samples(), 0);
    // Drop the source while the writer still writes: cpal's thread may be blocked reading the
    // FIFO and needs one more block to notice.
    drop(mic);
    stop.store(true, std::sync::atomic::Ordering::Release);
    let written = writer.join().unwrap();
    assert!(written >= u64::from(rate) * 2, "{written} frames written");

    // The tone: 1 s of it (after 0.1 s of start-up) has the sine's RMS (0.5/√2) and crosses
    // zero 880 times a second, whatever rate cpal chose (plug converts).
    let r = got as usize;
    let tone_part = &audio[r / 10..r + r / 10];
    let level = rms(tone_part);
    let hz = zero_crossing_hz(tone_part, got);
    eprintln!("{rate} Hz x{channels}: tone rms {level:.4}, {hz:.1} Hz");
    assert!((level - 0.5 / 2f32.sqrt()).abs() < 0.01, "rms {level}");
    assert!((hz - 440.0).abs() < 440.0 * 0.02, "{hz} Hz");
    // The silence after it.
    let quiet = &audio[r * 17 / 10..r * 22 / 10];
    let level = rms(quiet);
    let peak = quiet.iter().fold(0f32, |m, v| m.max(v.abs()));
    eprintln!("silence: rms {level:.6}, peak {peak:.6}");
    assert!(peak < 1e-3, "peak of silence {peak}");
}

#[test]
fn captures_a_tone_then_silence_through_alsa_48k_stereo() {
    if alsa_fifo::available("captures_a_tone_then_silence_through_alsa_48k_stereo") {
        tone_then_silence(48_000, 2);
    }
}

#[test]
fn captures_a_tone_then_silence_through_alsa_16k_mono() {
    if alsa_fifo::available("captures_a_tone_then_silence_through_alsa_16k_mono") {
        tone_then_silence(16_000, 1);
    }
}

#[test]
fn a_device_that_stops_delivering_is_lost() {
    if !alsa_fifo::available("a_device_that_stops_delivering_is_lost") {
        return;
    }
    let _turn = ALSA.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let fifo = AlsaFifo::create(dir.path(), 16_000, 1).unwrap();
    fifo.apply_env();
    let mut writer = fifo.writer().unwrap();
    let opts = MicOptions {
        stall_timeout: Duration::from_millis(400),
        ..MicOptions::default()
    };
    let mut mic = MicrophoneSource::open_with(Some(AlsaFifo::DEVICE), &opts).unwrap();
    writer.write(&tone(300.0, 16_000, 0.3, 0.3)).unwrap();
    let first = mic.next_chunk().unwrap().unwrap();
    assert!(!first.samples.is_empty());
    // Nothing more is written: after the stall timeout the microphone counts as lost.
    let started = Instant::now();
    let err = loop {
        match mic.next_chunk() {
            Ok(Some(_)) => assert!(started.elapsed() < Duration::from_secs(5)),
            Ok(None) => panic!("a microphone never ends"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, LiveError::Lost { .. }), "{err}");
    assert!(err.is_recoverable());
    assert!(err.to_string().contains(AlsaFifo::DEVICE), "{err}");
    // Closing every write end lets cpal's blocked read return, so the stream can stop.
    drop(writer);
    drop(fifo);
    drop(mic);
}
