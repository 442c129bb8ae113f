//! Writes a model bundle (`models/<name>/`): the ONNX graphs and `manifest.json` with the sha256
//! of every file (ARCHITECTURE.md §3).

use crate::checkpoint::{Checkpoint, CheckpointError, WeightsChoice};
use crate::config::ModelConfig;
use crate::graphs::weights::Weights;
use crate::graphs::{self, GraphError};
use crate::onnx::write::write_model;
use crate::onnx::GraphBuilder;
use crate::quant::{quantize_model, ConvKernels, ConvOptions, QuantError, QuantOptions};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use unival_manifest::task::Modality;
use unival_manifest::vocab::VocabInfo;
use unival_manifest::{
    file_entry, io, AudioFrontEnd, DType, GraphSpec, Manifest, ManifestError, ModelInfo,
    Perception, Precision, SourceInfo, TaskConfig, TaskKind, FORMAT_VERSION,
};

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

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Boxed: a graph error is large, and every export result would carry its size.
    #[error("{path}: {source}")]
    Graph {
        path: PathBuf,
        source: Box<GraphError>,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{path}: cannot write the bundle: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: keys this exporter does not understand: {keys}")]
    UnknownKeys { path: PathBuf, keys: String },
    #[error("{path}: {why}")]
    Invalid { path: PathBuf, why: String },
    #[error("{path}: {source}")]
    Quant { path: PathBuf, source: QuantError },
}

/// Progress of an export, for a progress bar.
#[derive(Debug, Clone)]
pub enum ExportStep {
    /// Reading and checking the checkpoint.
    Reading,
    /// Building and writing graph `name` (`index` of `total`).
    Graph {
        name: String,
        index: usize,
        total: usize,
    },
    /// Hashing the written files.
    Hashing,
}

/// Exports `opts.checkpoint` into `opts.out_dir` and returns the manifest written there.
pub fn export(
    opts: &ExportOptions,
    progress: &mut dyn FnMut(ExportStep),
) -> Result<Manifest, ExportError> {
    progress(ExportStep::Reading);
    let path = &opts.checkpoint;
    let probe = Checkpoint::open(path, WeightsChoice::Model)?;
    let saved_task = probe
        .task_cfg
        .get("_name")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let task_kind = opts
        .task
        .or_else(|| saved_task.as_deref().and_then(TaskKind::from_fairseq_name))
        .unwrap_or(TaskKind::Caption);
    let mut task = resolve_task(task_kind, saved_task.as_deref(), &probe.task_cfg);
    match &mut task.perception {
        Perception::Image { image_size } => *image_size = opts.image_size.unwrap_or(*image_size),
        Perception::Video {
            num_frames,
            frame_size,
        } => {
            *num_frames = opts.num_frames.unwrap_or(*num_frames);
            *frame_size = opts.frame_size.unwrap_or(*frame_size);
        }
        Perception::Audio { .. } => {}
    }
    let use_ema = match opts.weights {
        WeightsChoice::Ema => true,
        WeightsChoice::Model => false,
        WeightsChoice::Auto => probe.has_ema && task.uses_ema,
    };
    let ckpt = if use_ema {
        Checkpoint::open(path, WeightsChoice::Ema)?
    } else {
        probe
    };
    task.uses_ema = use_ema;
    let cfg = ModelConfig::from_args(&ckpt.model_args).map_err(ExportError::Checkpoint)?;
    // A checkpoint error met while building a graph already names the file.
    let graph_err = |source| match source {
        GraphError::Checkpoint(e) => ExportError::Checkpoint(e),
        source => ExportError::Graph {
            path: path.clone(),
            source: Box::new(source),
        },
    };
    graphs::check_supported(&cfg).map_err(graph_err)?;
    let modality = task.task.modality();
    let (perception, backbone_key, backbone_name) = match modality {
        Modality::Image => (
            io::graph::IMAGE_ENCODER,
            "encoder.embed_images.conv1.weight",
            cfg.image_encoder_name.clone(),
        ),
        Modality::Video => (
            io::graph::VIDEO_ENCODER,
            "encoder.embed_videos.conv1.weight",
            cfg.video_encoder_name.clone().unwrap_or_default(),
        ),
        Modality::Audio => (
            io::graph::AUDIO_ENCODER,
            "encoder.embed_audios.conv_block1.conv1.weight",
            cfg.audio_encoder_name.clone().unwrap_or_default(),
        ),
    };
    if !ckpt.weights.contains(backbone_key) {
        return Err(ExportError::Invalid {
            path: path.clone(),
            why: format!(
                "task {} needs the {modality:?} backbone (`{backbone_key}`), which this checkpoint does not have",
                task.task
            ),
        });
    }

    let out = &opts.out_dir;
    std::fs::create_dir_all(out).map_err(|source| ExportError::Io {
        path: out.clone(),
        source,
    })?;
    let float = match opts.precision {
        Precision::Fp16 => DType::F16,
        Precision::Fp32 | Precision::Int8 | Precision::Int4 => DType::F32,
    };
    let mut quant = QuantOptions::for_precision(opts.precision);
    if let Some(kernels) = opts.quantize_convs {
        let Some(q) = quant.as_mut() else {
            return Err(ExportError::Invalid {
                path: path.clone(),
                why: format!(
                    "quantised convolutions need an int8 or int4 export, not {:?}",
                    opts.precision
                ),
            });
        };
        q.convs = Some(ConvOptions {
            kernels,
            min_in_channels: CONV_MIN_IN_CHANNELS,
        });
    }
    let used = RefCell::new(BTreeSet::new());
    let root = Weights::new(&ckpt.weights, &used);
    type Build<'a> = Box<dyn Fn() -> Result<GraphBuilder, GraphError> + 'a>;
    let enc = root.pp("encoder");
    let perception_build: Build = match modality {
        Modality::Image => Box::new(|| graphs::image::build(&cfg, &enc, float)),
        Modality::Video => Box::new(|| graphs::video::build(&cfg, &enc, float)),
        Modality::Audio => Box::new(|| graphs::audio::build(&cfg, &enc, float)),
    };
    let builders: Vec<(&str, Build)> = vec![
        (perception, perception_build),
        (
            io::graph::ENCODER,
            Box::new(|| graphs::encoder::build(&cfg, &root, float)),
        ),
        (
            io::graph::DECODER,
            Box::new(|| graphs::decoder::build(&cfg, &root, float)),
        ),
    ];
    let total = builders.len();
    let mut graph_specs = BTreeMap::new();
    let mut files = BTreeMap::new();
    // The audio front end's STFT kernels go to the bundle as a file (used verbatim in Rust).
    let audio = if let Perception::Audio {
        sample_rate,
        max_audio_len,
    } = task.perception
    {
        let file = "stft_kernels.bin".to_string();
        let samples = (sample_rate, max_audio_len);
        let front = write_stft_kernels(&ckpt, &cfg, samples, &out.join(&file))?;
        used.borrow_mut()
            .insert(format!("{STFT_PREFIX}.conv_real.weight"));
        used.borrow_mut()
            .insert(format!("{STFT_PREFIX}.conv_imag.weight"));
        Some((front, file))
    } else {
        None
    };
    // Hashing is most of an export's CPU time (SHA-256 runs at ~110 MB/s on CPUs without SHA
    // extensions, and a base export hashes ~2.4 GB): the checkpoint is hashed beside graph
    // building and each written file on its own thread, while the next graph is built.
    let source_sha256 = std::thread::scope(|s| -> Result<String, ExportError> {
        let source_hash = s.spawn(|| ckpt.sha256().to_string());
        let mut hashing = Vec::new();
        for (index, (name, build)) in builders.into_iter().enumerate() {
            progress(ExportStep::Graph {
                name: name.to_string(),
                index,
                total,
            });
            let g = build().map_err(graph_err)?;
            let (inputs, outputs) = g.specs();
            let file = format!("{name}.onnx");
            let mut model = g.finish(env!("CARGO_PKG_VERSION"));
            if let Some(q) = &quant {
                quantize_model(&mut model, q).map_err(|source| ExportError::Quant {
                    path: out.join(format!("{name}.onnx")),
                    source,
                })?;
            }
            let w = write_model(model, &out.join(&file), opts.external_data)
                .map_err(|e| graph_err(GraphError::Write(e)))?;
            let external_data = w
                .external_data
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned());
            for f in std::iter::once(&file).chain(&external_data) {
                let full = out.join(f);
                hashing.push((f.clone(), s.spawn(move || file_entry(&full))));
            }
            graph_specs.insert(
                name.to_string(),
                GraphSpec {
                    file,
                    external_data,
                    inputs,
                    outputs,
                },
            );
        }
        if let Some((_, f)) = &audio {
            let full = out.join(f);
            hashing.push((f.clone(), s.spawn(move || file_entry(&full))));
        }
        check_all_keys_used(path, &ckpt, &used.borrow(), &[modality])?;

        progress(ExportStep::Hashing);
        let panicked = |what: &str| ExportError::Invalid {
            path: out.join(what),
            why: "the hashing thread panicked".into(),
        };
        for (f, handle) in hashing {
            let entry = handle.join().map_err(|_| panicked(&f))??;
            files.insert(f, entry);
        }
        source_hash.join().map_err(|_| ExportError::Invalid {
            path: path.clone(),
            why: "the hashing thread panicked".into(),
        })
    })?;
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
        return Err(ExportError::Invalid {
            path: path.clone(),
            why: format!(
                "embedding has {vocab_rows} rows but the dictionary layout gives {} (code_dict_size {num_codes}, num_bins {num_bins})",
                vocab.size
            ),
        });
    }
    let mut backbones = BTreeMap::new();
    backbones.insert(format!("{modality:?}").to_lowercase(), backbone_name);
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        exporter_version: env!("CARGO_PKG_VERSION").to_string(),
        name: out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        source: SourceInfo {
            checkpoint: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: source_sha256,
            weights: if use_ema { "ema" } else { "model" }.to_string(),
            saved_task,
        },
        precision: opts.precision,
        model: ModelInfo {
            embed_dim: cfg.embed_dim,
            heads: cfg.decoder_heads,
            head_dim: cfg.embed_dim / cfg.decoder_heads.max(1),
            encoder_layers: cfg.encoder_layers,
            decoder_layers: cfg.decoder_layers,
            ffn_dim: cfg.ffn_dim,
            max_source_positions: cfg.max_source_positions,
            max_target_positions: cfg.max_target_positions,
            token_bucket_size: cfg.token_bucket_size,
            image_bucket_size: cfg.image_bucket_size,
            modalities: vec![modality],
            backbones,
            audio: audio.map(|(front, _)| front),
        },
        vocab,
        task,
        graphs: graph_specs,
        files,
    };
    manifest.save(out)?;
    Ok(manifest)
}

/// Task settings: built-in defaults (spec §5), overridden by the checkpoint's own task config
/// when the bundle serves the task the checkpoint was saved for (the original's evaluation
/// path); a checkpoint used for another task gets the defaults (the `--zero-shot` path).
pub fn resolve_task(
    kind: TaskKind,
    saved_task: Option<&str>,
    task_cfg: &serde_json::Value,
) -> TaskConfig {
    let mut t = kind.defaults();
    let same_task = saved_task.and_then(TaskKind::from_fairseq_name) == Some(kind);
    if same_task {
        let get = |k: &str| task_i64(task_cfg, k).and_then(|v| usize::try_from(v).ok());
        if let Some(v) = get("max_src_length") {
            t.max_src_length = v;
        }
        let keep = |current: &mut usize, key: &str| *current = get(key).unwrap_or(*current);
        match &mut t.perception {
            Perception::Image { image_size } => keep(image_size, "patch_image_size"),
            Perception::Video {
                num_frames,
                frame_size,
            } => {
                keep(num_frames, "num_frames");
                keep(frame_size, "patch_frame_size");
            }
            Perception::Audio {
                sample_rate,
                max_audio_len,
            } => {
                keep(max_audio_len, "max_audio_len");
                keep(sample_rate, "sample_rate");
            }
        }
        if let Some(b) = task_cfg
            .get("imagenet_default_mean_and_std")
            .and_then(|v| v.as_bool())
        {
            t.imagenet_mean_std = b;
        }
    }
    t
}

fn task_i64(task_cfg: &serde_json::Value, key: &str) -> Option<i64> {
    let v = task_cfg.get(key)?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// Checkpoint prefix of the torchlibrosa STFT kernels.
const STFT_PREFIX: &str = "encoder.embed_audios.spectrogram_extractor.stft";

/// Writes the checkpoint's DFT·window kernels as raw little-endian f32 `[2, bins, n_fft]`
/// (real, then imaginary) for the Rust front end, which must use them verbatim (spec §0.1
/// item 4), and describes the front end.
fn write_stft_kernels(
    ckpt: &Checkpoint,
    cfg: &ModelConfig,
    (sample_rate, max_audio_len): (usize, usize),
    file: &Path,
) -> Result<AudioFrontEnd, ExportError> {
    let real = ckpt
        .weights
        .get(&format!("{STFT_PREFIX}.conv_real.weight"))?;
    let imag = ckpt
        .weights
        .get(&format!("{STFT_PREFIX}.conv_imag.weight"))?;
    let shape = real.shape().to_vec();
    let (bins, n_fft) = match shape.as_slice() {
        [b, 1, n] if imag.shape() == shape.as_slice() && *b == n / 2 + 1 => (*b, *n),
        _ => {
            return Err(ExportError::Invalid {
                path: ckpt.path.clone(),
                why: format!(
                    "STFT kernels have shapes {:?} and {:?}, expected [n_fft/2+1, 1, n_fft]",
                    shape,
                    imag.shape()
                ),
            })
        }
    };
    let mut bytes = Vec::with_capacity(2 * bins * n_fft * 4);
    for t in [real, imag] {
        for v in t.to_f32()? {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(file, bytes).map_err(|source| ExportError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let hop = cfg.hop_size;
    Ok(AudioFrontEnd {
        sample_rate,
        window_size: n_fft,
        hop_size: hop,
        mel_bins: cfg.mel_bins,
        // torchlibrosa's settings in the original's AUDIO_CFG (spec §2.4).
        fmin: 50.0,
        fmax: 14000.0,
        frames: 1 + max_audio_len / hop.max(1),
        stft_kernels: file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    })
}

fn check_all_keys_used(
    path: &Path,
    ckpt: &Checkpoint,
    used: &BTreeSet<String>,
    exported: &[Modality],
) -> Result<(), ExportError> {
    let unknown: Vec<&str> = ckpt
        .weights
        .keys()
        .filter(|k| !used.contains(*k) && !crate::keys::is_ignored_for(k, exported))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = unknown.iter().take(12).copied().collect();
    let more = unknown.len().saturating_sub(shown.len());
    let mut keys = shown.join(", ");
    if more > 0 {
        keys.push_str(&format!(" … and {more} more"));
    }
    Err(ExportError::UnknownKeys {
        path: path.to_path_buf(),
        keys,
    })
}
