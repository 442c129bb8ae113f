//! The result of one request, shaped as the CLI's `--json` object.

use serde::Serialize;
use std::collections::BTreeMap;

/// One hypothesis of the beam.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Beam {
    pub text: String,
    /// As fairseq returns it: no BOS, forced prefix included, final EOS.
    pub tokens: Vec<i64>,
    pub score: f32,
}

/// Wall-clock time of each stage, milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Timings {
    pub preprocess: f64,
    pub perception: f64,
    pub encoder: f64,
    /// Search (or option scoring), decoder runs included.
    pub decode: f64,
    pub total: f64,
}

/// The answer to one request.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskOutput {
    pub file: String,
    pub task: String,
    /// Caption, answer, box tokens as text, or entailment label.
    pub text: String,
    /// Best hypothesis tokens (empty for entailment, which scores options instead).
    pub tokens: Vec<i64>,
    pub score: Option<f64>,
    pub beams: Vec<Beam>,
    /// Grounding: `[x0, y0, x1, y1]` in original-image pixels.
    #[serde(rename = "box", skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f64; 4]>,
    /// Entailment: `yes`, `no` or `maybe`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Entailment: summed log-prob of each answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<BTreeMap<String, f64>>,
    pub timings_ms: Timings,
}
