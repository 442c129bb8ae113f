//! The result of one request, shaped as the CLI's `--json` object.

use crate::generate::{BatchScorer, Scorer};
use ndarray::Array2;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

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
    /// Wall time of each decoder step of a beam search (the graph run plus the cache
    /// reordering that follows it); `decode − Σ decoder_steps` is the search's own time.
    /// Empty for option scoring.
    pub decoder_steps: Vec<f64>,
}

/// A [`Scorer`] that records the wall time of every step of the scorer it wraps:
/// `next_logits` opens a step, `reorder` adds to the step it follows.
pub(crate) struct StepTimer<S> {
    pub(crate) inner: S,
    pub(crate) steps_ms: Vec<f64>,
}

impl<S> StepTimer<S> {
    pub(crate) fn new(inner: S) -> Self {
        StepTimer {
            inner,
            steps_ms: Vec::new(),
        }
    }
}

impl<S: Scorer> Scorer for StepTimer<S> {
    type Error = S::Error;

    fn next_logits(&mut self, step: usize, last_tokens: &[i64]) -> Result<Array2<f32>, S::Error> {
        let t = Instant::now();
        let logits = self.inner.next_logits(step, last_tokens);
        self.steps_ms.push(t.elapsed().as_secs_f64() * 1e3);
        logits
    }

    fn reorder(&mut self, indices: &[usize]) -> Result<(), S::Error> {
        let t = Instant::now();
        let done = self.inner.reorder(indices);
        if let Some(last) = self.steps_ms.last_mut() {
            *last += t.elapsed().as_secs_f64() * 1e3;
        }
        done
    }
}

impl<S: BatchScorer> BatchScorer for StepTimer<S> {
    type Error = S::Error;

    fn next_logits(
        &mut self,
        step: usize,
        last_tokens: &[i64],
        row_items: &[usize],
        allowed: Option<&[&[i64]]>,
    ) -> Result<Array2<f32>, S::Error> {
        let t = Instant::now();
        let logits = self
            .inner
            .next_logits(step, last_tokens, row_items, allowed);
        self.steps_ms.push(t.elapsed().as_secs_f64() * 1e3);
        logits
    }

    fn reorder(&mut self, indices: &[usize]) -> Result<(), S::Error> {
        let t = Instant::now();
        let done = self.inner.reorder(indices);
        if let Some(last) = self.steps_ms.last_mut() {
            *last += t.elapsed().as_secs_f64() * 1e3;
        }
        done
    }
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

impl TaskOutput {
    /// A result for `file` and `task` with nothing filled in yet: the task fills in what it
    /// produces.
    pub fn empty(file: &str, task: &str) -> TaskOutput {
        TaskOutput {
            file: file.to_string(),
            task: task.to_string(),
            text: String::new(),
            tokens: Vec::new(),
            score: None,
            beams: Vec::new(),
            bbox: None,
            label: None,
            scores: None,
            timings_ms: Timings::default(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// Logits of zeros; counts reorders.
    struct Zeros {
        reorders: usize,
    }

    impl Scorer for Zeros {
        type Error = Infallible;
        fn next_logits(&mut self, _step: usize, last: &[i64]) -> Result<Array2<f32>, Infallible> {
            std::thread::sleep(std::time::Duration::from_millis(2));
            Ok(Array2::zeros((last.len(), 4)))
        }
        fn reorder(&mut self, _indices: &[usize]) -> Result<(), Infallible> {
            self.reorders += 1;
            Ok(())
        }
    }

    #[test]
    fn one_entry_per_step_with_the_reorder_folded_in() {
        let mut t = StepTimer::new(Zeros { reorders: 0 });
        assert_eq!(t.next_logits(0, &[0]).unwrap().dim(), (1, 4));
        t.reorder(&[0, 0]).unwrap();
        t.next_logits(1, &[3, 4]).unwrap();
        assert_eq!(t.steps_ms.len(), 2);
        assert_eq!(t.inner.reorders, 1);
        assert!(t.steps_ms.iter().all(|&ms| ms >= 2.0), "{:?}", t.steps_ms);
    }
}
