//! `unival preprocess --model DIR FILE... --out DIR`: the exact tensor the perception graph
//! receives for each file, as `<out>/<file name>.npy` (f32), and one JSON line per file
//! `{"file","tensor","shape","dtype","sha256"}` (sha256 of the raw little-endian data), so users
//! can compare with the original's `patch_images` / `patch_videos` / `patch_audios`.
//!
//! Only the bundle's manifest is read (its task and settings; no graph is loaded). The tensor
//! comes from the runtime's [`MediaSettings::load`], the same code the task commands run.
//! A failing file is reported and skipped; the exit code is 1 if any file failed.

use super::npy;
use super::tasks::{apply_audio, apply_image, apply_video};
use crate::cli::PreprocessArgs;
use anyhow::{anyhow, Context};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use unival_manifest::Manifest;
use unival_runtime::tasks::MediaSettings;

/// One output line.
#[derive(Debug, Serialize)]
struct Written<'a> {
    file: String,
    tensor: &'a str,
    shape: &'a [usize],
    dtype: &'static str,
    sha256: String,
}

pub fn run(a: PreprocessArgs) -> anyhow::Result<ExitCode> {
    // The manifest's errors name the bundle directory themselves.
    let manifest = Manifest::load(&a.model)?;
    let mut media = MediaSettings::from_manifest(&manifest);
    apply_image(&mut media.task, &mut media.image, &a.image);
    apply_video(&mut media.task, &mut media.video, &a.video);
    apply_audio(
        &mut media.audio,
        a.video.start,
        a.video.end,
        &a.audio,
        a.video.seed,
    );
    let targets = output_paths(&a.files, &a.out)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("creating the output directory {}", a.out.display()))?;

    let stdout = std::io::stdout();
    let mut failed = 0usize;
    for (file, target) in a.files.iter().zip(&targets) {
        match write_one(&media, file, target) {
            Ok(line) => {
                let mut lock = stdout.lock();
                writeln!(lock, "{line}")?;
                lock.flush()?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e:#}", file.display());
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} inputs failed", a.files.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `<out>/<file name>.npy` for every input; two inputs with the same file name would overwrite
/// each other, so that is refused before any work.
fn output_paths(files: &[PathBuf], out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut seen: BTreeMap<PathBuf, &Path> = BTreeMap::new();
    files
        .iter()
        .map(|file| {
            let name = file
                .file_name()
                .ok_or_else(|| anyhow!("{}: the input has no file name", file.display()))?;
            let mut npy_name = name.to_os_string();
            npy_name.push(".npy");
            let target = out.join(npy_name);
            if let Some(first) = seen.insert(target.clone(), file) {
                return Err(anyhow!(
                    "{} and {} would both be written to {}; preprocess them separately",
                    first.display(),
                    file.display(),
                    target.display()
                ));
            }
            Ok(target)
        })
        .collect()
}

/// Preprocesses `file`, writes its `.npy` to `target` and returns the JSON line.
fn write_one(media: &MediaSettings, file: &Path, target: &Path) -> anyhow::Result<String> {
    let tensor = media.load(file)?;
    let data = npy::le_bytes(&tensor.values());
    npy::write_f32(target, tensor.shape(), &data)
        .with_context(|| format!("writing {}", target.display()))?;
    let line = Written {
        file: file.display().to_string(),
        tensor: tensor.name(),
        shape: tensor.shape(),
        dtype: "float32",
        sha256: hex::encode(Sha256::digest(&data)),
    };
    Ok(serde_json::to_string(&line)?)
}
