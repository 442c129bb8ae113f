//! `unival eval` command-line arguments: one subcommand per task, the runner's shared flags
//! (output, resume, limit, shard) and the task commands' own generation and media flags.

use crate::cli::{AudioCropArgs, DeviceArgs, ImageArgs, SearchFlags, VideoArgs};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `unival eval`: run a model over a dataset and score it.
#[derive(Debug, Args)]
pub struct EvalCmd {
    #[command(subcommand)]
    pub task: EvalTask,
}

/// The datasets `unival eval` reads, by task.
#[derive(Debug, Subcommand)]
pub enum EvalTask {
    /// Image captioning: COCO caption annotations JSON, the Karpathy split JSON, the original's
    /// TSV, or a `file<TAB>caption` TSV with a header (the demo's captions.tsv).
    Caption(DatasetArgs),
    /// VQAv2 questions JSON (+ --annotations) or the original's TSV.
    Vqa(DatasetArgs),
    /// RefCOCO / RefCOCO+ / RefCOCOg: the original's TSV, or the REFER toolkit's refs pickle
    /// with --annotations instances.json and --split (Acc@0.5).
    Refcoco(DatasetArgs),
    /// SNLI-VE: the original's TSV or the SNLI-VE JSONL (accuracy).
    #[command(name = "snli-ve")]
    SnliVe(DatasetArgs),
    /// Video captioning: the MSRVTT JSON (`videos` + `sentences`) or the original's TSV.
    #[command(name = "video-caption")]
    VideoCaption(DatasetArgs),
    /// Video QA: MSRVTT-QA / MSVD-QA JSON or the original's TSV.
    #[command(name = "video-qa")]
    VideoQa(DatasetArgs),
    /// Audio captioning: AudioCaps or Clotho CSV, or the original's TSV.
    #[command(name = "audio-caption")]
    AudioCaption(DatasetArgs),
    /// Perception Test multiple-choice video QA: every option scored by the model's
    /// log-likelihood; accuracy per area, reasoning type and tag, and the challenge file.
    #[command(name = "perception-test")]
    PerceptionTest(crate::commands::eval::perception::PerceptionArgs),
    /// Merge the `--out` files of shards (or of any runs of one dataset) into one and score it.
    Merge(MergeArgs),
}

/// Where results go and which items run: the flags every evaluation shares.
#[derive(Debug, Args)]
pub struct RunFlags {
    /// One JSON line per item is appended here as it finishes.
    #[arg(long)]
    pub out: PathBuf,
    /// Skip the items already in --out (after a crash; a half-written last line is dropped).
    #[arg(long)]
    pub resume: bool,
    /// Only the first N items of the dataset (before sharding).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Run only shard I of N (0-based: `0/4` … `3/4`); items are dealt round-robin.
    #[arg(long, value_name = "I/N", value_parser = crate::commands::eval::shard::Shard::parse)]
    pub shard: Option<crate::commands::eval::shard::Shard>,
    /// Print the metrics as one JSON object on the last line of stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `unival eval TASK`: a dataset, its media and the task's flags.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// Bundle directory (default: models/<task>).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The dataset file (format detected from its extension and contents).
    #[arg(long)]
    pub data: PathBuf,
    /// VQAv2: the annotations JSON that goes with the questions in --data; RefCOCO refs
    /// pickle: the instances.json holding the boxes.
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// Directory of the images the dataset names (default: beside --data).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Directory of the videos the dataset names (default: beside --data).
    #[arg(long)]
    pub videos: Option<PathBuf>,
    /// Directory of the sounds the dataset names (default: beside --data).
    #[arg(long)]
    pub audio: Option<PathBuf>,
    /// Which split to evaluate (Karpathy split JSON, MSRVTT JSON, RefCOCO refs pickle).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// VQA / video QA: answer list constraining the output (one per line, or ans2label pickle).
    #[arg(long)]
    pub answers: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunFlags,
    #[command(flatten)]
    pub run_on: DeviceArgs,
    #[command(flatten)]
    pub search: SearchFlags,
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub video: VideoArgs,
    #[command(flatten)]
    pub crop: AudioCropArgs,
}

/// `unival eval merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The `--out` files to merge (any order; an item in several must agree).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The merged file, in dataset order.
    #[arg(long)]
    pub out: PathBuf,
    /// Perception Test: also write the challenge submission file.
    #[arg(long)]
    pub submission: Option<PathBuf>,
    /// Print the metrics as one JSON object on the last line of stdout.
    #[arg(long)]
    pub json: bool,
}
