//! The inference loops: what each `unival live` task does with the newest input. Each loop
//! waits on its hand-over with a short timeout (so a stop or a new question is seen within
//! [`POLL`]), runs the model, and sends one result per run.

use super::latest::{Latest, Taken};
use super::task::{AudioTask, Counters, Infer, QuestionBox};
use super::window::{rms_dbfs, AudioWindow, FrameWindow};
use super::{Frame, LiveResult, ResultKind, Stamp};
use crate::generate::Trie;
use crate::tasks::{Media, Request, TaskError, TaskOutput};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use unival_manifest::TaskKind;

/// Longest a loop waits before re-checking the stop flag and the question.
pub const POLL: Duration = Duration::from_millis(50);

/// What every loop shares: where results go, when to stop, counters, the task.
pub(crate) struct LoopCtx {
    pub tx: SyncSender<LiveResult>,
    pub stop: Arc<AtomicBool>,
    pub counters: Arc<Counters>,
    /// Whether results carry the frame they were computed on ([`super::LiveRun::keep_result_frames`]).
    pub keep_frames: Arc<AtomicBool>,
    pub task: TaskKind,
}

impl LoopCtx {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// `r`, carrying `frame` if results keep their frames.
    fn with_frame(&self, mut r: LiveResult, frame: &Arc<Frame>) -> LiveResult {
        if self.keep_frames.load(Ordering::Relaxed) {
            r.frame = Some(Arc::clone(frame));
        }
        r
    }

    /// Sends `r`; false when nobody listens any more (the loop then ends).
    fn emit(&self, r: LiveResult) -> bool {
        self.tx.send(r).is_ok()
    }

    /// The result of one model run on an input captured at `captured`.
    fn outcome(
        &self,
        kind: ResultKind,
        seq: u64,
        captured: &Stamp,
        out: Result<TaskOutput, TaskError>,
    ) -> LiveResult {
        match out {
            Ok(o) => LiveResult::about(kind, seq, captured, self.task.name(), o.text),
            Err(e) => LiveResult::about(
                ResultKind::Error,
                seq,
                captured,
                self.task.name(),
                e.to_string(),
            ),
        }
    }
}

fn label(frame: &Frame) -> String {
    format!("frame {}", frame.seq)
}

/// Captions the newest frame whenever one is pending.
pub(crate) fn caption(model: &mut dyn Infer, slot: &Latest<Arc<Frame>>, ctx: &LoopCtx) {
    while !ctx.stopped() {
        match slot.take_timeout(POLL) {
            Taken::Item(frame) => {
                let media = Media::Image(frame.image.clone());
                let out = model.infer(&label(&frame), &media, &Request::Caption);
                let r = ctx.outcome(ResultKind::Caption, frame.seq, &frame.captured, out);
                if !ctx.emit(ctx.with_frame(r, &frame)) {
                    return;
                }
            }
            Taken::Empty => {}
            Taken::Closed => return,
        }
    }
}

/// Answers the active question about the newest frame: once per question, or on every new
/// frame with `every`. Frames replaced before the model saw them count as dropped.
pub(crate) fn vqa(
    model: &mut dyn Infer,
    slot: &Latest<Arc<Frame>>,
    questions: &QuestionBox,
    every: bool,
    answers: Option<&Trie>,
    ctx: &LoopCtx,
) {
    let mut newest: Option<Arc<Frame>> = None;
    let mut fresh = false;
    let mut answered = 0u64;
    while !ctx.stopped() {
        match slot.take_timeout(POLL) {
            Taken::Item(frame) => {
                if fresh {
                    ctx.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                newest = Some(frame);
                fresh = true;
            }
            Taken::Empty => {}
            Taken::Closed => return,
        }
        let (Some((id, question)), Some(frame)) = (questions.current(), &newest) else {
            continue;
        };
        if id == answered && !(every && fresh) {
            continue;
        }
        let media = Media::Image(frame.image.clone());
        let request = Request::Vqa {
            question: &question,
            answers,
        };
        let out = model.infer(&label(frame), &media, &request);
        let mut r = ctx.outcome(ResultKind::Answer, frame.seq, &frame.captured, out);
        r.question = Some(question);
        let r = ctx.with_frame(r, frame);
        answered = id;
        fresh = false;
        if !ctx.emit(r) {
            return;
        }
    }
}

/// Captions the window of recent frames each time new frames have joined it.
pub(crate) fn video(
    model: &mut dyn Infer,
    wake: &Latest<()>,
    window: &Mutex<FrameWindow>,
    ctx: &LoopCtx,
) {
    while !ctx.stopped() {
        match wake.take_timeout(POLL) {
            Taken::Item(()) => {}
            Taken::Empty => continue,
            Taken::Closed => return,
        }
        let frames = {
            let mut w = window.lock().unwrap_or_else(PoisonError::into_inner);
            if w.fresh() == 0 {
                continue;
            }
            w.snapshot()
        };
        let Some(newest) = frames.last().cloned() else {
            continue;
        };
        let media = Media::Frames(frames.iter().map(|f| f.image.clone()).collect());
        drop(frames);
        let label = format!("{} frames up to frame {}", media_len(&media), newest.seq);
        let out = model.infer(&label, &media, &Request::VideoCaption);
        let r = ctx.outcome(ResultKind::Caption, newest.seq, &newest.captured, out);
        let r = ctx.with_frame(r, &newest);
        if !ctx.emit(r) {
            return;
        }
    }
}

/// Captions the window of recent sound every `task.hop_s` seconds of new samples; a window
/// quieter than `task.silence_db` is reported as silence instead. Hops that passed while the
/// model was busy count as dropped.
pub(crate) fn audio(
    model: &mut dyn Infer,
    wake: &Latest<()>,
    window: &Mutex<AudioWindow>,
    rate: u32,
    task: &AudioTask,
    ctx: &LoopCtx,
) {
    let hop = ((task.hop_s * f64::from(rate)).round() as usize).max(1);
    while !ctx.stopped() {
        match wake.take_timeout(POLL) {
            Taken::Item(()) => {}
            Taken::Empty => continue,
            Taken::Closed => return,
        }
        let (samples, captured, seq) = {
            let mut w = window.lock().unwrap_or_else(PoisonError::into_inner);
            let fresh = w.fresh();
            if fresh < hop {
                continue;
            }
            let skipped = (fresh / hop).saturating_sub(1) as u64;
            ctx.counters.dropped.fetch_add(skipped, Ordering::Relaxed);
            match w.snapshot() {
                Some(s) => s,
                None => continue,
            }
        };
        let level = rms_dbfs(&samples);
        let r = if level < task.silence_db {
            LiveResult::about(
                ResultKind::Silence,
                seq,
                &captured,
                ctx.task.name(),
                String::new(),
            )
        } else {
            let media = Media::Audio {
                mono: samples.iter().map(|&s| f64::from(s)).collect(),
                rate,
            };
            drop(samples);
            let out = model.infer(&format!("window {seq}"), &media, &Request::AudioCaption);
            ctx.outcome(ResultKind::Caption, seq, &captured, out)
        };
        let r = LiveResult {
            // Digital silence is -inf dBFS; JSON has no infinity, so it reads as -200.
            level_dbfs: Some(level.max(-200.0)),
            ..r
        };
        if !ctx.emit(r) {
            return;
        }
    }
}

fn media_len(m: &Media) -> usize {
    match m {
        Media::Frames(f) => f.len(),
        _ => 1,
    }
}
