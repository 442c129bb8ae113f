//! Tasks and their built-in defaults (docs/model.md §5). The exporter records the chosen task and
//! settings in the manifest; the runtime reads them back and lets flags override them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The tasks of the paper, named as the CLI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Caption,
    Vqa,
    Refcoco,
    SnliVe,
    VideoCaption,
    VideoQa,
    AudioCaption,
}

/// The perception branch a task feeds (`patch_types` in the original: 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Image,
    Video,
    Audio,
}

impl TaskKind {
    pub const ALL: [TaskKind; 7] = [
        TaskKind::Caption,
        TaskKind::Vqa,
        TaskKind::Refcoco,
        TaskKind::SnliVe,
        TaskKind::VideoCaption,
        TaskKind::VideoQa,
        TaskKind::AudioCaption,
    ];

    /// CLI / manifest name.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Caption => "caption",
            TaskKind::Vqa => "vqa",
            TaskKind::Refcoco => "refcoco",
            TaskKind::SnliVe => "snli_ve",
            TaskKind::VideoCaption => "video_caption",
            TaskKind::VideoQa => "video_qa",
            TaskKind::AudioCaption => "audio_caption",
        }
    }

    /// Maps the original's task `_name` (`cfg['task']['_name']`) to ours.
    pub fn from_fairseq_name(name: &str) -> Option<Self> {
        Some(match name {
            "caption" => TaskKind::Caption,
            "vqa_gen" => TaskKind::Vqa,
            "refcoco" => TaskKind::Refcoco,
            "snli_ve" => TaskKind::SnliVe,
            "video_caption" => TaskKind::VideoCaption,
            "video_vqa_gen" => TaskKind::VideoQa,
            "audio_caption" => TaskKind::AudioCaption,
            _ => return None,
        })
    }

    pub fn modality(self) -> Modality {
        match self {
            TaskKind::VideoCaption | TaskKind::VideoQa => Modality::Video,
            TaskKind::AudioCaption => Modality::Audio,
            _ => Modality::Image,
        }
    }

    /// The fixed encoder text of the captioning tasks (docs/model.md §5.1, §5.5, §5.7); `None` for
    /// the tasks whose text comes from the user. The one place these prompts are written.
    pub fn caption_prompt(self) -> Option<&'static str> {
        match self {
            TaskKind::Caption => Some(" what does the image describe?"),
            // The audio models were trained with the video prompt (a copy-paste in the
            // original).
            TaskKind::VideoCaption | TaskKind::AudioCaption => {
                Some(" what does the video describe?")
            }
            _ => None,
        }
    }

    /// Built-in defaults of docs/model.md §5 for this task.
    pub fn defaults(self) -> TaskConfig {
        let caption_gen = GenerationDefaults {
            beam: 5,
            max_len_a: 0.0,
            max_len_b: 22,
            min_len: 1,
            no_repeat_ngram_size: 3,
            unnormalized: true,
            lenpen: 1.0,
            temperature: 1.0,
        };
        let vqa_gen = GenerationDefaults {
            max_len_b: 200,
            no_repeat_ngram_size: 0,
            ..caption_gen.clone()
        };
        let normalized_caption = GenerationDefaults {
            unnormalized: false,
            ..caption_gen.clone()
        };
        let base = TaskConfig {
            task: self,
            prompt: self.caption_prompt().map(str::to_string),
            perception: Perception::Image { image_size: 480 },
            max_src_length: 80,
            imagenet_mean_std: false,
            uses_ema: false,
            generation: caption_gen.clone(),
        };
        match self {
            TaskKind::Caption => base,
            TaskKind::Vqa => TaskConfig {
                uses_ema: true,
                generation: vqa_gen,
                ..base
            },
            TaskKind::Refcoco => TaskConfig {
                perception: Perception::Image { image_size: 512 },
                generation: GenerationDefaults {
                    min_len: 4,
                    max_len_b: 4,
                    unnormalized: false,
                    ..caption_gen
                },
                ..base
            },
            TaskKind::SnliVe => TaskConfig {
                generation: GenerationDefaults {
                    beam: 1,
                    no_repeat_ngram_size: 0,
                    ..caption_gen
                },
                ..base
            },
            TaskKind::VideoCaption => TaskConfig {
                perception: Perception::Video {
                    num_frames: 16,
                    frame_size: 384,
                },
                generation: normalized_caption,
                ..base
            },
            TaskKind::VideoQa => TaskConfig {
                perception: Perception::Video {
                    num_frames: 8,
                    frame_size: 384,
                },
                uses_ema: true,
                generation: vqa_gen,
                ..base
            },
            TaskKind::AudioCaption => TaskConfig {
                perception: Perception::Audio {
                    sample_rate: 48000,
                    max_audio_len: 480000,
                },
                generation: normalized_caption,
                ..base
            },
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TaskKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TaskKind::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .or_else(|| TaskKind::from_fairseq_name(s))
            .ok_or_else(|| {
                let names: Vec<_> = TaskKind::ALL.iter().map(|t| t.name()).collect();
                format!("unknown task '{s}' (expected one of: {})", names.join(", "))
            })
    }
}

/// fairseq `SequenceGenerator` settings (names as fairseq's flags): the bundle's defaults, which
/// the runtime's `SearchOverrides` (the CLI's generation flags) may change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationDefaults {
    /// Beam width.
    pub beam: usize,
    /// Maximum output length is `max_len_a · source length + max_len_b`.
    pub max_len_a: f64,
    /// See `max_len_a`.
    pub max_len_b: usize,
    /// End of sentence is forbidden before this many output tokens.
    pub min_len: usize,
    /// Repeated n-grams of this size are banned; 0 = off.
    pub no_repeat_ngram_size: usize,
    /// Raw summed log-probs instead of length-normalised scores.
    pub unnormalized: bool,
    /// Normalised scores are divided by `length^lenpen`.
    pub lenpen: f64,
    /// Logits are divided by it before the softmax.
    pub temperature: f64,
}

/// Everything the runtime needs to run one task on this bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskConfig {
    pub task: TaskKind,
    /// Fixed encoder text (caption tasks); `None` when the text comes from the user.
    pub prompt: Option<String>,
    /// The perception input's settings, of the task's modality.
    pub perception: Perception,
    /// Maximum number of words kept from user text.
    pub max_src_length: usize,
    /// ImageNet mean/std instead of 0.5/0.5.
    pub imagenet_mean_std: bool,
    /// Whether the bundle was exported from the EMA weights.
    pub uses_ema: bool,
    pub generation: GenerationDefaults,
}

/// What the perception branch of a task takes, per modality (`"perception": {"modality":
/// "video", "num_frames": 16, "frame_size": 384}` in the manifest). Only the task's own
/// modality has settings, so no field stands for "not this modality".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "modality", rename_all = "snake_case", deny_unknown_fields)]
pub enum Perception {
    /// One image, resized to an `image_size` square.
    Image {
        /// Square side the image is resized to (480; 512 for grounding).
        image_size: usize,
    },
    /// A clip of `num_frames` frames, each centre-cropped to a `frame_size` square.
    Video {
        /// Frames per clip.
        num_frames: usize,
        /// Centre-crop side of each frame.
        frame_size: usize,
    },
    /// A mono waveform at `sample_rate`, padded or cut to `max_audio_len` samples.
    Audio {
        /// Sample rate in Hz the model takes.
        sample_rate: usize,
        /// Length in samples the model takes.
        max_audio_len: usize,
    },
}

impl Perception {
    /// The modality these settings are for.
    pub fn modality(&self) -> Modality {
        match self {
            Perception::Image { .. } => Modality::Image,
            Perception::Video { .. } => Modality::Video,
            Perception::Audio { .. } => Modality::Audio,
        }
    }

    /// The square side an image is resized to; `None` for the other modalities.
    pub fn image_size(&self) -> Option<usize> {
        match *self {
            Perception::Image { image_size } => Some(image_size),
            _ => None,
        }
    }

    /// The square side pixels are resized or cropped to (image and video), `None` for audio.
    pub fn side(&self) -> Option<usize> {
        match *self {
            Perception::Image { image_size } => Some(image_size),
            Perception::Video { frame_size, .. } => Some(frame_size),
            Perception::Audio { .. } => None,
        }
    }
}

impl fmt::Display for Perception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Perception::Image { image_size } => write!(f, "image {image_size}"),
            Perception::Video {
                num_frames,
                frame_size,
            } => write!(f, "video {num_frames} frames of {frame_size}"),
            Perception::Audio {
                sample_rate,
                max_audio_len,
            } => write!(f, "audio {max_audio_len} samples at {sample_rate} Hz"),
        }
    }
}

impl TaskConfig {
    /// The fixed encoder text when this bundle runs captioning task `task`: the manifest's
    /// prompt, else the task's built-in one ([`TaskKind::caption_prompt`]); `None` for tasks
    /// whose text comes from the user.
    pub fn caption_prompt(&self, task: TaskKind) -> Option<&str> {
        let builtin = task.caption_prompt()?;
        Some(self.prompt.as_deref().unwrap_or(builtin))
    }

    /// Per-channel normalisation `(mean, std)` for pixel values in `[0, 1]`.
    pub fn mean_std(&self) -> ([f32; 3], [f32; 3]) {
        if self.imagenet_mean_std {
            ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        } else {
            ([0.5; 3], [0.5; 3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_fairseq_aliases_parse() {
        for t in TaskKind::ALL {
            assert_eq!(t.name().parse::<TaskKind>(), Ok(t));
        }
        assert_eq!("vqa_gen".parse::<TaskKind>(), Ok(TaskKind::Vqa));
        assert!("bogus".parse::<TaskKind>().unwrap_err().contains("caption"));
    }

    #[test]
    fn defaults_follow_the_spec() {
        let r = TaskKind::Refcoco.defaults();
        assert_eq!(r.perception, Perception::Image { image_size: 512 });
        assert_eq!((r.generation.min_len, r.generation.max_len_b), (4, 4));
        assert!(!r.generation.unnormalized);
        let c = TaskKind::Caption.defaults();
        assert!(c.generation.unnormalized);
        assert_eq!(c.generation.no_repeat_ngram_size, 3);
        assert_eq!(
            TaskKind::VideoQa.defaults().perception,
            Perception::Video {
                num_frames: 8,
                frame_size: 384
            }
        );
    }

    #[test]
    fn every_task_perceives_in_its_own_modality() {
        for t in TaskKind::ALL {
            assert_eq!(t.defaults().perception.modality(), t.modality(), "{t}");
        }
    }

    #[test]
    fn perception_is_tagged_by_modality_in_json() {
        let p = TaskKind::AudioCaption.defaults().perception;
        let json = serde_json::to_value(p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"modality": "audio", "sample_rate": 48000, "max_audio_len": 480000})
        );
        assert_eq!(serde_json::from_value::<Perception>(json).unwrap(), p);
        let mixed = serde_json::json!({"modality": "image", "image_size": 480, "num_frames": 0});
        assert!(serde_json::from_value::<Perception>(mixed).is_err());
    }

    #[test]
    fn caption_prompts_come_from_the_task_unless_the_manifest_sets_one() {
        let image = " what does the image describe?";
        let video = " what does the video describe?";
        let caption = TaskKind::Caption.defaults();
        assert_eq!(caption.prompt.as_deref(), Some(image));
        assert_eq!(
            TaskKind::AudioCaption.defaults().prompt.as_deref(),
            Some(video)
        );
        assert_eq!(TaskKind::Vqa.defaults().prompt, None);
        // A VQA bundle asked to caption uses the built-in prompt; a user-text task has none.
        let vqa = TaskKind::Vqa.defaults();
        assert_eq!(vqa.caption_prompt(TaskKind::Caption), Some(image));
        assert_eq!(vqa.caption_prompt(TaskKind::Vqa), None);
        let custom = TaskConfig {
            prompt: Some(" describe".into()),
            ..caption
        };
        assert_eq!(custom.caption_prompt(TaskKind::Caption), Some(" describe"));
    }
}
