//! Running one request: the per-task glue between text, image, model and search.

use super::encoded::ImageSizes;
use super::media::check_pixel_budget;
use super::output::StepTimer;
use super::perception::load_perception;
use super::{
    Beam, EncodedInput, Media, PerceptionTensor, Pipeline, TaskError, TaskOutput, Timings,
};
use crate::audio::{prepare_samples, LogMel};
use crate::generate::{beam_search, score_options, Constraints, Hypothesis, Trie};
use crate::model::{Encoded, PerceptionInput};
use crate::text::{refcoco_prompt, snli_ve_prompt, strip_caption_punctuation, vqa_prompt};
use crate::vision::video::{frame_indices, frames_to_tensor, Sampling};
use crate::vision::{resize_bicubic, to_tensor, RgbImage};
use ndarray::{Array4, Array5};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use unival_manifest::{Perception, TaskKind};

/// What to ask about an image.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    /// Describe the image (docs/model.md §5.1).
    Caption,
    /// Answer `question`; with an answer trie the answer is constrained to the list
    /// (docs/model.md §5.2), without one it is open-ended.
    Vqa {
        question: &'a str,
        answers: Option<&'a Trie>,
    },
    /// Locate the region `text` describes (docs/model.md §5.3).
    Ground { text: &'a str },
    /// Does the image entail `hypothesis`? (docs/model.md §5.4)
    Entail { hypothesis: &'a str },
    /// Describe a video clip (docs/model.md §5.5).
    VideoCaption,
    /// Describe a sound (docs/model.md §5.7).
    AudioCaption,
    /// Answer `question` about a video clip (docs/model.md §5.6).
    VideoQa {
        question: &'a str,
        answers: Option<&'a Trie>,
    },
}

impl Request<'_> {
    /// The task this request belongs to.
    pub fn task(&self) -> TaskKind {
        match self {
            Request::Caption => TaskKind::Caption,
            Request::Vqa { .. } => TaskKind::Vqa,
            Request::Ground { .. } => TaskKind::Refcoco,
            Request::Entail { .. } => TaskKind::SnliVe,
            Request::VideoCaption => TaskKind::VideoCaption,
            Request::AudioCaption => TaskKind::AudioCaption,
            Request::VideoQa { .. } => TaskKind::VideoQa,
        }
    }
}

pub(super) fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// A preprocessed input of any modality.
pub(super) enum Prepared {
    /// Pixels `[1, 3, S, S]` and the original (width, height).
    Image(Array4<f32>, (u32, u32)),
    /// Clip `[1, 3, T, S, S]`.
    Video(Array5<f32>),
    /// Log-mel `[1, 1, frames, mel_bins]`.
    Audio(Array4<f32>),
}

impl Prepared {
    /// The sizes of an image input (grounding maps its box back with them).
    pub(super) fn image_sizes(&self) -> Option<ImageSizes> {
        match self {
            Prepared::Image(pixels, original) => Some(ImageSizes {
                side: pixels.dim().3,
                original: *original,
            }),
            _ => None,
        }
    }

    pub(super) fn perception(&self) -> PerceptionInput<'_> {
        match self {
            Prepared::Image(i, _) => PerceptionInput::Image(i.view()),
            Prepared::Video(v) => PerceptionInput::Video(v.view()),
            Prepared::Audio(m) => PerceptionInput::LogMel(m.view()),
        }
    }
}

/// The prompt without BOS/EOS (`src` is `[BOS] + prompt + [EOS]`): VQA's forced prefix,
/// SNLI-VE's scored prompt.
pub(super) fn inner_prompt(src: &[i64]) -> &[i64] {
    src.get(1..src.len().saturating_sub(1)).unwrap_or(&[])
}

/// The search constraints of `request` over its encoder text `src`: questions force their
/// prompt as a prefix and, with an answer list, constrain the answer to its trie.
pub(super) fn search_constraints(request: &Request, src: &[i64]) -> Constraints {
    match request {
        Request::Vqa { answers, .. } | Request::VideoQa { answers, .. } => Constraints {
            prefix: inner_prompt(src).to_vec(),
            trie: answers.cloned(),
            strict_prefix: true,
        },
        _ => Constraints::none(),
    }
}

/// The SNLI-VE answers, in the original's label order (`{"no": 0, "yes": 1, "maybe": 2}`).
pub const ENTAILMENT_ANSWERS: [&str; 3] = ["no", "yes", "maybe"];

impl Pipeline {
    /// The answer trie of `answers`: paths `[BOS] + BPE(" " + answer) + [EOS]` (docs/model.md
    /// §5.2).
    pub fn answer_trie(&self, answers: &[String]) -> Result<Trie, TaskError> {
        let s = &self.search.specials;
        let mut trie = Trie::new(s.eos);
        for a in answers {
            let mut path = vec![s.bos];
            path.extend(self.tokenizer.encode(&format!(" {a}"))?);
            path.push(s.eos);
            trie.insert(&path);
        }
        Ok(trie)
    }

    /// The encoder's text for `request` on this bundle: `[BOS] + BPE(prompt) + [EOS]`.
    pub fn source_tokens(&self, request: &Request) -> Result<Vec<i64>, TaskError> {
        self.prompt_tokens(&self.prompt(request)?)
    }

    /// The prompt text of `request` (docs/model.md §5), validated.
    fn prompt(&self, request: &Request) -> Result<String, TaskError> {
        let max_words = self.task.max_src_length;
        Ok(match request {
            // Every captioning task has a built-in prompt, so the default is never taken.
            Request::Caption | Request::VideoCaption | Request::AudioCaption => self
                .task
                .caption_prompt(request.task())
                .unwrap_or_default()
                .to_string(),
            Request::Vqa { question, .. } | Request::VideoQa { question, .. } => {
                if question.trim().is_empty() {
                    return Err(TaskError::EmptyText {
                        what: "the question",
                    });
                }
                vqa_prompt(question, max_words)
            }
            Request::Ground { text } => {
                if text.trim().is_empty() {
                    return Err(TaskError::EmptyText {
                        what: "the region text",
                    });
                }
                refcoco_prompt(text, max_words)
            }
            Request::Entail { hypothesis } => {
                if hypothesis.trim().is_empty() {
                    return Err(TaskError::EmptyText {
                        what: "the hypothesis",
                    });
                }
                snli_ve_prompt(hypothesis, max_words)
            }
        })
    }

    /// The encoder text ids of `prompt`, `[BOS] + ids[..capacity] + [EOS]`.
    ///
    /// The original cuts the user's text to `max_src_length` *words* (the prompt builders do
    /// that) but never cuts a task prompt's BPE ids: none of its datasets passes `length` to
    /// `encode_text`, and a source longer than `max_source_positions` (the size of its token
    /// bucket table) fails there. So every source the original accepts is kept whole, and a
    /// longer one is cut the way `encode_text(prompt, length=max_source_positions − 2)` cuts
    /// (ids before BOS/EOS are added), so that no input length reaches a graph error.
    pub(super) fn prompt_tokens(&self, prompt: &str) -> Result<Vec<i64>, TaskError> {
        let capacity = self
            .model
            .manifest()
            .model
            .max_source_positions
            .saturating_sub(2);
        Ok(self.tokenizer.source_tokens_truncated(prompt, capacity)?)
    }

    /// Runs `request` on the file at `path` (an image, a video or a frame directory, or a sound,
    /// as the request's modality says).
    pub fn run(&mut self, path: &Path, request: &Request) -> Result<TaskOutput, TaskError> {
        let input = self.encode(path, request)?;
        self.decode(&path.display().to_string(), &input, request)
    }

    /// Preprocesses the file at `path` for `request` and runs perception and the encoder: the
    /// first half of [`Self::run`], for callers that reuse one encoding.
    pub fn encode(&mut self, path: &Path, request: &Request) -> Result<EncodedInput, TaskError> {
        let start = Instant::now();
        let (prompt, input) = self.prepare_file(path, request)?;
        self.encode_prepared(prompt, input, start)
    }

    /// The prompt of `request` and the preprocessed file at `path`, ready for perception.
    pub(super) fn prepare_file(
        &self,
        path: &Path,
        request: &Request,
    ) -> Result<(String, Prepared), TaskError> {
        let prompt = self.prompt(request)?;
        self.check_task(request.task())?;
        let input = match load_perception(path, &self.task, &self.image, &self.video, &self.audio)?
        {
            PerceptionTensor::Image {
                tensor,
                original_size,
            } => Prepared::Image(tensor, original_size),
            PerceptionTensor::Video(tensor) => Prepared::Video(tensor),
            PerceptionTensor::Waveform(wave) => {
                let samples: Vec<f32> = wave.iter().copied().collect();
                Prepared::Audio(self.log_mel_front()?.compute(&samples)?)
            }
        };
        Ok((prompt, input))
    }

    /// Runs `request` on media already in memory (a camera frame, a window of frames, a window
    /// of microphone samples); `label` fills the output's `file` field. The media must be of the
    /// request's modality. Preprocessing is the same as for files: an image is resized to the
    /// task's square, frames are sampled (middle of `num_frames` segments) and centre-cropped,
    /// samples are resampled to the model rate and padded or cut to its length.
    pub fn run_media(
        &mut self,
        label: &str,
        media: &Media,
        request: &Request,
    ) -> Result<TaskOutput, TaskError> {
        let input = self.encode_media(label, media, request)?;
        self.decode(label, &input, request)
    }

    /// Preprocesses in-memory media for `request` and runs perception and the encoder: the
    /// first half of [`Self::run_media`] (`label` names the media in errors).
    pub fn encode_media(
        &mut self,
        label: &str,
        media: &Media,
        request: &Request,
    ) -> Result<EncodedInput, TaskError> {
        let start = Instant::now();
        let (prompt, input) = self.prepare_media(label, media, request)?;
        self.encode_prepared(prompt, input, start)
    }

    /// The prompt of `request` and the preprocessed in-memory media, ready for perception.
    pub(super) fn prepare_media(
        &self,
        label: &str,
        media: &Media,
        request: &Request,
    ) -> Result<(String, Prepared), TaskError> {
        let prompt = self.prompt(request)?;
        let (mean, std) = self.task.mean_std();
        let input = match (media, self.perception_for(request)?) {
            (
                Media::Frames(frames),
                Perception::Video {
                    num_frames,
                    frame_size,
                },
            ) => {
                let picked = frame_indices(
                    num_frames,
                    frames.len(),
                    &Sampling::Middle,
                    Path::new(label),
                )?;
                let chosen: Vec<RgbImage> = picked.iter().map(|&i| frames[i].clone()).collect();
                Prepared::Video(frames_to_tensor(&chosen, frame_size, mean, std)?)
            }
            (Media::Audio { mono, rate }, Perception::Audio { .. }) => {
                let front = self.log_mel_front()?;
                let wave = prepare_samples(mono, *rate, 1, &self.audio)?;
                let samples: Vec<f32> = wave.waveform.iter().copied().collect();
                Prepared::Audio(front.compute(&samples)?)
            }
            (Media::Image(rgb), Perception::Image { image_size }) => {
                check_pixel_budget(label, rgb, image_size, &self.image)?;
                let side = u32::try_from(image_size).unwrap_or(u32::MAX);
                let resized = resize_bicubic(rgb, side, side)?;
                Prepared::Image(to_tensor(&resized, mean, std)?, rgb.dimensions())
            }
            _ => {
                return Err(TaskError::WrongMedia {
                    task: request.task(),
                    given: media.kind(),
                })
            }
        };
        Ok((prompt, input))
    }

    /// The bundle's perception settings, or [`TaskError::WrongTask`] when `request` is of
    /// another modality than the bundle's.
    fn perception_for(&self, request: &Request) -> Result<Perception, TaskError> {
        let wanted = request.task();
        self.check_task(wanted)?;
        Ok(self.task.perception)
    }

    /// The bundle's log-mel front end, or [`TaskError::WrongTask`] for a bundle without audio.
    fn log_mel_front(&self) -> Result<&LogMel, TaskError> {
        self.log_mel.as_ref().ok_or_else(|| TaskError::WrongTask {
            bundle: self.dir.clone(),
            bundle_task: self.model.manifest().task.task,
            wanted: TaskKind::AudioCaption,
        })
    }

    /// Perception and encoder on a preprocessed input.
    pub(super) fn encode_prepared(
        &mut self,
        prompt: String,
        input: Prepared,
        start: Instant,
    ) -> Result<EncodedInput, TaskError> {
        let src = self.prompt_tokens(&prompt)?;
        let mut timings = Timings {
            preprocess: ms(start),
            ..Timings::default()
        };

        let t = Instant::now();
        let patches = self.model.perceive(input.perception())?;
        timings.perception = ms(t);
        let t = Instant::now();
        let encoded = self.model.encode(&patches, &src)?;
        timings.encoder = ms(t);
        let image = input.image_sizes();
        Ok(EncodedInput {
            encoded,
            prompt,
            src,
            image,
            timings,
            started: start,
        })
    }

    /// Search (or option scoring) on an encoded input, and the original's post-processing of
    /// its text: the second half of [`Self::run`]. `request` must be the one `input` was
    /// encoded for (same prompt); `label` fills the output's `file` field.
    pub fn decode(
        &mut self,
        label: &str,
        input: &EncodedInput,
        request: &Request,
    ) -> Result<TaskOutput, TaskError> {
        let asked = self.prompt(request)?;
        if asked != input.prompt {
            return Err(TaskError::EncodedForAnotherRequest {
                encoded: input.prompt.clone(),
                asked,
            });
        }
        let (enc, src) = (&input.encoded, &input.src);
        let mut timings = input.timings.clone();
        let t = Instant::now();
        let task = request.task();
        let mut out = TaskOutput::empty(label, task.name());
        match request {
            Request::Entail { .. } => self.score_entailment(enc, inner_prompt(src), &mut out)?,
            _ => {
                let constraints = search_constraints(request, src);
                let search = self.search.clone();
                let mut decoder = StepTimer::new(self.model.decoder(enc));
                let hyps = beam_search(&mut decoder, &search, &constraints, enc.src_len)?;
                timings.decoder_steps = std::mem::take(&mut decoder.steps_ms);
                let skip = constraints.prefix.len();
                self.report_hypotheses(task, &hyps, skip, input.image, &mut out)?;
            }
        }
        timings.decode = ms(t);
        timings.total = ms(input.started);
        out.timings_ms = timings;
        Ok(out)
    }

    /// SNLI-VE: the summed log-probabilities of " no", " yes", " maybe" after the prompt
    /// `inner`; the best one is the label.
    fn score_entailment(
        &mut self,
        enc: &Encoded,
        inner: &[i64],
        out: &mut TaskOutput,
    ) -> Result<(), TaskError> {
        let candidates = ENTAILMENT_ANSWERS
            .iter()
            .map(|a| self.tokenizer.encode(&format!(" {a}")))
            .collect::<Result<Vec<_>, _>>()?;
        let specials = self.search.specials;
        let mut decoder = self.model.decoder(enc);
        let scores = score_options(&mut decoder, inner, &candidates, &specials)?;
        let best = scores
            .iter()
            .enumerate()
            .fold(0, |b, (i, s)| if *s > scores[b] { i } else { b });
        out.label = Some(ENTAILMENT_ANSWERS[best].to_string());
        out.text = ENTAILMENT_ANSWERS[best].to_string();
        out.score = scores.get(best).copied();
        out.scores = Some(
            ENTAILMENT_ANSWERS
                .iter()
                .zip(&scores)
                .map(|(a, s)| (a.to_string(), *s))
                .collect::<BTreeMap<_, _>>(),
        );
        Ok(())
    }

    /// Fills `out` from the search's hypotheses (best first): every beam's post-processed text,
    /// the best one's tokens and score, and for grounding its box in the original image.
    pub(super) fn report_hypotheses(
        &self,
        task: TaskKind,
        hyps: &[Hypothesis],
        skip: usize,
        image: Option<ImageSizes>,
        out: &mut TaskOutput,
    ) -> Result<(), TaskError> {
        out.beams = hyps
            .iter()
            .map(|h| Beam {
                text: self.hypothesis_text(task, h, skip),
                tokens: h.tokens.clone(),
                score: h.score,
            })
            .collect();
        let (Some(best), Some(best_beam)) = (hyps.first(), out.beams.first()) else {
            return Ok(());
        };
        out.tokens = best.tokens.clone();
        out.score = Some(f64::from(best.score));
        out.text = best_beam.text.clone();
        if let (TaskKind::Refcoco, Some(image)) = (task, image) {
            out.bbox = Some(self.box_of(best, image.side, image.original)?);
        }
        Ok(())
    }

    /// Text of a hypothesis as the original post-processes it: captions lose punctuation
    /// (`eval_caption`), VQA answers lose the forced question (`tokens[prefix_len:]`).
    fn hypothesis_text(&self, task: TaskKind, h: &Hypothesis, skip: usize) -> String {
        let tokens = h.tokens.get(skip..).unwrap_or(&[]);
        let text = self.tokenizer.decode(tokens);
        match task {
            TaskKind::Caption | TaskKind::VideoCaption | TaskKind::AudioCaption => {
                strip_caption_punctuation(&text)
            }
            _ => text.trim().to_string(),
        }
    }

    /// Box in original-image pixels from the 4 `<bin_k>` tokens (docs/model.md §4.5):
    /// `x = k/(num_bins−1)·S / (S/W)`.
    fn box_of(
        &self,
        h: &Hypothesis,
        size: usize,
        original: (u32, u32),
    ) -> Result<[f64; 4], TaskError> {
        let bins: Vec<Option<i64>> = h
            .tokens
            .iter()
            .take(4)
            .map(|&t| self.tokenizer.bin_index(t))
            .collect();
        if bins.len() < 4 || bins.iter().any(Option::is_none) {
            return Err(TaskError::NotABox {
                got: format!("{:?}", &h.tokens),
            });
        }
        let denom = (self.tokenizer.vocab().num_bins - 1) as f64;
        let s = size as f64;
        let rw = s / f64::from(original.0);
        let rh = s / f64::from(original.1);
        let mut out = [0.0; 4];
        for (i, k) in bins.into_iter().flatten().enumerate() {
            let resized = k as f64 / denom * s;
            out[i] = if i % 2 == 0 {
                resized / rw
            } else {
                resized / rh
            };
        }
        Ok(out)
    }
}
