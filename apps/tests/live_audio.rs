//! Issue "live loops", must-show: `unival live audio-caption` hears a real ALSA capture device
//! through `cpal`. The device is ALSA's `file` plugin reading a FIFO (no sound card needed; see
//! `runtime::live::alsa_fifo`); the test writes 3 s of digital silence, then a 440 Hz tone, and
//! checks that the silent windows are reported as silence and the tone is captioned, with the
//! loudness the samples really had.

mod common;
mod live_support;

use live_support::{Live, FAST};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use unival_runtime::live::alsa_fifo::{self, tone, AlsaFifo};

const RATE: u32 = 16_000;

#[test]
fn live_audio_caption_hears_an_alsa_fifo_microphone() {
    if !alsa_fifo::available("live_audio_caption_hears_an_alsa_fifo_microphone") {
        return;
    }
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("audio");
    common::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_unival"))
            .args(["export", "--task", "audio_caption", "--checkpoint"])
            .arg(shared.join("oracle/dev/checkpoints/micro_av_fp16.pt"))
            .arg("--out")
            .arg(&model),
    );
    let fifo = AlsaFifo::create(tmp.path(), RATE, 1).unwrap();
    let mut writer = fifo.writer().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let period = vec![0.0f32; RATE as usize / 10];
            writer.write(&vec![0.0; 3 * RATE as usize]).unwrap();
            writer.write(&tone(440.0, RATE, 6.0, 0.3)).unwrap();
            // cpal's capture thread may sit in a FIFO read: keep it fed until the child exits.
            while !stop.load(Ordering::Relaxed) {
                if writer.write(&period).is_err() {
                    break;
                }
            }
        })
    };
    let model_arg = model.to_str().unwrap();
    let mut args = vec![
        "live",
        "audio-caption",
        "--model",
        model_arg,
        "--source",
        "mic:unival_fifo",
        "--hop",
        "1",
        "--duration",
        "10",
        "--json",
    ];
    args.extend(FAST);
    let mut live = Live::spawn_with_env(&args, &fifo.env());
    let mut results = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while let Some(v) = live.next_json(deadline) {
        results.push(v);
    }
    let code = live.wait_exit(Duration::from_secs(20));
    stop.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
    let stderr = live.stderr_text();
    assert_eq!(code, 0, "stderr:\n{stderr}");

    let of_kind = |k: &str| -> Vec<&serde_json::Value> {
        results.iter().filter(|v| v["kind"] == k).collect()
    };
    let silences = of_kind("silence");
    let captions = of_kind("caption");
    eprintln!(
        "{} silent windows, {} captions; levels: {:?}",
        silences.len(),
        captions.len(),
        results
            .iter()
            .map(|v| format!("{}={}", v["kind"], v["level_dbfs"]))
            .collect::<Vec<_>>()
    );
    assert!(
        !silences.is_empty(),
        "no silence reported: {results:?}\n{stderr}"
    );
    assert!(
        !captions.is_empty(),
        "the tone was not captioned: {results:?}\n{stderr}"
    );
    for s in &silences {
        assert!(s["level_dbfs"].as_f64().unwrap() < -50.0, "{s}");
        assert_eq!(s["text"], "");
    }
    // The window holding most tone: a 0.3-amplitude sine is -13.5 dBFS; windows still holding
    // some of the leading silence are quieter.
    let loudest = captions
        .iter()
        .map(|c| c["level_dbfs"].as_f64().unwrap())
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(
        (-25.0..-13.0).contains(&loudest),
        "loudest window {loudest} dBFS"
    );
    for c in &captions {
        assert_eq!(c["task"], "audio_caption");
    }
    let first_caption = captions[0]["emitted_ms"].as_u64().unwrap();
    assert!(
        silences[0]["emitted_ms"].as_u64().unwrap() < first_caption,
        "silence came first in the feed"
    );
    assert_eq!(results.last().unwrap()["kind"], "summary");
}
