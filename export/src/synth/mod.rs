//! Synthetic UnIVAL checkpoints in the real `torch.save` format, at any size, for tests and
//! benchmarks (ARCHITECTURE.md §1, `synth`).
//!
//! [`write()`] enumerates the key set from a configuration ([`arch::enumerate`], docs/model.md
//! §3.1), pickles the fairseq top-level dict (`args`, `cfg` with an `argparse.Namespace` model
//! section, `model` OrderedDict, `criterion`, `optimizer_history`, `task_state`, `extra_state` with
//! optional `ema`) and streams random-initialised storages one record at a time, so even the
//! 1 GB base preset never sits in memory.

pub mod arch;
pub mod buckets;
mod fill;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::checkpoint::writer::{PyObj, TensorMeta, TorchZipWriter};
use crate::checkpoint::{CheckpointError, StorageType};
use crate::config::ModelConfig;
use arch::{ArchSpec, ImageCnnKind, ResNeXt3dSpec, ResNetSpec};

/// Model size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Embed 32, 2+2 layers, 4 heads, FFN 64, full vocabulary, one CNN block per stage with
    /// reduced widths, image bucket 16, 256 positions: a few MB, for fast tests.
    Tiny,
    /// The released 250M image+video model (docs/model.md §1.1): 6+6 layers, 768, 12 heads, FFN
    /// 3072, timm ResNet-101, ResNeXt3D-101, image bucket 42. About 1 GB in fp32.
    Base,
}

/// Floating-point storage type of the written file (docs/model.md §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreDType {
    /// fp32 (saved without `--save-on-cuda`).
    F32,
    /// fp16 (`--fp16 --save-on-cuda`).
    F16,
}

/// How the three tied embeddings are stored (docs/model.md §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TiedLayout {
    /// One storage record referenced three times (fp16 saves).
    SharedStorage,
    /// Three identical records (fp32 saves, untied by `move_to_cpu`).
    Copies,
}

/// What to write.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthOptions {
    /// Model size.
    pub preset: Preset,
    /// Seed of every random value.
    pub seed: u64,
    /// Float storage type.
    pub dtype: StoreDType,
    /// Tied-embedding layout.
    pub tied: TiedLayout,
    /// Also store `extra_state['ema']` (perturbed copies of the parameters).
    pub with_ema: bool,
    /// `cfg['task']['_name']` (`caption`, `vqa_gen`, `refcoco`, ...).
    pub task: String,
    /// `timm_resnet` (4 stages) or `resnet` (3 stages).
    pub image_encoder: String,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            preset: Preset::Tiny,
            seed: 0,
            dtype: StoreDType::F32,
            tied: TiedLayout::Copies,
            with_ema: false,
            task: "caption".into(),
            image_encoder: "timm_resnet".into(),
        }
    }
}

/// What was written.
#[derive(Clone, Debug)]
pub struct SynthReport {
    /// Output file.
    pub path: PathBuf,
    /// File size in bytes.
    pub bytes: u64,
    /// Entries of the `model` state dict.
    pub tensors: usize,
    /// Storage records written (model + EMA).
    pub storages: usize,
    /// Elements of the unique learnable parameters (tied embedding counted once).
    pub parameters: u64,
    /// Wall time of the write.
    pub seconds: f64,
    /// The configuration, as the reader will parse it.
    pub config: ModelConfig,
}

/// The three names of the tied embedding; the first is the canonical one.
pub const TIED: [&str; 3] = [
    "encoder.embed_tokens.weight",
    "decoder.embed_tokens.weight",
    "decoder.output_projection.weight",
];

/// Vocabulary size of every UnIVAL model (docs/model.md §4.2).
pub const VOCAB: usize = 59457;

/// `cfg['model']` attributes of a preset, as a real fairseq namespace has them (flags that were
/// not passed on the command line are absent, docs/model.md §1.2).
pub fn model_namespace(opts: &SynthOptions) -> Vec<(String, PyObj)> {
    use PyObj::{Bool, Int, None as PNone};
    let base = opts.preset == Preset::Base;
    let (d, f, l, h) = if base {
        (768, 3072, 6, 12)
    } else {
        (32, 64, 2, 4)
    };
    let (bucket, positions) = if base { (42, 1024) } else { (16, 256) };
    let entries: Vec<(&str, PyObj)> = vec![
        ("_name", PyObj::str("unival_base")),
        ("arch", PyObj::str("unival_base")),
        ("encoder_embed_dim", Int(d)),
        ("decoder_embed_dim", Int(d)),
        ("encoder_ffn_embed_dim", Int(f)),
        ("decoder_ffn_embed_dim", Int(f)),
        ("encoder_layers", Int(l)),
        ("decoder_layers", Int(l)),
        ("encoder_attention_heads", Int(h)),
        ("decoder_attention_heads", Int(h)),
        ("encoder_normalize_before", Bool(true)),
        ("decoder_normalize_before", Bool(true)),
        ("share_decoder_input_output_embed", Bool(true)),
        ("share_all_embeddings", Bool(true)),
        ("layernorm_embedding", Bool(true)),
        ("patch_layernorm_embedding", Bool(true)),
        ("code_layernorm_embedding", Bool(true)),
        ("add_type_embedding", Bool(true)),
        ("scale_attn", Bool(true)),
        ("scale_fc", Bool(true)),
        ("scale_heads", Bool(true)),
        ("disable_entangle", Bool(true)),
        ("no_scale_embedding", Bool(true)),
        ("entangle_position_embedding", Bool(false)),
        ("scale_resids", Bool(false)),
        ("attn_scale_factor", Int(2)),
        ("token_bucket_size", Int(256)),
        ("image_bucket_size", Int(bucket)),
        ("code_image_size", Int(128)),
        ("max_source_positions", Int(positions)),
        ("max_target_positions", Int(positions)),
        ("image_encoder_name", PyObj::str(opts.image_encoder.clone())),
        ("resnet_type", PyObj::str("resnet101")),
        ("video_encoder_name", PyObj::str("all_resnext101")),
        ("audio_encoder_name", PNone),
        ("mel_bins", Int(64)),
        ("hop_size", Int(480)),
        ("sample_patch_num", Int(784)),
        ("sample_video_patch_num", PNone),
        ("sync_bn", Bool(false)),
        ("activation_fn", PyObj::str("gelu")),
        ("orig_patch_image_size", Int(256)),
        ("dropout", PyObj::Float(0.1)),
        ("vocab_size", Int(VOCAB as i64)),
    ];
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// JSON form of scalar `PyObj`s (for parsing our own namespace with [`ModelConfig`]).
fn scalar_json(v: &PyObj) -> serde_json::Value {
    match v {
        PyObj::Bool(b) => (*b).into(),
        PyObj::Int(i) => (*i).into(),
        PyObj::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        PyObj::Str(s) => s.clone().into(),
        _ => serde_json::Value::Null,
    }
}

/// The architecture a preset describes (transformer from the namespace, CNN widths explicit).
pub fn arch_spec(opts: &SynthOptions) -> Result<ArchSpec, CheckpointError> {
    let ns: serde_json::Map<String, serde_json::Value> = model_namespace(opts)
        .iter()
        .map(|(k, v)| (k.clone(), scalar_json(v)))
        .collect();
    let model = ModelConfig::from_args(&ns)?;
    let kind = match opts.image_encoder.as_str() {
        "timm_resnet" => ImageCnnKind::Timm,
        "resnet" => ImageCnnKind::ThreeStage,
        other => {
            return Err(CheckpointError::BadConfig {
                file: PathBuf::from("<synth options>"),
                field: "image_encoder".into(),
                expected: "\"timm_resnet\" or \"resnet\"".into(),
                found: format!("{other:?}"),
            })
        }
    };
    let stages = if kind == ImageCnnKind::Timm { 4 } else { 3 };
    let (image, video) = match opts.preset {
        Preset::Base => (
            ResNetSpec {
                kind,
                stem: 64,
                planes: vec![64, 128, 256, 512][..stages].to_vec(),
                blocks: vec![3, 4, 23, 3][..stages].to_vec(),
                expansion: 4,
                fc_classes: 1000,
            },
            ResNeXt3dSpec {
                stem: 64,
                planes: vec![128, 256, 512, 1024],
                blocks: vec![3, 4, 23, 3],
                cardinality: 32,
                expansion: 2,
            },
        ),
        Preset::Tiny => (
            ResNetSpec {
                kind,
                stem: 16,
                planes: vec![8, 16, 32, 64][..stages].to_vec(),
                blocks: vec![1; stages],
                expansion: 4,
                fc_classes: 10,
            },
            ResNeXt3dSpec {
                stem: 16,
                planes: vec![32, 32, 64, 64],
                blocks: vec![1; 4],
                cardinality: 32,
                expansion: 2,
            },
        ),
    };
    Ok(ArchSpec {
        model,
        vocab: VOCAB,
        image,
        video: Some(video),
    })
}

fn task_cfg(opts: &SynthOptions) -> PyObj {
    let base = opts.preset == Preset::Base;
    PyObj::dict([
        ("_name", PyObj::str(opts.task.clone())),
        ("data", PyObj::str("synthetic")),
        ("patch_image_size", PyObj::Int(if base { 480 } else { 256 })),
        ("patch_frame_size", PyObj::Int(if base { 384 } else { 128 })),
        ("num_frames", PyObj::Int(4)),
        ("max_src_length", PyObj::Int(80)),
        ("max_tgt_length", PyObj::Int(20)),
        ("num_bins", PyObj::Int(1000)),
        ("max_image_size", PyObj::Int(512)),
        ("code_dict_size", PyObj::Int(8192)),
        ("prompt_type", PyObj::str("prev_output")),
        ("imagenet_default_mean_and_std", PyObj::Bool(false)),
        ("constraint_range", PyObj::None),
        ("sample_type", PyObj::str("rand")),
    ])
}

fn generation_cfg() -> PyObj {
    PyObj::dict([
        ("_name", PyObj::None),
        ("beam", PyObj::Int(5)),
        ("max_len_a", PyObj::Float(0.0)),
        ("max_len_b", PyObj::Int(200)),
        ("min_len", PyObj::Int(1)),
        ("unnormalized", PyObj::Bool(false)),
        ("lenpen", PyObj::Float(1.0)),
        ("no_repeat_ngram_size", PyObj::Int(0)),
        ("temperature", PyObj::Float(1.0)),
    ])
}

/// One storage record to stream: which entry, seeded under which name, EMA or not.
struct Job {
    key: String,
    spec: usize,
    rng_name: String,
    ema: bool,
    dtype: StorageType,
}

/// Writes a synthetic checkpoint to `out` and reports what it wrote.
pub fn write(opts: &SynthOptions, out: &Path) -> Result<SynthReport, CheckpointError> {
    let start = Instant::now();
    let arch = arch_spec(opts)?;
    let specs = arch::enumerate(&arch);
    let float = match opts.dtype {
        StoreDType::F32 => StorageType::F32,
        StoreDType::F16 => StorageType::F16,
    };
    let mut jobs: Vec<Job> = Vec::new();
    let mut tied_keys: HashMap<bool, String> = HashMap::new();
    let mut model_keys: Vec<String> = Vec::with_capacity(specs.len());
    let mut state_dict = |ema: bool, jobs: &mut Vec<Job>, model_keys: &mut Vec<String>| {
        let mut entries = Vec::with_capacity(specs.len());
        for (i, s) in specs.iter().enumerate() {
            let dtype = if s.init.is_integer() {
                StorageType::I64
            } else {
                float
            };
            let tied = TIED.contains(&s.name.as_str());
            let rng_name = if tied { TIED[0] } else { s.name.as_str() };
            let key = if ema && !s.init.is_parameter() {
                model_keys[i].clone() // buffers are shared with the model's records
            } else if tied && opts.tied == TiedLayout::SharedStorage && tied_keys.contains_key(&ema)
            {
                tied_keys[&ema].clone()
            } else {
                let key = jobs.len().to_string();
                jobs.push(Job {
                    key: key.clone(),
                    spec: i,
                    rng_name: rng_name.to_string(),
                    ema,
                    dtype,
                });
                if tied {
                    tied_keys.entry(ema).or_insert_with(|| key.clone());
                }
                key
            };
            if !ema {
                model_keys.push(key.clone());
            }
            entries.push((
                s.name.clone(),
                PyObj::Tensor(TensorMeta::contiguous(key, dtype, &s.shape)),
            ));
        }
        PyObj::OrderedDict(entries)
    };
    let model = state_dict(false, &mut jobs, &mut model_keys);
    let ema = opts
        .with_ema
        .then(|| state_dict(true, &mut jobs, &mut model_keys));

    let mut extra = vec![
        ("metrics", PyObj::dict(Vec::<(String, PyObj)>::new())),
        ("previous_training_time", PyObj::Float(0.0)),
        (
            "train_iterator",
            PyObj::dict([
                ("epoch", PyObj::Int(1)),
                ("iterations_in_epoch", PyObj::Int(0)),
            ]),
        ),
        ("val_loss", PyObj::None),
    ];
    if let Some(e) = ema {
        extra.insert(2, ("ema", e));
    }
    let top = PyObj::dict([
        ("args", PyObj::None),
        (
            "cfg",
            PyObj::dict([
                ("_name", PyObj::None),
                (
                    "common",
                    PyObj::dict([
                        ("seed", PyObj::Int(opts.seed as i64)),
                        ("fp16", PyObj::Bool(true)),
                    ]),
                ),
                ("model", PyObj::Namespace(model_namespace(opts))),
                ("task", task_cfg(opts)),
                ("generation", generation_cfg()),
                (
                    "criterion",
                    PyObj::dict([("_name", PyObj::str("adjust_label_smoothed_cross_entropy"))]),
                ),
            ]),
        ),
        ("model", model),
        ("criterion", PyObj::None),
        (
            "optimizer_history",
            PyObj::List(vec![PyObj::dict([
                (
                    "criterion_name",
                    PyObj::str("AdjustLabelSmoothedCrossEntropyCriterion"),
                ),
                ("optimizer_name", PyObj::str("FP16Optimizer")),
                ("lr_scheduler_state", PyObj::dict([("best", PyObj::None)])),
                ("num_updates", PyObj::Int(0)),
            ])]),
        ),
        ("task_state", PyObj::dict(Vec::<(String, PyObj)>::new())),
        ("extra_state", PyObj::dict(extra)),
    ]);

    let mut w = TorchZipWriter::create(out, "archive")?;
    w.write_pickle(&top)?;
    for job in &jobs {
        let spec = &specs[job.spec];
        w.write_storage(&job.key, |sink| {
            fill::write_values(spec, &job.rng_name, opts.seed, job.ema, job.dtype, sink)
        })?;
    }
    w.finish(&format!("{:040}", opts.seed))?;
    let bytes = std::fs::metadata(out)
        .map_err(|e| CheckpointError::io(out, e))?
        .len();
    let parameters = specs
        .iter()
        .filter(|s| s.init.is_parameter() && !TIED[1..].contains(&s.name.as_str()))
        .map(|s| s.shape.iter().product::<usize>() as u64)
        .sum();
    Ok(SynthReport {
        path: out.to_path_buf(),
        bytes,
        tensors: specs.len(),
        storages: jobs.len(),
        parameters,
        seconds: start.elapsed().as_secs_f64(),
        config: arch.model,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "tests.rs"]
mod tests;
