//! What a live loop does and with what: the task it runs on its input ([`FrameTask`],
//! [`AudioTask`]), the model that answers ([`Infer`]), and the state its threads share
//! ([`QuestionBox`], [`Counters`]). Both the run's setup ([`super::run`]) and the inference
//! loops ([`super::loops`]) use these; neither uses the other's internals.

use super::window::WindowSpan;
use crate::generate::Trie;
use crate::tasks::{Media, Pipeline, Request, TaskError, TaskOutput};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};
use unival_manifest::TaskKind;

/// Anything that answers a request about in-memory media: the [`Pipeline`], or a stand-in in
/// tests.
pub trait Infer: Send {
    /// Runs `request` on `media`; `label` names the input in errors.
    fn infer(
        &mut self,
        label: &str,
        media: &Media,
        request: &Request,
    ) -> Result<TaskOutput, TaskError>;
}

impl Infer for Pipeline {
    fn infer(
        &mut self,
        label: &str,
        media: &Media,
        request: &Request,
    ) -> Result<TaskOutput, TaskError> {
        self.run_media(label, media, request)
    }
}

/// What a frame loop does with the frames.
#[derive(Debug, Clone)]
pub enum FrameTask {
    /// Caption the newest frame, again and again.
    Caption,
    /// Answer the active question about the newest frame: once per question, or on every new
    /// frame with `every`; `answers` constrains the answer to a list.
    Vqa { every: bool, answers: Option<Trie> },
    /// Caption a rolling window of recent frames as a clip, holding at most `cap` frames.
    VideoCaption { span: WindowSpan, cap: usize },
}

impl FrameTask {
    /// The task the results are about.
    pub fn kind(&self) -> TaskKind {
        match self {
            FrameTask::Caption => TaskKind::Caption,
            FrameTask::Vqa { .. } => TaskKind::Vqa,
            FrameTask::VideoCaption { .. } => TaskKind::VideoCaption,
        }
    }
}

/// How an audio loop windows the sound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioTask {
    /// Window length, seconds (the model's input length).
    pub window_s: f64,
    /// A window is captioned every `hop_s` seconds of new sound.
    pub hop_s: f64,
    /// Windows whose RMS level is below this (dBFS) are reported as silence, not captioned.
    pub silence_db: f64,
}

/// The active question of a VQA loop, set from stdin or the web page. Each new question gets a
/// new id, so the loop can tell "answered" from "asked again".
#[derive(Debug, Default)]
pub struct QuestionBox {
    current: Mutex<Option<(u64, String)>>,
}

impl QuestionBox {
    /// Makes `question` the active one; blank text is ignored (returns false).
    pub fn ask(&self, question: &str) -> bool {
        let q = question.trim();
        if q.is_empty() {
            return false;
        }
        let mut cur = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let id = cur.as_ref().map_or(1, |(id, _)| id + 1);
        *cur = Some((id, q.to_string()));
        true
    }

    /// The active question and its id.
    pub fn current(&self) -> Option<(u64, String)> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Counts shared by the threads of a run.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Items captured.
    pub captured: AtomicU64,
    /// Items the model never saw.
    pub dropped: AtomicU64,
}
