//! File → the tensor the perception graph receives, for every modality: the one place the task
//! commands ([`super::Pipeline::run`]) and `unival preprocess` turn an input file into numbers,
//! so what a user dumps is exactly what the model sees.

use super::{TaskError, VideoSettings};
use crate::audio::{load_waveform, AudioOptions};
use crate::vision::video::{preprocess_video, VideoOptions};
use crate::vision::{preprocess_image, ImageOptions};
use ndarray::{Array2, Array4, Array5};
use std::path::Path;
use unival_manifest::{Manifest, Perception, TaskConfig};

/// The perception input of one file, before the graph (audio: before the log-mel front end).
#[derive(Debug, Clone)]
pub enum PerceptionTensor {
    /// `patch_images [1, 3, S, S]`, and the image's (width, height) before resizing (RefCOCO
    /// maps boxes back with it).
    Image {
        tensor: Array4<f32>,
        original_size: (u32, u32),
    },
    /// `patch_videos [1, 3, T, S, S]`.
    Video(Array5<f32>),
    /// `patch_audios [1, L]`: the waveform at the model's rate, padded or cut to its length.
    Waveform(Array2<f32>),
}

impl PerceptionTensor {
    /// The original's name of the tensor (`patch_images`, `patch_videos`, `patch_audios`).
    pub fn name(&self) -> &'static str {
        match self {
            PerceptionTensor::Image { .. } => "patch_images",
            PerceptionTensor::Video(_) => "patch_videos",
            PerceptionTensor::Waveform(_) => "patch_audios",
        }
    }

    /// The tensor's shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            PerceptionTensor::Image { tensor, .. } => tensor.shape(),
            PerceptionTensor::Video(t) => t.shape(),
            PerceptionTensor::Waveform(t) => t.shape(),
        }
    }

    /// The values in C (row-major) order.
    pub fn values(&self) -> Vec<f32> {
        match self {
            PerceptionTensor::Image { tensor, .. } => tensor.iter().copied().collect(),
            PerceptionTensor::Video(t) => t.iter().copied().collect(),
            PerceptionTensor::Waveform(t) => t.iter().copied().collect(),
        }
    }
}

/// The settings that turn a file into a [`PerceptionTensor`]: the task's (sizes, frame count,
/// normalisation) and the per-modality options the CLI flags change.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Task settings (manifest defaults, possibly overridden by the caller).
    pub task: TaskConfig,
    /// Image decoding options.
    pub image: ImageOptions,
    /// Video frame sampling (middle frames by default) and segment.
    pub video: VideoSettings,
    /// Audio decoding settings (rate and length from the bundle; crop and segment).
    pub audio: AudioOptions,
}

impl MediaSettings {
    /// The bundle's defaults: its task settings, and for an audio bundle the sample rate of its
    /// front end and the task's waveform length.
    pub fn from_manifest(manifest: &Manifest) -> MediaSettings {
        let task = manifest.task.clone();
        let audio = match (&manifest.model.audio, task.perception) {
            (Some(front), Perception::Audio { max_audio_len, .. }) => AudioOptions {
                sample_rate: u32::try_from(front.sample_rate).unwrap_or(u32::MAX),
                max_len: max_audio_len,
                ..AudioOptions::default()
            },
            _ => AudioOptions::default(),
        };
        MediaSettings {
            task,
            image: ImageOptions::default(),
            video: VideoSettings::default(),
            audio,
        }
    }

    /// Loads `path` as the bundle task's modality (an image; a video file or frame directory;
    /// a sound) and builds its perception tensor.
    pub fn load(&self, path: &Path) -> Result<PerceptionTensor, TaskError> {
        load_perception(path, &self.task, &self.image, &self.video, &self.audio)
    }
}

/// Loads `path` as the modality of `task.perception` with the given settings.
/// [`MediaSettings::load`] and [`super::Pipeline::run`] both come here.
pub(crate) fn load_perception(
    path: &Path,
    task: &TaskConfig,
    image: &ImageOptions,
    video: &VideoSettings,
    audio: &AudioOptions,
) -> Result<PerceptionTensor, TaskError> {
    let (mean, std) = task.mean_std();
    Ok(match task.perception {
        Perception::Video {
            num_frames,
            frame_size,
        } => {
            let opts = VideoOptions {
                num_frames,
                frame_size,
                sampling: video.sampling.clone(),
                start: video.start,
                end: video.end,
            };
            PerceptionTensor::Video(preprocess_video(path, &opts, mean, std)?.tensor)
        }
        Perception::Audio { .. } => {
            PerceptionTensor::Waveform(load_waveform(path, audio)?.waveform)
        }
        Perception::Image { image_size } => {
            let done = preprocess_image(path, image_size, mean, std, image)?;
            PerceptionTensor::Image {
                tensor: done.tensor,
                original_size: done.original_size,
            }
        }
    })
}
