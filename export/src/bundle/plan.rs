//! [`ExportPlan`]: everything an export decides, resolved once from the options and the opened
//! checkpoint before any graph is built (task settings, EMA choice, architecture, backbone,
//! weight formats, vocabulary layout). Pure: it reads the checkpoint and writes nothing.

use super::error::ExportError;
use crate::checkpoint::{Checkpoint, Contents, WeightsChoice, WeightsSource};
use crate::config::ModelConfig;
use crate::graphs::{self, Graph};
use crate::quant::{ConvKernels, ConvOptions, QuantOptions};
use std::path::PathBuf;
use unival_manifest::task::Modality;
use unival_manifest::vocab::VocabInfo;
use unival_manifest::{DType, Perception, Precision, TaskConfig, TaskKind};

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub checkpoint: PathBuf,
    /// Bundle directory to (re)create.
    pub out_dir: PathBuf,
    /// Task the bundle serves; default: the checkpoint's own task, else captioning.
    pub task: Option<TaskKind>,
    pub precision: Precision,
    /// `Auto` takes the EMA weights when present and the task is evaluated with them in the
    /// original (VQA, video QA); `Ema`/`Model` force a choice.
    pub weights: WeightsChoice,
    pub image_size: Option<usize>,
    pub num_frames: Option<usize>,
    pub frame_size: Option<usize>,
    /// Put weights in `.onnx.data` files even below the 2 GB protobuf limit.
    pub external_data: bool,
    /// Int8/int4 only: also run these 2-D convolutions as `ConvInteger`
    /// ([`crate::quant::conv`]); `None` keeps every convolution fp32 (the default: see
    /// [`QuantOptions::for_precision`] for the measured trade-off).
    pub quantize_convs: Option<ConvKernels>,
}

/// Convolutions with fewer input channels stay fp32 under `quantize_convs` (the RGB stem).
const CONV_MIN_IN_CHANNELS: usize = 4;

/// Everything an export decided, before any graph is built.
#[derive(Debug, Clone)]
pub struct ExportPlan {
    /// The task's settings, checkpoint overrides and options applied.
    pub task: TaskConfig,
    /// `cfg['task']['_name']` of the checkpoint.
    pub saved_task: Option<String>,
    /// The architecture.
    pub cfg: ModelConfig,
    pub modality: Modality,
    /// The perception backbone's architecture name saved in the checkpoint (`resnet101`, …).
    pub backbone: String,
    /// Element type of float weights and activations.
    pub float: DType,
    /// Weight quantisation; `None` for float precisions.
    pub quant: Option<QuantOptions>,
    pub vocab: VocabInfo,
}

impl ExportPlan {
    /// Resolves the plan for exporting `ckpt` (opened with [`weights_choice`]) as `opts` asks.
    /// Fails on unsupported architectures, a missing backbone, convolution quantisation at a
    /// float precision and an embedding that does not fit the dictionary layout.
    pub fn resolve(opts: &ExportOptions, ckpt: &Checkpoint) -> Result<Self, ExportError> {
        let path = &opts.checkpoint;
        let saved_task = saved_task(&ckpt.task_cfg);
        let mut task = resolve_task(
            task_kind(opts, &ckpt.task_cfg),
            saved_task.as_deref(),
            &ckpt.task_cfg,
        );
        match &mut task.perception {
            Perception::Image { image_size } => {
                *image_size = opts.image_size.unwrap_or(*image_size);
            }
            Perception::Video {
                num_frames,
                frame_size,
            } => {
                *num_frames = opts.num_frames.unwrap_or(*num_frames);
                *frame_size = opts.frame_size.unwrap_or(*frame_size);
            }
            Perception::Audio { .. } => {}
        }
        task.uses_ema = ckpt.weights_source == WeightsSource::Ema;
        let cfg = ModelConfig::from_args(&ckpt.model_args)?;
        graphs::check_supported(&cfg).map_err(|e| ExportError::graph(path, e))?;
        let modality = task.task.modality();
        let backbone = backbone(&cfg, modality);
        let key = backbone_key(modality);
        if !ckpt.weights.contains(key) {
            return Err(ExportError::invalid(
                path,
                format!(
                    "task {} needs the {modality:?} backbone (`{key}`), which this checkpoint does not have",
                    task.task
                ),
            ));
        }
        Ok(ExportPlan {
            quant: quant_options(opts)?,
            vocab: vocab(opts, ckpt)?,
            float: match opts.precision {
                Precision::Fp16 => DType::F16,
                Precision::Fp32 | Precision::Int8 | Precision::Int4 => DType::F32,
            },
            task,
            saved_task,
            cfg,
            modality,
            backbone,
        })
    }

    /// The graphs of the bundle, in build order.
    pub fn graphs(&self) -> [Graph; 3] {
        [
            Graph::Perception(self.modality),
            Graph::Encoder,
            Graph::Decoder,
        ]
    }
}

/// The weights to read from a checkpoint with `contents`: `opts.weights`, where `Auto` takes
/// the EMA weights when the file has them and the task was evaluated with them.
pub fn weights_choice(opts: &ExportOptions, contents: &Contents) -> WeightsChoice {
    match opts.weights {
        WeightsChoice::Auto => {
            let uses_ema = task_kind(opts, contents.task_cfg).defaults().uses_ema;
            if contents.has_ema && uses_ema {
                WeightsChoice::Ema
            } else {
                WeightsChoice::Model
            }
        }
        forced => forced,
    }
}

fn saved_task(task_cfg: &serde_json::Value) -> Option<String> {
    task_cfg
        .get("_name")
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// The task asked for, else the checkpoint's own, else captioning.
fn task_kind(opts: &ExportOptions, task_cfg: &serde_json::Value) -> TaskKind {
    opts.task
        .or_else(|| {
            saved_task(task_cfg)
                .as_deref()
                .and_then(TaskKind::from_fairseq_name)
        })
        .unwrap_or(TaskKind::Caption)
}

fn backbone(cfg: &ModelConfig, modality: Modality) -> String {
    match modality {
        Modality::Image => cfg.image_encoder_name.clone(),
        Modality::Video => cfg.video_encoder_name.clone().unwrap_or_default(),
        Modality::Audio => cfg.audio_encoder_name.clone().unwrap_or_default(),
    }
}

/// A key every checkpoint with the modality's backbone has.
fn backbone_key(modality: Modality) -> &'static str {
    match modality {
        Modality::Image => "encoder.embed_images.conv1.weight",
        Modality::Video => "encoder.embed_videos.conv1.weight",
        Modality::Audio => "encoder.embed_audios.conv_block1.conv1.weight",
    }
}

fn quant_options(opts: &ExportOptions) -> Result<Option<QuantOptions>, ExportError> {
    let mut quant = QuantOptions::for_precision(opts.precision);
    if let Some(kernels) = opts.quantize_convs {
        let Some(q) = quant.as_mut() else {
            return Err(ExportError::invalid(
                &opts.checkpoint,
                format!(
                    "quantised convolutions need an int8 or int4 export, not {:?}",
                    opts.precision
                ),
            ));
        };
        q.convs = Some(ConvOptions {
            kernels,
            min_in_channels: CONV_MIN_IN_CHANNELS,
        });
    }
    Ok(quant)
}

/// The dictionary layout, checked against the token embedding's rows.
fn vocab(opts: &ExportOptions, ckpt: &Checkpoint) -> Result<VocabInfo, ExportError> {
    let vocab_rows = ckpt
        .weights
        .get("encoder.embed_tokens.weight")?
        .shape()
        .first()
        .copied()
        .unwrap_or(0) as i64;
    let num_bins = task_i64(&ckpt.task_cfg, "num_bins").unwrap_or(1000);
    let num_codes = task_i64(&ckpt.task_cfg, "code_dict_size").unwrap_or(8192);
    let vocab = VocabInfo::standard(num_codes, num_bins);
    if vocab.size != vocab_rows {
        return Err(ExportError::invalid(
            &opts.checkpoint,
            format!(
                "embedding has {vocab_rows} rows but the dictionary layout gives {} (code_dict_size {num_codes}, num_bins {num_bins})",
                vocab.size
            ),
        ));
    }
    Ok(vocab)
}

/// Task settings: built-in defaults (docs/model.md §5), overridden by the checkpoint's own task
/// config when the bundle serves the task the checkpoint was saved for (the original's evaluation
/// path); a checkpoint used for another task gets the defaults (the `--zero-shot` path).
pub fn resolve_task(
    kind: TaskKind,
    saved_task: Option<&str>,
    task_cfg: &serde_json::Value,
) -> TaskConfig {
    let mut t = kind.defaults();
    let same_task = saved_task.and_then(TaskKind::from_fairseq_name) == Some(kind);
    if !same_task {
        return t;
    }
    let get = |k: &str| task_i64(task_cfg, k).and_then(|v| usize::try_from(v).ok());
    let set = |field: &mut usize, key: &str| *field = get(key).unwrap_or(*field);
    set(&mut t.max_src_length, "max_src_length");
    match &mut t.perception {
        Perception::Image { image_size } => set(image_size, "patch_image_size"),
        Perception::Video {
            num_frames,
            frame_size,
        } => {
            set(num_frames, "num_frames");
            set(frame_size, "patch_frame_size");
        }
        Perception::Audio {
            sample_rate,
            max_audio_len,
        } => {
            set(max_audio_len, "max_audio_len");
            set(sample_rate, "sample_rate");
        }
    }
    if let Some(b) = task_cfg
        .get("imagenet_default_mean_and_std")
        .and_then(|v| v.as_bool())
    {
        t.imagenet_mean_std = b;
    }
    t
}

fn task_i64(task_cfg: &serde_json::Value, key: &str) -> Option<i64> {
    let v = task_cfg.get(key)?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}
