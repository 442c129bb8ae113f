//! A Triton model repository for bundles: `REPO/<model>/config.pbtxt` and the bundle as
//! version `1` (a symbolic link, or a copy for images that must be self-contained).

use crate::interface::{inputs, outputs};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use unival_manifest::TaskKind;

/// Why a repository could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "two bundles would both be served as model `{0}`; give their directories distinct names"
    )]
    DuplicateName(String),
    #[error("model name `{0}` is not usable in a URL path (letters, digits, `_`, `-`, `.` only)")]
    BadName(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RepoError + '_ {
    move |source| RepoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the instances of a model run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceKind {
    Cpu,
    Gpu,
}

/// One model of the repository: a bundle served for its task.
#[derive(Debug, Clone)]
pub struct RepoModel {
    /// Model name (the URL path segment).
    pub name: String,
    /// The bundle directory.
    pub bundle: PathBuf,
    pub task: TaskKind,
    /// Largest batch Triton's dynamic batcher forms.
    pub max_batch: u32,
    /// Instances (each its own `Pipeline`).
    pub instances: u32,
    pub kind: InstanceKind,
    /// Decoupled: responses stream back as each input finishes, then a final empty one.
    pub decoupled: bool,
}

impl RepoModel {
    /// The model's `config.pbtxt`.
    pub fn config_pbtxt(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(s, "name: \"{}\"", self.name);
        let _ = writeln!(s, "backend: \"unival\"");
        let _ = writeln!(s, "max_batch_size: {}", self.max_batch);
        let _ = writeln!(
            s,
            "dynamic_batching {{ max_queue_delay_microseconds: 2000 }}"
        );
        if self.decoupled {
            let _ = writeln!(s, "model_transaction_policy {{ decoupled: true }}");
        }
        let ins: Vec<String> = inputs(self.task)
            .iter()
            .map(|n| format!("  {{ name: \"{n}\" data_type: TYPE_STRING dims: [ 1 ] }}"))
            .collect();
        let _ = writeln!(s, "input [\n{}\n]", ins.join(",\n"));
        let outs: Vec<String> = outputs(self.task)
            .iter()
            .map(|o| {
                let dims: Vec<String> = o.dims().iter().map(|d| d.to_string()).collect();
                format!(
                    "  {{ name: \"{}\" data_type: {} dims: [ {} ] }}",
                    o.name(),
                    o.config_type(),
                    dims.join(", ")
                )
            })
            .collect();
        let _ = writeln!(s, "output [\n{}\n]", outs.join(",\n"));
        let kind = match self.kind {
            InstanceKind::Cpu => "KIND_CPU",
            InstanceKind::Gpu => "KIND_GPU",
        };
        let _ = writeln!(
            s,
            "instance_group [ {{ count: {} kind: {kind} }} ]",
            self.instances
        );
        let _ = writeln!(
            s,
            "parameters {{ key: \"task\" value: {{ string_value: \"{}\" }} }}",
            self.task.name()
        );
        s
    }
}

/// Whether `name` is a safe model name (it becomes a directory and a URL segment).
fn usable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Writes every model into `out` (created if missing; a model directory already there is
/// replaced). With `copy`, bundles are copied instead of linked.
pub fn write_repository(out: &Path, models: &[RepoModel], copy: bool) -> Result<(), RepoError> {
    let mut seen = std::collections::BTreeSet::new();
    for m in models {
        if !usable_name(&m.name) {
            return Err(RepoError::BadName(m.name.clone()));
        }
        if !seen.insert(m.name.as_str()) {
            return Err(RepoError::DuplicateName(m.name.clone()));
        }
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    for m in models {
        let dir = out.join(&m.name);
        if dir.symlink_metadata().is_ok() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let config = dir.join("config.pbtxt");
        std::fs::write(&config, m.config_pbtxt()).map_err(io(&config))?;
        let version = dir.join("1");
        let bundle = std::fs::canonicalize(&m.bundle).map_err(io(&m.bundle))?;
        if copy {
            copy_dir(&bundle, &version)?;
        } else {
            std::os::unix::fs::symlink(&bundle, &version).map_err(io(&version))?;
        }
    }
    Ok(())
}

/// Copies the regular files and directories under `from` into `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<(), RepoError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(io(&src))?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn model(name: &str, bundle: &Path) -> RepoModel {
        RepoModel {
            name: name.into(),
            bundle: bundle.into(),
            task: TaskKind::Refcoco,
            max_batch: 8,
            instances: 2,
            kind: InstanceKind::Cpu,
            decoupled: false,
        }
    }

    #[test]
    fn the_config_names_every_tensor_and_setting() {
        let text = model("ground", Path::new("/b")).config_pbtxt();
        for needle in [
            "name: \"ground\"",
            "backend: \"unival\"",
            "max_batch_size: 8",
            "dynamic_batching",
            "{ name: \"IMAGE\" data_type: TYPE_STRING dims: [ 1 ] }",
            "{ name: \"TEXT\" data_type: TYPE_STRING dims: [ 1 ] }",
            "{ name: \"BOX\" data_type: TYPE_FP32 dims: [ 4 ] }",
            "{ name: \"TOKENS\" data_type: TYPE_INT64 dims: [ -1 ] }",
            "instance_group [ { count: 2 kind: KIND_CPU } ]",
            "string_value: \"refcoco\"",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        assert!(!text.contains("decoupled"));
    }

    #[test]
    fn bundles_are_linked_or_copied_as_version_one() {
        let tmp = tempfile::tempdir().unwrap();
        let bundle = tmp.path().join("bundle");
        std::fs::create_dir_all(bundle.join("sub")).unwrap();
        std::fs::write(bundle.join("manifest.json"), "{}").unwrap();
        std::fs::write(bundle.join("sub/w.bin"), "w").unwrap();
        let repo = tmp.path().join("repo");
        write_repository(&repo, &[model("a", &bundle)], false).unwrap();
        assert!(repo.join("a/1").symlink_metadata().unwrap().is_symlink());
        assert!(repo.join("a/1/manifest.json").is_file());
        write_repository(&repo, &[model("a", &bundle)], true).unwrap();
        assert!(repo.join("a/1").symlink_metadata().unwrap().is_dir());
        assert_eq!(
            std::fs::read_to_string(repo.join("a/1/sub/w.bin")).unwrap(),
            "w"
        );
        let twice = [model("a", &bundle), model("a", &bundle)];
        assert!(matches!(
            write_repository(&repo, &twice, false),
            Err(RepoError::DuplicateName(_))
        ));
        assert!(matches!(
            write_repository(&repo, &[model("../x", &bundle)], false),
            Err(RepoError::BadName(_))
        ));
    }
}
