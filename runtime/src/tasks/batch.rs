//! Many inputs at once: [`Pipeline::run_batch`] and [`Pipeline::run_media_batch`] answer N
//! requests with results in input order, one `Result` each, so a bad file fails only itself.

use super::{Media, Pipeline, Request, TaskError, TaskOutput};
use std::path::Path;

impl Pipeline {
    /// N files, one pass: results in input order, one `Result` each (a bad file fails only
    /// itself).
    pub fn run_batch(&mut self, items: &[(&Path, Request)]) -> Vec<Result<TaskOutput, TaskError>> {
        items
            .iter()
            .map(|(path, request)| self.run(path, request))
            .collect()
    }

    /// N inputs already in memory, one pass: results in input order, one `Result` each; the
    /// `&str` of each item is its label (the output's `file` field).
    pub fn run_media_batch(
        &mut self,
        items: &[(&str, &Media, Request)],
    ) -> Vec<Result<TaskOutput, TaskError>> {
        items
            .iter()
            .map(|(label, media, request)| self.run_media(label, media, request))
            .collect()
    }
}
