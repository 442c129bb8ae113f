//! The image tasks of the paper on one loaded bundle (docs/model.md §5.1–5.4): captioning, VQA,
//! grounding (RefCOCO) and visual entailment (SNLI-VE). Each request goes file → preprocessing →
//! perception + encoder ([`Pipeline::encode`], an [`EncodedInput`]) → search or option scoring
//! ([`Pipeline::decode`]) → a [`TaskOutput`] whose fields are the CLI's `--json` schema.

mod batch;
mod encoded;
mod media;
mod output;
mod perception;
mod requests;

pub use encoded::EncodedInput;
pub use media::Media;
pub use output::{Beam, TaskOutput, Timings};
pub use perception::{MediaSettings, PerceptionTensor};
pub use requests::Request;

use crate::audio::{AudioOptions, LogMel, LogMelConfig};
use crate::engine::ep::SessionOptions;
use crate::error::RuntimeError;
use crate::generate::{GenerateError, SearchOptions, SearchOverrides};
use crate::model::Model;
use crate::text::{TextError, Tokenizer};
use crate::vision::video::Sampling;
use crate::vision::{ImageOptions, VisionError};
use std::path::{Path, PathBuf};
use unival_manifest::{TaskConfig, TaskKind};

/// Why a task request failed. Input problems (unreadable image, empty question, wrong bundle)
/// are distinguished from model/runtime failures so callers can report and go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Vision(#[from] VisionError),
    #[error(transparent)]
    Video(#[from] crate::vision::video::VideoError),
    #[error(transparent)]
    Audio(#[from] crate::audio::AudioError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error("{what} is empty")]
    EmptyText { what: &'static str },
    #[error("{bundle}: this bundle was exported for task `{bundle_task}`, not `{wanted}`; export one with `unival export --task {wanted}` or pass --model")]
    WrongTask {
        bundle: PathBuf,
        bundle_task: TaskKind,
        wanted: TaskKind,
    },
    #[error("task `{task}` cannot run on {given}")]
    WrongMedia { task: TaskKind, given: &'static str },
    #[error("the input was encoded for the prompt `{encoded}`, not for `{asked}`")]
    EncodedForAnotherRequest { encoded: String, asked: String },
    #[error("the model produced {got} instead of 4 location tokens (<bin_k>) for a box")]
    NotABox { got: String },
}

/// A loaded bundle, its tokenizer and the settings requests run with.
pub struct Pipeline {
    model: Model,
    tokenizer: Tokenizer,
    dir: PathBuf,
    /// Task settings (manifest defaults, possibly overridden by the caller).
    pub task: TaskConfig,
    /// Search settings (task defaults, possibly overridden by the caller).
    pub search: SearchOptions,
    /// Image decoding options.
    pub image: ImageOptions,
    /// Video frame sampling (middle frames by default) and segment.
    pub video: VideoSettings,
    /// Audio decoding settings (rate and length from the bundle; crop and segment).
    pub audio: AudioOptions,
    /// The log-mel front end, built from the bundle's STFT kernels (audio bundles).
    pub(crate) log_mel: Option<LogMel>,
}

/// How frames are picked from a video file (docs/model.md §5.5); the frame count and crop size come
/// from [`TaskConfig`].
#[derive(Debug, Clone, Default)]
pub struct VideoSettings {
    pub sampling: Sampling,
    /// Segment start, seconds.
    pub start: Option<f64>,
    /// Segment end, seconds.
    pub end: Option<f64>,
}

impl Pipeline {
    /// Opens the bundle at `dir` (hashes verified) with the tokenizer for its vocabulary.
    pub fn open(dir: &Path, opts: &SessionOptions) -> Result<Pipeline, TaskError> {
        let model = Model::open(dir, opts)?;
        let manifest = model.manifest();
        let tokenizer = Tokenizer::with_vocab(&manifest.vocab)?;
        let media = MediaSettings::from_manifest(manifest);
        let log_mel = match &manifest.model.audio {
            Some(front) => {
                let cfg = LogMelConfig {
                    n_fft: front.window_size,
                    hop: front.hop_size,
                    sample_rate: media.audio.sample_rate,
                    mel_bins: front.mel_bins,
                    fmin: front.fmin,
                    fmax: front.fmax,
                    ..LogMelConfig::default()
                };
                Some(LogMel::from_kernel_file(
                    &dir.join(&front.stft_kernels),
                    cfg,
                )?)
            }
            None => None,
        };
        let MediaSettings {
            task,
            image,
            video,
            audio,
        } = media;
        let mut search = SearchOptions::from_defaults(&task.generation)?;
        search.specials = (&manifest.vocab).into();
        Ok(Pipeline {
            model,
            tokenizer,
            dir: dir.to_path_buf(),
            task,
            search,
            image,
            video,
            audio,
            log_mel,
        })
    }

    /// Sets the search to `overrides` resolved against the bundle's generation defaults
    /// ([`SearchOverrides::resolve`]): the one way a caller changes search settings, validated.
    pub fn override_search(&mut self, overrides: &SearchOverrides) -> Result<(), TaskError> {
        self.search = overrides.resolve(&self.task.generation, self.search.specials)?;
        Ok(())
    }

    /// The loaded model (manifest, graphs).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The loaded model, mutably (to close its profiles).
    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Fails with [`TaskError::WrongTask`] unless the bundle serves a task compatible with
    /// `wanted`: same modality (a multi-task checkpoint exported for captioning also answers
    /// questions about images, as the original's zero-shot evaluation does).
    pub fn check_task(&self, wanted: TaskKind) -> Result<(), TaskError> {
        if self.task.perception.modality() == wanted.modality() {
            return Ok(());
        }
        Err(self.wrong_task(wanted))
    }

    /// [`TaskError::WrongTask`]: this bundle cannot serve `wanted`.
    fn wrong_task(&self, wanted: TaskKind) -> TaskError {
        TaskError::WrongTask {
            bundle: self.dir.clone(),
            bundle_task: self.model.manifest().task.task,
            wanted,
        }
    }
}
