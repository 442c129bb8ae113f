//! Command-line definitions (clap). Validation that needs no I/O happens here; commands build
//! the heavy objects.

mod export;
mod search;

pub use export::*;
pub use search::SearchFlags;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use unival_runtime::Device;

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
    /// Caption sounds (any format libsndfile reads: WAV, FLAC, MP3, Ogg Vorbis/Opus, AIFF, ...).
    #[command(name = "audio-caption")]
    AudioCaption(AudioCaptionArgs),
    /// Write the tensor the perception graph receives for each file (`<out>/<file name>.npy`,
    /// f32: `patch_images`, `patch_videos`, or the waveform `patch_audios`) and print one JSON
    /// line per file, to compare with the original.
    Preprocess(PreprocessArgs),
    /// List cameras and microphones for `--source camera:N` / `--source mic:NAME|INDEX`.
    Devices(crate::commands::devices::DevicesArgs),
    /// Run a task continuously on a camera, a microphone or a file played in real time, with
    /// an optional web page (`--serve`).
    Live(LiveCmd),
    /// Time captioning stage by stage against the machine's measured floor.
    Bench(BenchArgs),
    /// Parity report of two bundles of one model (e.g. fp32 vs int8) on captioning: teacher-
    /// forced logit error, KL, top-1 agreement, encoder output error, caption equality.
    Compare(CompareArgs),
    /// Metrics of predictions already made: captions (BLEU, METEOR, ROUGE-L, CIDEr-D as
    /// pycocoevalcap), VQAv2 accuracy, RefCOCO Acc@0.5, SNLI-VE and video-QA accuracy.
    Score(crate::commands::score::ScoreArgs),
    /// Interpolate checkpoints of one architecture: every entry becomes Σ λᵢ·θᵢ, bit for bit
    /// as UnIVAL's average_save_models.py computes it (the paper's model merging).
    Merge(crate::commands::merge::MergeArgs),
    /// Download a released checkpoint listed in models/catalogue.json (resumable, sha256
    /// verified or recorded) and export it with its task's defaults. Exit code 3: network
    /// unreachable or transfer broken off (run again to resume).
    Pull(crate::commands::pull::PullArgs),
    /// Run a model over a dataset in its standard format and score it; `unival eval merge`
    /// joins shard outputs.
    Eval(crate::commands::eval::EvalCmd),
    /// Write a Triton Inference Server model repository serving bundles (backend `unival`).
    #[command(name = "triton-repo")]
    TritonRepo(crate::commands::triton_repo::TritonRepoArgs),
    /// Run files through a Triton server serving the `unival` backend (KServe v2, binary
    /// tensors), N requests in flight, one result line per file.
    Remote(crate::commands::remote::RemoteArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Bundle directory to measure.
    #[arg(long, conflicts_with = "preset")]
    pub model: Option<PathBuf>,
    /// Synthesise and export a random-weight model of this size into `--cache`, reused when
    /// present (default when no --model: base).
    #[arg(long, value_enum)]
    pub preset: Option<PresetArg>,
    /// Where `--preset` bundles are kept (`<cache>/bench-<preset>`).
    #[arg(long, default_value = "models")]
    pub cache: PathBuf,
    /// Input image (default: a built-in 640×480 test pattern, so the command runs anywhere).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Timed iterations.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: u64,
    /// Untimed iterations first.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// Decoder steps of every search (min length = max length, so each run does the same work).
    #[arg(long, default_value_t = 23, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: u64,
    /// Beam width of every search.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub beam: u64,
    /// Throughput instead of stages: caption N copies of the image per pass through the
    /// batched runtime and report items per second.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub batch: Option<u64>,
    #[command(flatten)]
    pub run_on: DeviceArgs,
    /// Print the JSON report on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Profile every graph with ONNX Runtime's profiler: its JSON traces go to this directory
    /// and the report gains the time per operator type and the slowest nodes of each graph
    /// (stage times then include the profiler's own cost).
    #[arg(long)]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub session: SessionFlags,
}

/// Where a command runs the model: the flags every model-running command shares.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// Where to run: cpu, cuda[:N], tensorrt[:N] (or trt[:N]), or auto (TensorRT, then CUDA,
    /// then CPU: the first that works).
    #[arg(long, default_value = "cpu", value_parser = parse_device, value_name = "DEVICE")]
    pub device: Device,
    /// Intra-op threads (default: ONNX Runtime's choice, one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl DeviceArgs {
    /// Session options for these flags, everything else at its default.
    pub fn session_options(&self) -> anyhow::Result<unival_runtime::SessionOptions> {
        Ok(unival_runtime::SessionOptions {
            device: self.device,
            intra_threads: self.threads,
            ..unival_runtime::SessionOptions::default()
        })
    }
}

/// ONNX Runtime session settings for measuring their effect (defaults: ONNX Runtime's).
#[derive(Debug, Args)]
pub struct SessionFlags {
    /// Graph optimisation level: disable, basic, extended or all.
    #[arg(long, default_value = "all")]
    pub opt_level: String,
    /// Keep one copy of each weight instead of ONNX Runtime's pre-packed kernels' copies.
    #[arg(long)]
    pub no_prepack: bool,
    /// Turn the CPU arena allocator off.
    #[arg(long)]
    pub no_arena: bool,
    /// Turn memory-pattern planning off.
    #[arg(long)]
    pub no_mem_pattern: bool,
    /// Intra-op threads sleep instead of spinning between operators.
    #[arg(long)]
    pub no_spin: bool,
    /// Cache ONNX Runtime's optimised graphs here and load them on later starts (CPU).
    #[arg(long)]
    pub opt_cache: Option<PathBuf>,
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
    #[command(flatten)]
    pub run_on: DeviceArgs,
    /// Generation settings of both bundles' searches (the best caption of each is kept).
    #[command(flatten)]
    pub search: SearchFlags,
}

#[derive(Debug, Args)]
pub struct AudioCaptionArgs {
    /// Sound files (WAV, FLAC, MP3, Ogg Vorbis).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Segment start in seconds.
    #[arg(long)]
    pub start: Option<f64>,
    /// Segment end in seconds.
    #[arg(long)]
    pub end: Option<f64>,
    #[command(flatten)]
    pub crop: AudioCropArgs,
    /// Seed of `--crop rand`.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// How audio longer than the model's window is cut.
#[derive(Debug, Args)]
pub struct AudioCropArgs {
    /// Where to cut audio longer than the model's 10 s.
    #[arg(long, value_enum, default_value_t = CropArg::Start)]
    pub crop: CropArg,
}

/// `unival preprocess`: the bundle's task decides the modality; its media flags apply.
#[derive(Debug, Args)]
pub struct PreprocessArgs {
    /// Images, videos (or frame directories) or sounds, as the bundle's task takes.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Bundle directory whose task and settings apply (only its manifest is read).
    #[arg(long)]
    pub model: PathBuf,
    /// Directory the `.npy` files are written to (created when missing).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub image: ImageArgs,
    /// Video flags; `--start/--end` also select the audio segment, `--seed` also seeds
    /// `--crop rand`.
    #[command(flatten)]
    pub video: VideoArgs,
    #[command(flatten)]
    pub audio: AudioCropArgs,
}

/// `--crop`: which part of a long sound the model hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CropArg {
    /// The first 10 s.
    Start,
    /// The middle 10 s.
    Center,
    /// A seeded random 10 s (`--seed`), like the original's random crop.
    Rand,
}

/// `--sample`: which frame of each of the clip's T segments the model sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SampleArg {
    /// The middle frame (deterministic).
    Middle,
    /// A seeded random frame (`--seed`), like the original's `sample_type=rand`.
    Rand,
}

/// Which frames of a video the model sees (docs/model.md §5.5).
#[derive(Debug, Args)]
pub struct VideoArgs {
    /// Frame of each of the T segments (ignored with --frame-indices).
    #[arg(long, value_enum, default_value_t = SampleArg::Middle)]
    pub sample: SampleArg,
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
    /// Video files (mp4, webm, avi, mov, …) or directories of frames.
    #[arg(required = true)]
    pub videos: Vec<PathBuf>,
    #[command(flatten)]
    pub video: VideoArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct VideoQaArgs {
    /// Video files (mp4, webm, avi, mov, …) or directories of frames.
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
    #[command(flatten)]
    pub run_on: DeviceArgs,
    /// One JSON object per input on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub search: SearchFlags,
    /// Report the N best hypotheses (at most --beam; default: all of them in --json's
    /// `beams`). In text mode one line each, FILE, rank, score and text tab-separated, best
    /// first (grounding and entailment keep their one line).
    #[arg(long, value_name = "N")]
    pub nbest: Option<usize>,
    /// Run the inputs N at a time, each group in one pass through the model (results and
    /// their order unchanged).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub batch: u64,
    #[command(flatten)]
    pub image: ImageArgs,
}

/// How an image becomes the model's square.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Square side images are resized to (default: the bundle's).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Apply the EXIF orientation tag (the original ignores it).
    #[arg(long)]
    pub exif_rotate: bool,
    /// Largest image accepted, in pixels; larger ones are refused before decoding (default
    /// 2 × 89,478,485, Pillow's decompression-bomb limit; the original has none).
    #[arg(long)]
    pub max_image_pixels: Option<u64>,
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
    /// Image files (JPEG, PNG, WebP, BMP, GIF).
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
    /// Image files (JPEG, PNG, WebP, BMP, GIF).
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
    /// Image files (JPEG, PNG, WebP, BMP, GIF).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// The hypothesis to test against the image.
    #[arg(long)]
    pub hypothesis: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct LiveCmd {
    #[command(subcommand)]
    pub task: LiveTask,
}

#[derive(Debug, Subcommand)]
pub enum LiveTask {
    /// Caption the newest frame, continuously.
    Caption(LiveFrameArgs),
    /// Answer questions (typed on stdin, or sent from the web page) about the newest frame.
    Vqa(LiveVqaArgs),
    /// Caption a rolling window of recent frames as a clip.
    #[command(name = "video-caption")]
    VideoCaption(LiveVideoArgs),
    /// Caption a rolling window of sound every --hop seconds; silent windows are skipped.
    #[command(name = "audio-caption")]
    AudioCaption(LiveAudioArgs),
}

/// Flags every live loop shares.
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// camera:N, video:FILE or images:DIR for frames (default camera:0); mic, mic:NAME,
    /// mic:INDEX or file:FILE for sound (default mic).
    #[arg(long)]
    pub source: Option<String>,
    /// Start a file or folder source over at its end.
    #[arg(long = "loop")]
    pub looped: bool,
    /// Stop after this many seconds.
    #[arg(long, value_parser = positive_number)]
    pub duration: Option<f64>,
    /// Stop after this many captions or answers.
    #[arg(long)]
    pub max_results: Option<u64>,
    /// Serve a live web page at ADDR (`8080` binds 127.0.0.1:8080; other interfaces must be
    /// named, e.g. 0.0.0.0:8080).
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of frame sources.
#[derive(Debug, Args)]
pub struct FrameSourceArgs {
    /// Camera resolution WxH (the nearest the camera offers).
    #[arg(long, value_parser = parse_resolution, value_name = "WxH")]
    pub resolution: Option<(u32, u32)>,
    /// Camera frame rate, or the pace of an image folder.
    #[arg(long, value_parser = positive_number)]
    pub fps: Option<f64>,
}

#[derive(Debug, Args)]
pub struct LiveFrameArgs {
    #[command(flatten)]
    pub frames: FrameSourceArgs,
    #[command(flatten)]
    pub live: LiveArgs,
}

#[derive(Debug, Args)]
pub struct LiveVqaArgs {
    /// The first question (more can be typed on stdin, one per line).
    #[arg(short, long)]
    pub question: Option<String>,
    /// Re-ask the active question on every new frame (default: once per question).
    #[arg(long)]
    pub every: bool,
    /// Answer list constraining the output (one per line, or an `ans2label` pickle).
    #[arg(long)]
    pub answers: Option<PathBuf>,
    #[command(flatten)]
    pub frames: FrameSourceArgs,
    #[command(flatten)]
    pub live: LiveArgs,
}

#[derive(Debug, Args)]
pub struct LiveVideoArgs {
    /// Seconds of recent frames the clip is sampled from (default: twice the model's clip
    /// length in frames, at the source's rate).
    #[arg(long, value_parser = positive_number)]
    pub window: Option<f64>,
    #[command(flatten)]
    pub frames: FrameSourceArgs,
    #[command(flatten)]
    pub live: LiveArgs,
}

#[derive(Debug, Args)]
pub struct LiveAudioArgs {
    /// Seconds of new sound between two captions.
    #[arg(long, default_value_t = 2.0, value_parser = positive_number)]
    pub hop: f64,
    /// Windows whose RMS level is below this many dBFS are reported as silence.
    #[arg(long, default_value_t = -50.0, allow_negative_numbers = true)]
    pub silence_db: f64,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `--device`: parsed by the runtime's own [`Device`] parser (`cpu`, `cuda[:N]`,
/// `tensorrt[:N]`, `auto`).
fn parse_device(s: &str) -> Result<Device, String> {
    s.parse()
        .map_err(|e: unival_runtime::RuntimeError| e.to_string())
}

/// A positive, finite number (seconds, frames per second).
fn positive_number(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

/// `WxH`, e.g. `1280x720`.
fn parse_resolution(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not WIDTHxHEIGHT, e.g. 1280x720");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    match (w.trim().parse::<u32>(), h.trim().parse::<u32>()) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests;
