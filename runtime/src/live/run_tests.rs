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
fn a_slow_model_in_real_time_sees_frames_in_order() {
    // 200 frames at 200 fps into a model taking 40 ms: the model sees a fraction of them, in
    // order, and the source's end is reported. The no-backlog property itself is checked
    // without clocks by `each_run_takes_the_newest_frame_and_nothing_queues`; the wall-clock
    // latency is a benchmark figure (apps/tests/live_cli.rs prints it), never asserted here.
    let (model, _) = slow(40);
    let run = frames(model, FrameTask::Caption, ticker(5, 200)).unwrap();
    let rs = drain(run);
    let outs = model_outputs(&rs);
    assert!(
        !outs.is_empty() && outs.len() < 200,
        "{} results",
        outs.len()
    );
    assert!(outs.windows(2).all(|w| w[0].seq < w[1].seq));
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
    // Whatever the machine's speed, each clip is the newest frames up to its last one, at most
    // the span: `min(6, k + 1)` frames for a clip ending at frame k.
    for label in seen.iter() {
        let (head, tail) = label.split_once(": ").expect("label: N frames");
        let words: Vec<&str> = head.split(' ').collect();
        let (clip, newest) = (words[0], words[words.len() - 1]);
        let newest: u64 = newest.parse().expect("frame number");
        let expected = (newest + 1).min(6);
        assert_eq!(clip, expected.to_string(), "{seen:?}");
        assert_eq!(tail, format!("{expected} frames"), "{seen:?}");
    }
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

/// A source the test steps frame by frame: each frame is sent by the test, and the source
/// says when the capture thread asks for the next one (so the previous one has been handed
/// over: capture delivers a frame before it reads the next).
struct Stepped {
    frames: std::sync::mpsc::Receiver<u64>,
    asked: std::sync::mpsc::Sender<()>,
}

impl FrameSource for Stepped {
    fn describe(&self) -> String {
        "stepped".into()
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, LiveError> {
        let _ = self.asked.send(());
        Ok(self.frames.recv().ok().map(|seq| Frame {
            image: image::RgbImage::from_pixel(2, 2, image::Rgb(seq_pixel(seq))),
            captured: Stamp::now(),
            seq,
        }))
    }
}

/// A frame's sequence number written into its pixels, so the model stand-in can tell which
/// frame it was given from the media alone.
fn seq_pixel(seq: u64) -> [u8; 3] {
    [seq as u8, (seq >> 8) as u8, (seq >> 16) as u8]
}

fn pixel_seq(media: &Media) -> u64 {
    let Media::Image(img) = media else {
        panic!("not an image")
    };
    let p = img.get_pixel(0, 0).0;
    u64::from(p[0]) | u64::from(p[1]) << 8 | u64::from(p[2]) << 16
}

/// A model whose run time the test controls: it reports the frame it starts on, then blocks
/// until the test releases it.
struct Gated {
    started: std::sync::mpsc::Sender<u64>,
    release: std::sync::mpsc::Receiver<()>,
}

impl Infer for Gated {
    fn infer(
        &mut self,
        label: &str,
        media: &Media,
        request: &Request,
    ) -> Result<TaskOutput, TaskError> {
        let seq = pixel_seq(media);
        let _ = self.started.send(seq);
        let _ = self.release.recv();
        Ok(TaskOutput {
            text: format!("saw {seq}"),
            ..TaskOutput::empty(label, request.task().name())
        })
    }
}

/// The test's side of a stepped run.
struct Stepper {
    /// `None` once the source has ended.
    frames: Option<std::sync::mpsc::Sender<u64>>,
    asked: std::sync::mpsc::Receiver<()>,
    started: std::sync::mpsc::Receiver<u64>,
    release: std::sync::mpsc::Sender<()>,
    next_seq: u64,
}

const STEP_WAIT: Duration = Duration::from_secs(30);

impl Stepper {
    /// Captures one frame and waits until the capture thread has handed it over.
    fn capture(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.frames.as_ref().unwrap().send(seq).unwrap();
        self.asked.recv_timeout(STEP_WAIT).unwrap();
        seq
    }

    /// The frame the model starts its next run on.
    fn model_starts(&self) -> u64 {
        self.started.recv_timeout(STEP_WAIT).unwrap()
    }
}

fn stepped_run(task: FrameTask) -> (LiveRun, Stepper) {
    use std::sync::mpsc::channel;
    let (frames_tx, frames_rx) = channel();
    let (asked_tx, asked_rx) = channel();
    let (started_tx, started_rx) = channel();
    let (release_tx, release_rx) = channel();
    let source = Stepped {
        frames: frames_rx,
        asked: asked_tx,
    };
    let opener = Opener {
        name: "stepped".into(),
        open: Box::new(|| -> Result<Box<dyn FrameSource>, LiveError> {
            Err(LiveError::Open {
                source_name: "stepped".into(),
                reason: "opened once only".into(),
            })
        }),
    };
    let model = Gated {
        started: started_tx,
        release: release_rx,
    };
    let run = start_frames(model, task, Box::new(source), opener).unwrap();
    let stepper = Stepper {
        frames: Some(frames_tx),
        asked: asked_rx,
        started: started_rx,
        release: release_tx,
        next_seq: 0,
    };
    // The capture thread is waiting for the first frame.
    stepper.asked.recv_timeout(STEP_WAIT).unwrap();
    (run, stepper)
}

/// The no-backlog property, with no clock involved: a model stand-in the test holds busy and a
/// source the test steps. While the model is busy, 0 to 4 frames are captured (a fixed
/// pseudo-random pattern); each run must start on the newest frame captured before it started,
/// the frames captured meanwhile must have been replaced one by the next (at most one waits),
/// and at the end frames dropped = frames captured − frames used.
fn no_backlog(task: FrameTask) {
    let (run, mut step) = stepped_run(task);
    run.keep_result_frames();
    if let Some(q) = (run.task() == unival_manifest::TaskKind::Vqa).then(|| run.questions()) {
        assert!(q.ask("what is it?"));
    }
    let mut used = Vec::new();
    let mut pattern = 0x2545_f491_u32;
    let mut newest = step.capture();
    for _ in 0..40 {
        let started = step.model_starts();
        assert_eq!(started, newest, "a run did not start on the newest frame");
        used.push(started);
        // While the model is busy: a few frames arrive.
        pattern ^= pattern << 13;
        pattern ^= pattern >> 17;
        pattern ^= pattern << 5;
        let during = pattern % 5;
        let captured_before = run.captured();
        for _ in 0..during {
            newest = step.capture();
        }
        assert_eq!(run.captured(), captured_before + u64::from(during));
        // At most one frame waits: everything captured so far is used, dropped, or the one
        // pending frame.
        let pending = run.captured() - used.len() as u64 - run.dropped();
        assert_eq!(pending, u64::from(during > 0), "frames waiting: {pending}");
        step.release.send(()).unwrap();
        if during == 0 {
            // Idle model: the next frame is taken as soon as it comes.
            newest = step.capture();
        }
    }
    // The source ends; the model runs on the frame still pending, then the run ends.
    step.frames = None;
    let last = step.model_starts();
    assert_eq!(last, newest);
    used.push(last);
    step.release.send(()).unwrap();
    let rs: Vec<LiveResult> = run.results().iter().collect();
    let outs: Vec<u64> = model_outputs(&rs).iter().map(|r| r.seq).collect();
    assert_eq!(
        outs, used,
        "each result names the frame its run was computed on"
    );
    for r in model_outputs(&rs) {
        assert_eq!(r.text, format!("saw {}", r.seq));
        // The frame kept with the result is the one the model ran on.
        let frame = r.frame.as_ref().unwrap();
        assert_eq!(frame.seq, r.seq);
        assert_eq!(pixel_seq(&Media::Image(frame.image.clone())), r.seq);
    }
    assert_eq!(run.captured(), step.next_seq);
    assert_eq!(run.dropped(), run.captured() - used.len() as u64);
    run.finish(Duration::from_secs(1));
}

#[test]
fn each_run_takes_the_newest_frame_and_nothing_queues() {
    no_backlog(FrameTask::Caption);
}

#[test]
fn each_vqa_run_takes_the_newest_frame_and_nothing_queues() {
    no_backlog(FrameTask::Vqa {
        every: true,
        answers: None,
    });
}
