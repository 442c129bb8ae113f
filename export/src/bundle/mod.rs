//! Writes a model bundle (`models/<name>/`): the ONNX graphs and `manifest.json` with the sha256
//! of every file (ARCHITECTURE.md §3).
//!
//! [`export`] is a pipeline: open the checkpoint once → resolve the [`ExportPlan`] → build each
//! graph → write and hash the files ([`write`]) → the manifest.

mod error;
mod plan;
mod stft;
mod write;

pub use error::ExportError;
pub use plan::{resolve_task, weights_choice, ExportOptions, ExportPlan};

use crate::checkpoint::{Checkpoint, WeightsSource};
use crate::graphs::weights::Weights;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use unival_manifest::task::Modality;
use unival_manifest::Perception;
use unival_manifest::{Manifest, ModelInfo, SourceInfo, FORMAT_VERSION};
use write::Written;

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
    let ckpt = Checkpoint::open_choosing(&opts.checkpoint, |c| weights_choice(opts, c))?;
    let plan = ExportPlan::resolve(opts, &ckpt)?;
    let out = &opts.out_dir;
    std::fs::create_dir_all(out).map_err(|source| ExportError::Io {
        path: out.clone(),
        source,
    })?;
    let used = RefCell::new(BTreeSet::new());
    let root = Weights::new(&ckpt.weights, &used);
    // The audio front end's STFT kernels go to the bundle as a file (used verbatim in Rust).
    let audio = match plan.task.perception {
        Perception::Audio {
            sample_rate,
            max_audio_len,
        } => Some(stft::write_stft_kernels(
            &root,
            &plan.cfg,
            (sample_rate, max_audio_len),
            &out.join(stft::STFT_FILE),
        )?),
        Perception::Image { .. } | Perception::Video { .. } => None,
    };
    let check_keys = || check_all_keys_used(&opts.checkpoint, &ckpt, &used.borrow(), plan.modality);
    let written = write::write_and_hash(opts, &plan, &ckpt, &root, &check_keys, progress)?;
    let manifest = manifest(opts, plan, &ckpt, written, audio);
    manifest.save(out)?;
    Ok(manifest)
}

/// The manifest of a written bundle.
fn manifest(
    opts: &ExportOptions,
    plan: ExportPlan,
    ckpt: &Checkpoint,
    written: Written,
    audio: Option<unival_manifest::AudioFrontEnd>,
) -> Manifest {
    let file_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let cfg = plan.cfg;
    let mut backbones = BTreeMap::new();
    backbones.insert(format!("{:?}", plan.modality).to_lowercase(), plan.backbone);
    let ema = ckpt.weights_source == WeightsSource::Ema;
    Manifest {
        format_version: FORMAT_VERSION,
        exporter_version: env!("CARGO_PKG_VERSION").to_string(),
        name: file_name(&opts.out_dir),
        source: SourceInfo {
            checkpoint: file_name(&opts.checkpoint),
            sha256: written.source_sha256,
            weights: if ema { "ema" } else { "model" }.to_string(),
            saved_task: plan.saved_task,
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
            modalities: vec![plan.modality],
            backbones,
            audio,
        },
        vocab: plan.vocab,
        task: plan.task,
        graphs: written.graphs,
        files: written.files,
    }
}

/// Refuses checkpoint keys no graph read and [`crate::keys`] does not know to ignore.
fn check_all_keys_used(
    path: &Path,
    ckpt: &Checkpoint,
    used: &BTreeSet<String>,
    exported: Modality,
) -> Result<(), ExportError> {
    let unknown: Vec<&str> = ckpt
        .weights
        .keys()
        .filter(|k| !used.contains(*k) && !crate::keys::is_ignored_for(k, &[exported]))
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
