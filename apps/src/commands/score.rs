//! `unival score TASK --predictions P --references R`: metrics of predictions already made,
//! computed by `unival-metrics` (pycocoevalcap-identical caption metrics, the official VQAv2
//! accuracy, RefCOCO Acc@0.5, label/answer accuracy). `--json` prints one JSON object.
//!
//! Scales: caption metrics as pycocoevalcap reports them (fractions; the paper's tables
//! multiply by 100), accuracies in percent.

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use unival_metrics::caption::meteor::METEOR_JAR_ENV;
use unival_metrics::formats;
use unival_metrics::{
    accuracy, grounding_accuracy, score_captions, vqa_accuracy, CaptionItem, CaptionOptions,
    MeteorMode,
};

/// The task whose metrics to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScoreTask {
    Caption,
    VideoCaption,
    AudioCaption,
    Vqa,
    VideoQa,
    #[value(alias = "ground", alias = "refcocoplus", alias = "refcocog")]
    Refcoco,
    #[value(alias = "entail")]
    SnliVe,
}

/// Options of `unival score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The task: caption, video-caption, audio-caption (BLEU, METEOR, ROUGE-L, CIDEr-D), vqa
    /// (VQAv2 accuracy), video-qa and snli-ve (exact-match accuracy), refcoco (Acc@0.5).
    #[arg(value_enum)]
    pub task: ScoreTask,
    /// Predictions: a JSON list (COCO results `[{"image_id","caption"}]`, VQA results
    /// `[{"question_id","answer"}]`, `[{"uniq_id","box"}]`), JSON lines (e.g. `unival … --json`
    /// output keyed by `file`), or for captions a CSV `candidate,reference_1,…`.
    #[arg(long)]
    pub predictions: PathBuf,
    /// References: COCO caption annotations `{"annotations":[{"image_id","caption"}]}`, VQAv2
    /// annotations, or records like the predictions' (not needed with a caption CSV).
    #[arg(long)]
    pub references: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Do not compute METEOR (it runs pycocoevalcap's jar under Java).
    #[arg(long, conflicts_with = "require_meteor")]
    pub no_meteor: bool,
    /// Fail when METEOR cannot be computed (default: skip it with a note).
    #[arg(long)]
    pub require_meteor: bool,
    /// pycocoevalcap's `meteor-1.5.jar` (default: `$UNIVAL_METEOR_JAR`, else
    /// `.cache/pycocoevalcap/meteor/meteor-1.5.jar` under `$UNIVAL_HOME` or the current directory).
    #[arg(long)]
    pub meteor_jar: Option<PathBuf>,
    /// IoU threshold of refcoco.
    #[arg(long, default_value_t = 0.5)]
    pub iou_threshold: f64,
}

/// The computed metrics: named values (in print order), notes, item count.
struct Report {
    items: usize,
    metrics: Map<String, Value>,
    notes: Vec<String>,
}

pub fn run(args: ScoreArgs) -> anyhow::Result<ExitCode> {
    let report = match args.task {
        ScoreTask::Caption | ScoreTask::VideoCaption | ScoreTask::AudioCaption => captions(&args)?,
        ScoreTask::Vqa => vqa(&args)?,
        ScoreTask::Refcoco => grounding(&args)?,
        ScoreTask::VideoQa | ScoreTask::SnliVe => answers(&args)?,
    };
    let task = args
        .task
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    if args.json {
        let doc = json!({
            "task": task,
            "items": report.items,
            "metrics": report.metrics,
            "notes": report.notes,
        });
        println!(
            "{}",
            serde_json::to_string(&doc).context("serialising the metrics")?
        );
    } else {
        print!("{}", table(&task, &report));
    }
    Ok(ExitCode::SUCCESS)
}

fn references(args: &ScoreArgs) -> anyhow::Result<&Path> {
    args.references
        .as_deref()
        .context("--references is required for this task and file type")
}

fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

fn caption_items(args: &ScoreArgs) -> anyhow::Result<Vec<CaptionItem>> {
    if is_csv(&args.predictions) {
        if args.references.is_some() {
            bail!("a caption CSV holds its references: leave out --references");
        }
        return Ok(formats::csv::read_caption_csv(&args.predictions)?);
    }
    Ok(formats::caption_items(
        &args.predictions,
        references(args)?,
    )?)
}

/// `--meteor-jar`, `$UNIVAL_METEOR_JAR`, or the setup script's location when it exists.
fn meteor_jar(args: &ScoreArgs) -> Option<PathBuf> {
    if let Some(jar) = &args.meteor_jar {
        return Some(jar.clone());
    }
    if let Some(env) = std::env::var_os(METEOR_JAR_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(env));
    }
    let relative = Path::new(".cache/pycocoevalcap/meteor/meteor-1.5.jar");
    let home = std::env::var_os("UNIVAL_HOME").map(PathBuf::from);
    home.into_iter()
        .chain(std::iter::once(PathBuf::from(".")))
        .map(|root| root.join(relative))
        .find(|p| p.is_file())
}

fn captions(args: &ScoreArgs) -> anyhow::Result<Report> {
    let items = caption_items(args)?;
    let meteor = match (args.no_meteor, args.require_meteor) {
        (true, _) => MeteorMode::Skip,
        (_, true) => MeteorMode::Required,
        _ => MeteorMode::Auto,
    };
    let options = CaptionOptions {
        meteor,
        meteor_jar: meteor_jar(args),
        java: None,
    };
    let s = score_captions(&items, &options)?;
    let mut metrics = Map::new();
    for (k, v) in s.bleu.iter().enumerate() {
        metrics.insert(format!("bleu_{}", k + 1), json!(v));
    }
    metrics.insert("meteor".into(), json!(s.meteor));
    metrics.insert("rouge_l".into(), json!(s.rouge_l));
    metrics.insert("cider_d".into(), json!(s.cider_d));
    metrics.insert("spice".into(), json!(s.spice));
    Ok(Report {
        items: s.items,
        metrics,
        notes: s.notes,
    })
}

fn vqa(args: &ScoreArgs) -> anyhow::Result<Report> {
    let items = formats::vqa::vqa_items(&args.predictions, references(args)?)?;
    let s = vqa_accuracy(&items);
    let mut metrics = Map::new();
    metrics.insert("accuracy".into(), json!(s.overall));
    for (t, v) in &s.per_answer_type {
        metrics.insert(format!("accuracy_{t}"), json!(v));
    }
    Ok(Report {
        items: s.items,
        metrics,
        notes: vec!["VQAv2 accuracy in percent (official evaluation, not rounded)".into()],
    })
}

fn grounding(args: &ScoreArgs) -> anyhow::Result<Report> {
    if !(0.0..=1.0).contains(&args.iou_threshold) {
        bail!("--iou-threshold must be within [0, 1]");
    }
    let items = formats::grounding_items(&args.predictions, references(args)?)?;
    let acc = grounding_accuracy(&items, args.iou_threshold);
    let mut metrics = Map::new();
    metrics.insert(format!("acc@{}", args.iou_threshold), json!(100.0 * acc));
    Ok(Report {
        items: items.len(),
        metrics,
        notes: vec![
            "Acc@IoU in percent: IoU >= threshold on continuous x0,y0,x1,y1 boxes (OFA/UnIVAL rule)"
                .into(),
        ],
    })
}

fn answers(args: &ScoreArgs) -> anyhow::Result<Report> {
    let pairs = formats::answer_pairs(&args.predictions, references(args)?)?;
    let correct = pairs
        .iter()
        .filter(|(_, p, r)| p.trim() == r.trim())
        .count();
    let mut metrics = Map::new();
    metrics.insert(
        "accuracy".into(),
        json!(100.0 * accuracy(correct, pairs.len())),
    );
    Ok(Report {
        items: pairs.len(),
        metrics,
        notes: vec!["accuracy in percent: exact match after trimming whitespace".into()],
    })
}

/// The metrics as an aligned two-column table, then the notes.
fn table(task: &str, report: &Report) -> String {
    let mut out = format!("{task}: {} items\n", report.items);
    let width = report.metrics.keys().map(String::len).max().unwrap_or(0);
    for (name, value) in &report.metrics {
        let shown = value
            .as_f64()
            .map_or_else(|| "not computed".to_string(), |v| format!("{v:.4}"));
        out.push_str(&format!("  {name:<width$}  {shown}\n"));
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
