//! Many inputs at once: [`Pipeline::run_batch`] and [`Pipeline::run_media_batch`] preprocess
//! each input, then run perception, the encoder and the decoder once for all of them (the
//! decoder with N × beam rows per step, [`beam_search_batch`]): the results are the ones each
//! input gets alone (tokens exact, scores to float rounding), in input order, one `Result` each,
//! so a bad file fails only itself.
//!
//! Sources of different lengths are right-padded ([`crate::model::Model::encode_batch`]).
//! Entailment requests score options one input at a time. Should a batched graph run fail, its
//! inputs are retried one at a time, so each gets its own answer or its own error.

use super::requests::{ms, search_constraints, Prepared};
use super::{Media, Pipeline, Request, TaskError, TaskOutput, Timings};
use crate::generate::{beam_search_batch, BatchItem, Constraints};
use crate::model::{Encoded, PerceptionInput};
use crate::tasks::output::StepTimer;
use ndarray::{concatenate, Array4, Array5, Axis};
use std::path::Path;
use std::time::Instant;

/// A preprocessed request waiting for the batched graphs.
struct Job<'r> {
    /// Position in the caller's list.
    index: usize,
    label: String,
    request: Request<'r>,
    started: Instant,
    /// Its own preprocessing time, ms.
    preprocess: f64,
    prompt: String,
    input: Prepared,
}

/// The perception input of several jobs stacked along the batch axis.
enum Stacked {
    Image(Array4<f32>),
    Video(Array5<f32>),
    LogMel(Array4<f32>),
}

impl Stacked {
    fn perception(&self) -> PerceptionInput<'_> {
        match self {
            Stacked::Image(i) => PerceptionInput::Image(i.view()),
            Stacked::Video(v) => PerceptionInput::Video(v.view()),
            Stacked::LogMel(m) => PerceptionInput::LogMel(m.view()),
        }
    }
}

/// What jobs sharing one perception run have in common: modality (0 image, 1 video, 2 audio)
/// and tensor shape.
type BatchKey = (u8, Vec<usize>);

/// Jobs that can share one perception run: same modality and tensor shape.
fn batch_key(p: &Prepared) -> BatchKey {
    match p {
        Prepared::Image(t, _) => (0, t.shape().to_vec()),
        Prepared::Video(t) => (1, t.shape().to_vec()),
        Prepared::Audio(t) => (2, t.shape().to_vec()),
    }
}

/// Time of the stages a whole batch shares.
struct BatchTimes {
    perception: f64,
    encoder: f64,
}

/// One request after preprocessing (successful or not), before the graphs.
struct Preprocessed<'r> {
    label: String,
    request: Request<'r>,
    started: Instant,
    /// Its preprocessing time, ms.
    preprocess: f64,
    input: Result<(String, Prepared), TaskError>,
}

impl<'r> Preprocessed<'r> {
    /// Times `prepare` as the request's preprocessing.
    fn time(
        label: String,
        request: Request<'r>,
        prepare: impl FnOnce() -> Result<(String, Prepared), TaskError>,
    ) -> Self {
        let started = Instant::now();
        let input = prepare();
        Preprocessed {
            label,
            request,
            started,
            preprocess: ms(started),
            input,
        }
    }
}

impl Pipeline {
    /// N files, one pass: results in input order, one `Result` each (a bad file fails only
    /// itself).
    pub fn run_batch(&mut self, items: &[(&Path, Request)]) -> Vec<Result<TaskOutput, TaskError>> {
        let prepared = items.iter().map(|(path, request)| {
            let label = path.display().to_string();
            Preprocessed::time(label, *request, || self.prepare_file(path, request))
        });
        let prepared: Vec<_> = prepared.collect();
        self.run_prepared(prepared)
    }

    /// N inputs already in memory, one pass: results in input order, one `Result` each; the
    /// `&str` of each item is its label (the output's `file` field).
    pub fn run_media_batch(
        &mut self,
        items: &[(&str, &Media, Request)],
    ) -> Vec<Result<TaskOutput, TaskError>> {
        let prepared = items.iter().map(|(label, media, request)| {
            let prepare = || self.prepare_media(label, media, request);
            Preprocessed::time(label.to_string(), *request, prepare)
        });
        let prepared: Vec<_> = prepared.collect();
        self.run_prepared(prepared)
    }

    /// Runs preprocessed requests: failed ones report their error, entailment runs alone,
    /// searches run in batches of one perception shape.
    fn run_prepared(&mut self, prepared: Vec<Preprocessed>) -> Vec<Result<TaskOutput, TaskError>> {
        let mut done: Vec<(usize, Result<TaskOutput, TaskError>)> = Vec::new();
        let mut groups: Vec<(BatchKey, Vec<Job>)> = Vec::new();
        for (index, p) in prepared.into_iter().enumerate() {
            let (prompt, input) = match p.input {
                Ok(ready) => ready,
                Err(e) => {
                    done.push((index, Err(e)));
                    continue;
                }
            };
            let job = Job {
                index,
                label: p.label,
                request: p.request,
                started: p.started,
                preprocess: p.preprocess,
                prompt,
                input,
            };
            if matches!(job.request, Request::Entail { .. }) {
                done.push((index, self.run_alone(job)));
                continue;
            }
            let key = batch_key(&job.input);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, jobs)) => jobs.push(job),
                None => groups.push((key, vec![job])),
            }
        }
        for (_, jobs) in groups {
            done.extend(self.search_batch(jobs));
        }
        done.sort_by_key(|(index, _)| *index);
        done.into_iter().map(|(_, result)| result).collect()
    }

    /// One job through the one-input path ([`Self::decode`]).
    fn run_alone(&mut self, job: Job) -> Result<TaskOutput, TaskError> {
        let encoded = self.encode_prepared(job.prompt, job.input, job.started)?;
        self.decode(&job.label, &encoded, &job.request)
    }

    /// Searches of jobs sharing one perception shape: one perception run, one encoder run and
    /// one batched search. Falls back to one job at a time if a batched graph run fails.
    fn search_batch(&mut self, jobs: Vec<Job>) -> Vec<(usize, Result<TaskOutput, TaskError>)> {
        if jobs.len() < 2 {
            return jobs
                .into_iter()
                .map(|j| (j.index, self.run_alone(j)))
                .collect();
        }
        let mut done = Vec::new();
        let mut ready = Vec::new();
        for job in jobs {
            match self.prompt_tokens(&job.prompt) {
                Ok(src) => ready.push((job, src)),
                Err(e) => done.push((job.index, Err(e))),
            }
        }
        let encoded = stack(&ready).map(|stacked| self.encode_jobs(&stacked, &ready));
        let (encoded, times) = match encoded {
            Some(Ok(e)) => e,
            _ => {
                let alone = ready.into_iter().map(|(j, _)| (j.index, self.run_alone(j)));
                done.extend(alone.collect::<Vec<_>>());
                return done;
            }
        };
        done.extend(self.decode_jobs(&ready, &encoded, &times));
        done
    }

    /// Perception and encoder over all `jobs` at once (`stacked`: their perception inputs).
    fn encode_jobs(
        &mut self,
        stacked: &Stacked,
        jobs: &[(Job, Vec<i64>)],
    ) -> Result<(Encoded, BatchTimes), TaskError> {
        let t = Instant::now();
        let patches = self.model.perceive(stacked.perception())?;
        let perception = ms(t);
        let t = Instant::now();
        let sources: Vec<&[i64]> = jobs.iter().map(|(_, s)| s.as_slice()).collect();
        let encoded = self.model.encode_batch(&patches, &sources)?;
        let times = BatchTimes {
            perception,
            encoder: ms(t),
        };
        Ok((encoded, times))
    }

    /// The batched search over `encoded` and each job's answer from its hypotheses.
    fn decode_jobs(
        &mut self,
        jobs: &[(Job, Vec<i64>)],
        encoded: &Encoded,
        times: &BatchTimes,
    ) -> Vec<(usize, Result<TaskOutput, TaskError>)> {
        let t = Instant::now();
        let constraints: Vec<Constraints> = jobs
            .iter()
            .map(|(j, src)| search_constraints(&j.request, src))
            .collect();
        let search = self.search.clone();
        let items: Vec<BatchItem> = jobs
            .iter()
            .zip(&constraints)
            .map(|((_, src), c)| BatchItem {
                opts: &search,
                constraints: c,
                src_len: src.len(),
            })
            .collect();
        let mut decoder = StepTimer::new(self.model.decoder(encoded));
        let hyps = beam_search_batch(&mut decoder, &items);
        let steps = std::mem::take(&mut decoder.steps_ms);
        drop(decoder);
        let decode = ms(t);
        let mut out = Vec::new();
        for (((job, _), c), hyps) in jobs.iter().zip(&constraints).zip(hyps) {
            let task = job.request.task();
            let mut answer = TaskOutput::empty(&job.label, task.name());
            let reported = hyps.map_err(TaskError::from).and_then(|h| {
                let image = job.input.image_sizes();
                self.report_hypotheses(task, &h, c.prefix.len(), image, &mut answer)
            });
            answer.timings_ms = Timings {
                preprocess: job.preprocess,
                perception: times.perception,
                encoder: times.encoder,
                decode,
                total: ms(job.started),
                decoder_steps: steps.clone(),
            };
            out.push((job.index, reported.map(|()| answer)));
        }
        out
    }
}

/// The perception inputs of `jobs` stacked along the batch axis (`None` unless they share one
/// [`batch_key`]).
fn stack(jobs: &[(Job, Vec<i64>)]) -> Option<Stacked> {
    let key = batch_key(&jobs.first()?.0.input);
    if jobs.iter().any(|(j, _)| batch_key(&j.input) != key) {
        return None;
    }
    let inputs = || jobs.iter().map(|(j, _)| &j.input);
    Some(match key.0 {
        0 => Stacked::Image(concat(inputs().filter_map(|p| match p {
            Prepared::Image(t, _) => Some(t.view()),
            _ => None,
        }))?),
        1 => Stacked::Video(concat(inputs().filter_map(|p| match p {
            Prepared::Video(t) => Some(t.view()),
            _ => None,
        }))?),
        _ => Stacked::LogMel(concat(inputs().filter_map(|p| match p {
            Prepared::Audio(t) => Some(t.view()),
            _ => None,
        }))?),
    })
}

/// Concatenates views along the batch axis.
fn concat<'v, D: ndarray::RemoveAxis + 'v>(
    views: impl Iterator<Item = ndarray::ArrayView<'v, f32, D>>,
) -> Option<ndarray::Array<f32, D>> {
    let views: Vec<_> = views.collect();
    concatenate(Axis(0), &views).ok()
}
