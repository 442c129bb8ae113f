//! The loops end to end with stand-in sources and a stand-in model: newest-wins under a slow
//! model, questions, rolling windows, silence, a lost source coming back.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::tasks::{Media, Request, TaskError, TaskOutput};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A model that takes `delay` per run and answers with what it was given.
struct Slow {
    delay: Duration,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Infer for Slow {
    fn infer(
        &mut self,
        label: &str,
        media: &Media,
        request: &Request,
    ) -> Result<TaskOutput, TaskError> {
        std::thread::sleep(self.delay);
        let what = match (media, request) {
            (Media::Frames(f), _) => format!("{} frames", f.len()),
            (Media::Audio { mono, rate }, _) => format!("{} samples at {rate}", mono.len()),
            (Media::Image(i), Request::Vqa { question, .. }) => {
                format!("{question} {}", i.width())
            }
            (Media::Image(i), _) => format!("image {}", i.width()),
        };
        self.seen.lock().unwrap().push(format!("{label}: {what}"));
        Ok(TaskOutput {
            text: what,
            ..TaskOutput::empty(label, request.task().name())
        })
    }
}

fn slow(ms: u64) -> (Slow, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    (
        Slow {
            delay: Duration::from_millis(ms),
            seen: Arc::clone(&seen),
        },
        seen,
    )
}

/// Frames every `period`, `count` of them (then the source ends), lost once after `lose_at`.
struct Ticker {
    period: Duration,
    seq: u64,
    count: u64,
    lose_at: Option<u64>,
}

impl FrameSource for Ticker {
    fn describe(&self) -> String {
        "ticker".into()
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, LiveError> {
        if self.seq == self.count {
            return Ok(None);
        }
        if self.lose_at == Some(self.seq) {
            return Err(LiveError::Lost {
                source_name: "camera 9".into(),
                reason: "unplugged".into(),
            });
        }
        std::thread::sleep(self.period);
        self.seq += 1;
        Ok(Some(Frame {
            image: image::RgbImage::new(8, 4),
            captured: Stamp::now(),
            seq: self.seq - 1,
        }))
    }
}

fn ticker(period_ms: u64, count: u64) -> Opener<Box<dyn FrameSource>> {
    Opener {
        name: "ticker".into(),
        open: Box::new(move || -> Result<Box<dyn FrameSource>, LiveError> {
            Ok(Box::new(Ticker {
                period: Duration::from_millis(period_ms),
                seq: 0,
                count,
                lose_at: None,
            }))
        }),
    }
}

fn frames(
    model: Slow,
    task: FrameTask,
    mut opener: Opener<Box<dyn FrameSource>>,
) -> Result<LiveRun, LiveError> {
    let source = (opener.open)()?;
    start_frames(model, task, source, opener)
}

fn audio(
    model: Slow,
    task: AudioTask,
    mut opener: Opener<Box<dyn AudioSource>>,
) -> Result<LiveRun, LiveError> {
    let source = (opener.open)()?;
    start_audio(model, task, source, opener)
}

/// Collects every result until the run ends by itself.
fn drain(run: LiveRun) -> Vec<LiveResult> {
    let got: Vec<LiveResult> = run.results().iter().collect();
    run.finish(Duration::from_secs(1));
    got
}

fn model_outputs(rs: &[LiveResult]) -> Vec<&LiveResult> {
    rs.iter().filter(|r| r.is_model_output()).collect()
}

#[test]
fn slow_model_drops_frames_and_latency_stays_flat() {
    // 200 frames at 200 fps (1 s) into a model taking 40 ms: the model keeps up with only
    // one frame in eight, and each result is about the newest frame, so latency stays near
    // one model run instead of growing.
    let (model, _) = slow(40);
    let run = frames(model, FrameTask::Caption, ticker(5, 200)).unwrap();
    let rs = drain(run);
    let outs = model_outputs(&rs);
    assert!(
        outs.len() >= 10 && outs.len() <= 40,
        "{} results",
        outs.len()
    );
    assert!(outs.iter().all(|r| r.latency_ms < 200.0), "{outs:?}");
    assert!(outs.windows(2).all(|w| w[0].seq < w[1].seq));
    let q = outs.len() / 4;
    let mut first: Vec<f64> = outs[..q].iter().map(|r| r.latency_ms).collect();
    let mut last: Vec<f64> = outs[outs.len() - q..]
        .iter()
        .map(|r| r.latency_ms)
        .collect();
    first.sort_by(f64::total_cmp);
    last.sort_by(f64::total_cmp);
    assert!(median(&last).unwrap() <= 1.5 * median(&first).unwrap().max(45.0));
    assert_eq!(rs[0].kind, ResultKind::Status);
    assert_eq!(rs[0].text, "reading ticker");
    // The source's end is reported (the last pending frame may be captioned after it).
    assert!(
        rs.iter().rev().take(3).any(|r| r.text == "ticker ended"),
        "{rs:?}"
    );
}

#[test]
fn run_counts_dropped_frames() {
    let (model, _) = slow(30);
    let run = frames(model, FrameTask::Caption, ticker(2, 150)).unwrap();
    let mut n = 0u64;
    for r in run.results().iter() {
        n += u64::from(r.is_model_output());
    }
    assert_eq!(run.captured(), 150);
    // Every frame was either captioned or dropped (one may have been taken as the slot closed).
    let accounted = n + run.dropped();
    assert!((149..=150).contains(&accounted), "{n} + {}", run.dropped());
    run.finish(Duration::from_secs(1));
}

#[test]
fn vqa_answers_each_question_once_unless_every() {
    let (model, seen) = slow(5);
    let run = frames(
        model,
        FrameTask::Vqa {
            every: false,
            answers: None,
        },
        ticker(10, 60),
    )
    .unwrap();
    let q = run.questions();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!q.ask("   "));
    assert!(q.ask("what is it?"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(q.ask("what color?"));
    let rs = drain(run);
    let answers = model_outputs(&rs);
    assert_eq!(answers.len(), 2, "{answers:?}\n{:?}", seen.lock().unwrap());
    assert_eq!(answers[0].question.as_deref(), Some("what is it?"));
    assert_eq!(answers[0].text, "what is it? 8");
    assert_eq!(answers[1].question.as_deref(), Some("what color?"));
    assert!(answers.iter().all(|a| a.kind == ResultKind::Answer));

    let (model, _) = slow(5);
    let run = frames(
        model,
        FrameTask::Vqa {
            every: true,
            answers: None,
        },
        ticker(10, 60),
    )
    .unwrap();
    run.questions().ask("is it moving?");
    let answers = model_outputs(&drain(run)).len();
    assert!(answers >= 10, "--every answered only {answers} times");
}

#[test]
fn video_windows_are_bounded_clips() {
    let (model, seen) = slow(30);
    let task = FrameTask::VideoCaption {
        span: WindowSpan::Frames(6),
        cap: 64,
    };
    let rs = drain(frames(model, task, ticker(5, 80)).unwrap());
    let outs = model_outputs(&rs);
    assert!(outs.len() >= 3);
    let seen = seen.lock().unwrap();
    assert!(seen.iter().all(|s| s.ends_with(" frames")), "{seen:?}");
    assert!(
        seen.iter().skip(1).all(|s| s.ends_with(": 6 frames")),
        "{seen:?}"
    );
    assert_eq!(outs.last().unwrap().task, "video_caption");
}

/// 100 ms chunks at 16 kHz: a 440 Hz tone for `tone` chunks, then zeros, `total` in all.
struct Tone {
    n: u32,
    tone: u32,
    total: u32,
}

impl AudioSource for Tone {
    fn describe(&self) -> String {
        "tone".into()
    }

    fn sample_rate(&self) -> u32 {
        16_000
    }

    fn next_chunk(&mut self) -> Result<Option<AudioChunk>, LiveError> {
        if self.n == self.total {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
        let amp = if self.n < self.tone { 0.5 } else { 0.0 };
        let start = self.n * 1600;
        self.n += 1;
        let samples = (start..start + 1600)
            .map(|i| amp * (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin())
            .collect();
        Ok(Some(AudioChunk {
            samples,
            captured: Stamp::now(),
        }))
    }
}

#[test]
fn audio_captions_sound_and_reports_silence() {
    let (model, seen) = slow(1);
    let opener = Opener {
        name: "tone".into(),
        open: Box::new(|| -> Result<Box<dyn AudioSource>, LiveError> {
            Ok(Box::new(Tone {
                n: 0,
                tone: 20,
                total: 60,
            }))
        }),
    };
    let task = AudioTask {
        window_s: 1.0,
        hop_s: 0.5,
        silence_db: -50.0,
    };
    let rs = drain(audio(model, task, opener).unwrap());
    let kinds: Vec<ResultKind> = rs
        .iter()
        .filter(|r| matches!(r.kind, ResultKind::Caption | ResultKind::Silence))
        .map(|r| r.kind)
        .collect();
    // 6 s of sound, a window every 0.5 s: 12 windows; those within the first 2 s (+1 s of
    // window) hold tone, the later ones only zeros.
    assert!(kinds.len() >= 10, "{kinds:?}");
    assert_eq!(kinds[0], ResultKind::Caption);
    assert_eq!(*kinds.last().unwrap(), ResultKind::Silence);
    let switch = kinds
        .iter()
        .position(|k| *k == ResultKind::Silence)
        .unwrap();
    assert!(
        kinds[switch..].iter().all(|k| *k == ResultKind::Silence),
        "{kinds:?}"
    );
    let seen = seen.lock().unwrap();
    // The first window is captioned after one hop, before it has filled.
    assert!(seen[0].ends_with(": 8000 samples at 16000"), "{seen:?}");
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.ends_with(": 16000 samples at 16000")),
        "{seen:?}"
    );
    assert!(audio(
        slow(1).0,
        AudioTask { hop_s: 0.0, ..task },
        Opener {
            name: "x".into(),
            open: Box::new(|| -> Result<Box<dyn AudioSource>, LiveError> {
                Ok(Box::new(Tone {
                    n: 0,
                    tone: 0,
                    total: 0,
                }))
            }),
        },
    )
    .is_err());
}

#[test]
fn a_lost_camera_comes_back_with_status_lines() {
    let mut opens = 0;
    let opener = Opener {
        name: "camera 9".into(),
        open: Box::new(move || -> Result<Box<dyn FrameSource>, LiveError> {
            opens += 1;
            Ok(Box::new(Ticker {
                period: Duration::from_millis(5),
                seq: 0,
                count: 10,
                lose_at: (opens == 1).then_some(5),
            }))
        }),
    };
    let (model, _) = slow(1);
    let start = Instant::now();
    let rs = drain(frames(model, FrameTask::Caption, opener).unwrap());
    let status: Vec<&str> = rs
        .iter()
        .filter(|r| r.kind == ResultKind::Status)
        .map(|r| r.text.as_str())
        .collect();
    assert_eq!(status.len(), 4, "{status:?}");
    assert_eq!(
        status[1],
        "camera 9 lost (camera 9 was lost: unplugged), retrying in 0.5 s"
    );
    assert_eq!(status[2], "camera 9 resumed");
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert!(model_outputs(&rs).len() >= 2);
}

#[test]
fn a_source_that_cannot_open_is_a_startup_error() {
    let opener = Opener {
        name: "camera 3".into(),
        open: Box::new(|| -> Result<Box<dyn FrameSource>, LiveError> {
            Err(LiveError::Open {
                source_name: "camera 3".into(),
                reason: "no such device".into(),
            })
        }),
    };
    let err = frames(slow(1).0, FrameTask::Caption, opener).err().unwrap();
    assert_eq!(err.to_string(), "cannot open camera 3: no such device");
}

#[test]
fn stop_ends_an_endless_run_quickly() {
    let (model, _) = slow(10);
    let run = frames(model, FrameTask::Caption, ticker(5, u64::MAX)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    run.stop();
    while run.results().recv_timeout(Duration::from_secs(2)).is_ok() {}
    assert!(t.elapsed() < Duration::from_secs(1));
    run.finish(Duration::from_secs(1));
}
