//! Command-line definitions (clap). Validation that needs no I/O happens here; commands build
//! the heavy objects.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// UnIVAL on the edge: export checkpoints to ONNX bundles and run every task of the paper.
#[derive(Debug, Parser)]
#[command(name = "unival", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export a fairseq UnIVAL checkpoint (.pt or .safetensors) to an ONNX bundle, or write a
    /// synthetic checkpoint (`unival export synth`).
    Export(ExportCmd),
    /// Print what a bundle contains and verify every file's hash.
    Inspect(InspectArgs),
    /// Caption images.
    Caption(CaptionArgs),
    /// Answer a question about an image.
    Vqa(VqaArgs),
    /// Locate the region a text describes (visual grounding).
    Ground(GroundArgs),
    /// Does the image entail a hypothesis? (yes / no / maybe)
    Entail(EntailArgs),
    /// Caption video files (mp4, webm, avi, mov, … or a directory of frames).
    #[command(name = "video-caption")]
    VideoCaption(VideoCaptionArgs),
    /// Answer a question about a video.
    #[command(name = "video-qa")]
    VideoQa(VideoQaArgs),
    /// Caption sounds (WAV, FLAC, MP3, Ogg Vorbis).
    #[command(name = "audio-caption")]
    AudioCaption(AudioCaptionArgs),
    /// Parity report of two bundles of one model (e.g. fp32 vs int8) on captioning: teacher-
    /// forced logit error, KL, top-1 agreement, encoder output error, caption equality.
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference bundle (its captions drive teacher forcing).
    pub bundle_a: PathBuf,
    /// The bundle compared with it.
    pub bundle_b: PathBuf,
    /// Image files or directories of images.
    #[arg(long, required = true, num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where to run: cpu, cuda[:N], tensorrt[:N] or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Intra-op threads (default: ONNX Runtime's choice).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Beam width (default: the bundle's; 1 gives greedy decoding).
    #[arg(long)]
    pub beam: Option<usize>,
    #[arg(long)]
    pub min_len: Option<usize>,
    #[arg(long)]
    pub max_len_b: Option<usize>,
}

#[derive(Debug, Args)]
pub struct AudioCaptionArgs {
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Segment start in seconds.
    #[arg(long)]
    pub start: Option<f64>,
    /// Segment end in seconds.
    #[arg(long)]
    pub end: Option<f64>,
    /// Where to cut audio longer than the model's 10 s: `start` (default), `center`, or
    /// `rand` (seeded, like the original's random crop).
    #[arg(long, default_value = "start", value_parser = ["start", "center", "rand"])]
    pub crop: String,
    /// Seed of `--crop rand`.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Which frames of a video the model sees (spec §5.5).
#[derive(Debug, Args)]
pub struct VideoArgs {
    /// `middle` of each of the T segments (deterministic, default) or `rand` (seeded).
    #[arg(long, default_value = "middle", value_parser = ["middle", "rand"])]
    pub sample: String,
    /// Seed of `--sample rand`.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Exact frame indices, e.g. 1,10,12,20 (reproduces a recorded run).
    #[arg(long, value_delimiter = ',')]
    pub frame_indices: Option<Vec<usize>>,
    /// Segment start in seconds.
    #[arg(long)]
    pub start: Option<f64>,
    /// Segment end in seconds.
    #[arg(long)]
    pub end: Option<f64>,
    /// Frames per clip (default: the bundle's).
    #[arg(long)]
    pub num_frames: Option<usize>,
    /// Centre-crop side (default: the bundle's).
    #[arg(long)]
    pub frame_size: Option<usize>,
}

#[derive(Debug, Args)]
pub struct VideoCaptionArgs {
    #[arg(required = true)]
    pub videos: Vec<PathBuf>,
    #[command(flatten)]
    pub video: VideoArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct VideoQaArgs {
    #[arg(required = true)]
    pub videos: Vec<PathBuf>,
    /// The question.
    #[arg(short, long)]
    pub question: String,
    /// Answer list (text, one per line, or an `ans2label` pickle).
    #[arg(long)]
    pub answers: Option<PathBuf>,
    #[command(flatten)]
    pub video: VideoArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags every image task shares: model, device, output, generation overrides (named as
/// fairseq's) and task settings.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Bundle directory (default: models/<task>, e.g. models/caption).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where to run: cpu, cuda[:N], tensorrt[:N] or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Intra-op threads (default: ONNX Runtime's choice).
    #[arg(long)]
    pub threads: Option<usize>,
    /// One JSON object per input on stdout.
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub beam: Option<usize>,
    #[arg(long)]
    pub max_len_a: Option<f64>,
    #[arg(long)]
    pub max_len_b: Option<usize>,
    #[arg(long)]
    pub min_len: Option<usize>,
    #[arg(long)]
    pub no_repeat_ngram_size: Option<usize>,
    /// Rank by raw summed log-probs (fairseq --unnormalized).
    #[arg(long, conflicts_with = "normalized")]
    pub unnormalized: bool,
    /// Rank by length-normalised scores even if the task default is unnormalized.
    #[arg(long)]
    pub normalized: bool,
    #[arg(long)]
    pub lenpen: Option<f64>,
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Also print every beam (text mode).
    #[arg(long)]
    pub nbest: Option<usize>,
    /// Square side images are resized to (default: the bundle's).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Apply the EXIF orientation tag (the original ignores it).
    #[arg(long)]
    pub exif_rotate: bool,
}

#[derive(Debug, Args)]
pub struct CaptionArgs {
    /// Image files (JPEG, PNG, WebP, BMP, GIF).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct VqaArgs {
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// The question.
    #[arg(short, long)]
    pub question: String,
    /// Answer list constraining the output: one answer per line, or the original
    /// `ans2label` pickle. Without it the answer is open-ended.
    #[arg(long)]
    pub answers: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct GroundArgs {
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// The referring expression.
    #[arg(long)]
    pub text: String,
    /// Write a copy of the (single) image with the box drawn.
    #[arg(long)]
    pub draw: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct EntailArgs {
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// The hypothesis to test against the image.
    #[arg(long)]
    pub hypothesis: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ExportCmd {
    #[command(subcommand)]
    pub synth: Option<ExportSub>,
    #[command(flatten)]
    pub args: ExportArgs,
}

#[derive(Debug, Subcommand)]
pub enum ExportSub {
    /// Write a random-init checkpoint in the real fairseq format (tests, benchmarks).
    Synth(SynthArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PrecisionArg {
    Fp32,
    /// fp16 weights and activations, LayerNorm/softmax in fp32 (GPU bundles).
    Fp16,
    /// 8-bit weights (MatMulNBits, per-channel block scales), fp32 activations (CPU bundles).
    Int8,
    /// 4-bit weights (MatMulNBits), fp32 activations; embedding lookups read 8-bit codes.
    Int4,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The checkpoint: a fairseq `.pt` file, or `.safetensors` with a `.json` config beside it.
    #[arg(long, required = true)]
    pub checkpoint: Option<PathBuf>,
    /// Task the bundle serves (caption, vqa, refcoco, snli_ve, video_caption, video_qa,
    /// audio_caption); default: the checkpoint's own task.
    #[arg(long)]
    pub task: Option<String>,
    /// Bundle directory to write, e.g. models/caption.
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: PrecisionArg,
    /// Use the EMA weights (default: when present and the task is evaluated with them).
    #[arg(long, conflicts_with = "no_ema")]
    pub ema: bool,
    /// Use the raw model weights even when EMA weights are present.
    #[arg(long)]
    pub no_ema: bool,
    /// Square input image side (default: the task's, e.g. 480; 512 for refcoco).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Frames per video clip (video tasks).
    #[arg(long)]
    pub num_frames: Option<usize>,
    /// Frame crop side (video tasks).
    #[arg(long)]
    pub frame_size: Option<usize>,
    /// Store weights in `.onnx.data` files even when under the 2 GB protobuf limit.
    #[arg(long)]
    pub external_data: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PresetArg {
    Tiny,
    Base,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StoreDTypeArg {
    Fp32,
    Fp16,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Model size: `tiny` for tests, `base` for the full 250M model.
    #[arg(long, value_enum, default_value = "tiny")]
    pub preset: PresetArg,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output `.pt` file.
    #[arg(long)]
    pub out: PathBuf,
    /// Storage dtype of floating tensors.
    #[arg(long, value_enum, default_value = "fp32")]
    pub dtype: StoreDTypeArg,
    /// Also store `extra_state['ema']`.
    #[arg(long)]
    pub ema: bool,
    /// The task `_name` recorded in the checkpoint's cfg.
    #[arg(long, default_value = "caption")]
    pub task: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}
