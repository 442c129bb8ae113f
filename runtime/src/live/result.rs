//! What a live loop emits: one [`LiveResult`] per caption, answer, silent window, status change
//! or skipped item. Its serde form is the `--json` line and the web page's event.

use super::{Frame, Stamp};
use serde::Serialize;
use std::sync::Arc;

/// What a [`LiveResult`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultKind {
    /// A caption of a frame, a clip or a sound window.
    Caption,
    /// An answer to the active question (vqa).
    Answer,
    /// An audio window below the silence threshold, not captioned.
    Silence,
    /// A change of the source's state ("camera 0 lost, retrying in 2 s", "resumed").
    Status,
    /// A failed item (unreadable frame, model error); the loop goes on.
    Error,
}

/// One emitted result. Times are Unix milliseconds; `latency_ms` is capture → emit, measured on
/// the monotonic clock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveResult {
    pub kind: ResultKind,
    /// Sequence number of the (newest) frame or chunk the result is about; 0 for status lines.
    pub seq: u64,
    /// When the input was captured.
    pub captured_ms: u64,
    /// When the result was emitted.
    pub emitted_ms: u64,
    /// `emitted - captured` in milliseconds (0 for status lines).
    pub latency_ms: f64,
    /// The task's name (`caption`, `vqa`, `video_caption`, `audio_caption`).
    pub task: String,
    /// The caption or answer; the message for status and error lines; empty for silence.
    pub text: String,
    /// The question answered (vqa only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// Loudness of the audio window in dBFS (audio only): what the silence threshold compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level_dbfs: Option<f64>,
    /// The frame the model ran on (the newest of a clip), kept with its result so that a
    /// viewer shows the two together rather than the result beside a later frame; only once
    /// [`super::LiveRun::keep_result_frames`] was called. Not serialised; shared, not copied.
    #[serde(skip)]
    pub frame: Option<Arc<Frame>>,
}

impl LiveResult {
    /// A result about an input captured at `captured`, emitted now.
    pub fn about(
        kind: ResultKind,
        seq: u64,
        captured: &Stamp,
        task: &str,
        text: String,
    ) -> LiveResult {
        let now = Stamp::now();
        LiveResult {
            kind,
            seq,
            captured_ms: captured.unix_ms,
            emitted_ms: now.unix_ms,
            latency_ms: now.ms_since(captured),
            task: task.to_string(),
            text,
            question: None,
            level_dbfs: None,
            frame: None,
        }
    }

    /// A status line (no input, no latency).
    pub fn status(task: &str, text: String) -> LiveResult {
        let now = Stamp::now();
        LiveResult::about(ResultKind::Status, 0, &now, task, text)
    }

    /// Whether this result came out of the model (a caption or an answer), as opposed to a
    /// status line, an error or a skipped silent window.
    pub fn is_model_output(&self) -> bool {
        matches!(self.kind, ResultKind::Caption | ResultKind::Answer)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_the_documented_one() {
        let captured = Stamp::now();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let mut r = LiveResult::about(ResultKind::Answer, 7, &captured, "vqa", "red".into());
        r.question = Some("what color?".into());
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["kind"], "answer");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["question"], "what color?");
        assert!(v["latency_ms"].as_f64().unwrap() >= 3.0);
        assert!(v["emitted_ms"].as_u64().unwrap() >= v["captured_ms"].as_u64().unwrap());
        let s = serde_json::to_value(LiveResult::status("caption", "resumed".into())).unwrap();
        assert_eq!(s["kind"], "status");
        assert!(s.get("question").is_none());
        assert!(!LiveResult::status("caption", String::new()).is_model_output());
    }
}
