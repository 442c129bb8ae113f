//! `unival pull NAME`: downloads a released checkpoint listed in `models/catalogue.json`
//! (resumable, sha256 verified or recorded) and exports it with its task's defaults.
//!
//! Exit codes: 0 done; 1 an error (unknown name, HTTP error, sha256 mismatch, export failure);
//! 3 the network: the server could not be reached or the transfer broke off (what arrived is
//! kept in `<file>.part` and the next run resumes it).

mod catalogue;
mod download;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use unival_export::bundle::{export, ExportOptions};
use unival_export::checkpoint::WeightsChoice;
use unival_manifest::{Precision, TaskKind};

use download::Failure;

/// Exit code when the network is unreachable or a transfer broke off.
pub const EXIT_NETWORK: u8 = 3;

/// Options of `unival pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Catalogue name (`unival_caption_stage_1`, `unival_vqa`, …).
    pub name: String,
    /// Task of the exported bundle (default: the catalogue's task for the model).
    #[arg(long)]
    pub task: Option<String>,
    /// Bundle directory (default: models/NAME).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where the downloaded checkpoint is kept (as NAME.pt, NAME.pt.sha256 beside it).
    #[arg(long, default_value = "models/checkpoints")]
    pub checkpoints: PathBuf,
    /// The catalogue to read.
    #[arg(long, default_value = "models/catalogue.json")]
    pub catalogue: PathBuf,
}

pub fn run(args: PullArgs) -> anyhow::Result<ExitCode> {
    let entry = catalogue::find(&args.catalogue, &args.name)?;
    let task_name = args.task.clone().unwrap_or_else(|| entry.task.clone());
    // `pretrain` (and other non-task names) export the checkpoint's own task.
    let task = match args.task.as_deref() {
        Some(t) => Some(t.parse::<TaskKind>().map_err(|e| anyhow!("--task: {e}"))?),
        None => entry.task.parse::<TaskKind>().ok(),
    };
    let checkpoint = match (&entry.download, &entry.file) {
        (Some(url), _) => match obtain(url, &entry, &args.checkpoints) {
            Ok(path) => path,
            Err(Failure::Network(msg)) => {
                eprintln!(
                    "error: {msg} (exit code {EXIT_NETWORK}: network; or download it elsewhere \
                     and run `unival export --checkpoint FILE`)"
                );
                return Ok(ExitCode::from(EXIT_NETWORK));
            }
            Err(Failure::Other(e)) => {
                let page = entry.url.as_deref().unwrap_or("no page listed");
                return Err(e.context(format!("pulling '{}' (page: {page})", entry.name)));
            }
        },
        // Shipped checkpoints are listed relative to the repository root, the catalogue's
        // grandparent (`models/catalogue.json`).
        (None, Some(file)) => match args.catalogue.parent().and_then(Path::parent) {
            Some(root) if file.is_relative() => root.join(file),
            _ => file.clone(),
        },
        (None, None) => bail!(
            "{}: '{}' has no download URL; get it from {} and run `unival export --checkpoint FILE`",
            args.catalogue.display(),
            entry.name,
            entry.url.as_deref().unwrap_or("the authors' page")
        ),
    };
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("models").join(&entry.name));
    export_bundle(&checkpoint, task, &out_dir)?;
    eprintln!(
        "pulled {} ({task_name}) into {}",
        entry.name,
        out_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Downloads (or finds) the checkpoint, verifies or records its sha256, and returns its path.
fn obtain(url: &str, entry: &catalogue::Entry, dir: &Path) -> Result<PathBuf, Failure> {
    let other = |e: anyhow::Error| Failure::Other(e);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create", dir.display()))
        .map_err(other)?;
    let ext = if url.ends_with(".safetensors") {
        "safetensors"
    } else {
        "pt"
    };
    let dest = dir.join(format!("{}.{ext}", entry.name));
    let part = dir.join(format!("{}.{ext}.part", entry.name));
    let expected = entry.sha256.as_deref().map(str::to_ascii_lowercase);
    if dest.exists() {
        let sha = sha256_file(&dest).map_err(other)?;
        if expected.as_ref().is_none_or(|e| *e == sha) {
            eprintln!("{} already downloaded (sha256 {sha})", dest.display());
            return Ok(dest);
        }
        eprintln!(
            "{}: sha256 {sha} is not the catalogue's: downloading again",
            dest.display()
        );
        std::fs::remove_file(&dest).map_err(|e| other(e.into()))?;
    }
    download::fetch(url, &part, entry.size)?;
    verify(&part, &dest, entry, expected.as_deref()).map_err(other)?;
    Ok(dest)
}

/// Checks size and sha256 of the finished `.part`, then renames it to `dest` and records the
/// sha256 beside it (`<dest>.sha256`, sha256sum format). A bad file is removed.
fn verify(
    part: &Path,
    dest: &Path,
    entry: &catalogue::Entry,
    expected: Option<&str>,
) -> anyhow::Result<()> {
    let got = std::fs::metadata(part)
        .with_context(|| format!("{}: cannot read", part.display()))?
        .len();
    if let Some(size) = entry.size.filter(|&s| s != got) {
        let _ = std::fs::remove_file(part);
        bail!(
            "{}: {got} bytes, the catalogue says {size}; removed",
            part.display()
        );
    }
    let sha = sha256_file(part)?;
    match expected {
        Some(want) if want != sha => {
            let _ = std::fs::remove_file(part);
            bail!(
                "{}: sha256 mismatch: got {sha}, the catalogue says {want}; the download was \
                 removed",
                dest.display()
            );
        }
        Some(_) => eprintln!("sha256 {sha} verified"),
        None => eprintln!(
            "sha256 {sha} (the catalogue has none for '{}': recorded in {}.sha256)",
            entry.name,
            dest.display()
        ),
    }
    std::fs::rename(part, dest).with_context(|| format!("{}: cannot rename", part.display()))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let record = PathBuf::from(format!("{}.sha256", dest.display()));
    std::fs::write(&record, format!("{sha}  {name}\n"))
        .with_context(|| format!("{}: cannot write", record.display()))?;
    Ok(())
}

/// Lower-case hex SHA-256 of a file, streamed.
fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Exports with the task's defaults, as `unival export --checkpoint … --task …` does.
fn export_bundle(checkpoint: &Path, task: Option<TaskKind>, out_dir: &Path) -> anyhow::Result<()> {
    let opts = ExportOptions {
        checkpoint: checkpoint.to_path_buf(),
        out_dir: out_dir.to_path_buf(),
        task,
        precision: Precision::Fp32,
        weights: WeightsChoice::Auto,
        image_size: None,
        num_frames: None,
        frame_size: None,
        external_data: true,
        quantize_convs: None,
    };
    let start = Instant::now();
    eprintln!(
        "exporting {} to {}",
        checkpoint.display(),
        out_dir.display()
    );
    export(&opts, &mut |_| {})?;
    eprintln!("exported in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
