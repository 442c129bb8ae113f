//! `unival triton-repo`: a Triton model repository serving bundles through the `unival`
//! backend (serve/triton): one model per bundle, named after its directory, for the task it was
//! exported for.

use anyhow::{anyhow, Context};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use triton_unival::repo::{write_repository, InstanceKind, RepoModel};
use unival_manifest::Manifest;

#[derive(Debug, Args)]
pub struct TritonRepoArgs {
    /// Repository directory to write (created; models already there are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// A bundle to serve (repeat for several); the model is named after the directory.
    #[arg(long = "model", required = true, value_name = "DIR")]
    pub models: Vec<PathBuf>,
    /// Instances of each model (each opens its own pipeline).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub instances: u32,
    /// Largest batch Triton's dynamic batcher forms.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_batch: u32,
    /// Where instances run.
    #[arg(long, value_enum, default_value = "cpu")]
    pub kind: KindArg,
    /// Also write a decoupled (streaming) model `<name>_stream` per bundle.
    #[arg(long)]
    pub stream: bool,
    /// Copy bundles into the repository instead of linking them (self-contained images).
    #[arg(long)]
    pub copy: bool,
}

/// Instance group kind.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Cpu,
    Gpu,
}

/// Writes the repository and prints one line per model.
pub fn run(a: TritonRepoArgs) -> anyhow::Result<ExitCode> {
    let kind = match a.kind {
        KindArg::Cpu => InstanceKind::Cpu,
        KindArg::Gpu => InstanceKind::Gpu,
    };
    let mut models = Vec::new();
    for dir in &a.models {
        let manifest =
            Manifest::load(dir).with_context(|| format!("reading bundle {}", dir.display()))?;
        let canonical =
            std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
        let name = canonical
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("{}: cannot name a model after this path", dir.display()))?
            .to_string();
        let model = RepoModel {
            name,
            bundle: dir.clone(),
            task: manifest.task.task,
            max_batch: a.max_batch,
            instances: a.instances,
            kind,
            decoupled: false,
        };
        if a.stream {
            models.push(RepoModel {
                name: format!("{}_stream", model.name),
                decoupled: true,
                ..model.clone()
            });
        }
        models.push(model);
    }
    write_repository(&a.out, &models, a.copy)?;
    for m in &models {
        println!(
            "{}\t{}\t{}",
            m.name,
            m.task.name(),
            a.out.join(&m.name).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
