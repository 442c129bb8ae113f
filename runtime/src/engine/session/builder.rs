//! Session construction: ONNX Runtime's builder configured from [`SessionOptions`], and the
//! optimised-graph cache around `commit`.

use crate::engine::ep::{self, Provider, SessionOptions};
use crate::engine::ort_lib;
use crate::error::RuntimeError;
use ort::session::Session;
use std::path::Path;

/// Commits `builder` on `path`. With an optimised-model cache and the CPU provider, a cached
/// optimised graph is loaded instead when there is one (a broken one is removed and the original
/// loaded), else the optimised graph is saved for next time: written under a temporary name and
/// renamed once the session exists, so a crash never leaves a half-written cache entry.
pub(super) fn commit(
    mut builder: ort::session::builder::SessionBuilder,
    path: &Path,
    graph: &str,
    provider: &Provider,
    opts: &SessionOptions,
    ort_version: &str,
) -> ort::Result<Session> {
    let cached = match (&opts.optimized_cache, provider) {
        (Some(root), Provider::Cpu) => Some(ep::optimized_model_path(
            root,
            opts.cache_key.as_deref().unwrap_or("default"),
            ort_version,
            graph,
            opts.optimization_level,
        )),
        _ => None,
    };
    let Some(cached) = cached else {
        return builder.commit_from_file(path);
    };
    if cached.is_file() {
        match builder.commit_from_file(&cached) {
            Ok(session) => return Ok(session),
            Err(e) => {
                ort_lib::log(&format!(
                    "ignoring the cached optimised graph {}: {e}",
                    cached.display()
                ));
                let _ = std::fs::remove_file(&cached);
            }
        }
    }
    let Some(dir) = cached
        .parent()
        .filter(|d| std::fs::create_dir_all(d).is_ok())
    else {
        return builder.commit_from_file(path);
    };
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        cached
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut builder = builder
        .with_optimized_model_path(&tmp)
        .map_err(|e| -> ort::Error { e.into() })?;
    let session = builder.commit_from_file(path)?;
    if std::fs::rename(&tmp, &cached).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(session)
}

pub(super) fn new_builder(
    lib: &ort_lib::OrtLibrary,
    graph: &str,
    opts: &SessionOptions,
) -> Result<ort::session::builder::SessionBuilder, RuntimeError> {
    let config = |source: ort::Error| RuntimeError::SessionConfig {
        graph: graph.to_string(),
        source,
    };
    let mut builder = Session::builder(lib.environment())
        .map_err(config)?
        .with_optimization_level(opts.optimization_level.to_ort())
        .map_err(|e| config(e.into()))?;
    if let Some(n) = opts.intra_threads {
        builder = builder
            .with_intra_threads(n)
            .map_err(|e| config(e.into()))?;
    }
    if !opts.prepacking {
        builder = builder
            .with_prepacking(false)
            .map_err(|e| config(e.into()))?;
    }
    if !opts.memory_pattern {
        builder = builder
            .with_memory_pattern(false)
            .map_err(|e| config(e.into()))?;
    }
    if let Some(dir) = &opts.profile_dir {
        std::fs::create_dir_all(dir).map_err(|source| RuntimeError::Io {
            path: dir.clone(),
            source,
        })?;
        builder = builder
            .with_profiling(dir.join(graph))
            .map_err(|e| config(e.into()))?;
    }
    if !opts.intra_spinning {
        builder = builder
            .with_intra_op_spinning(false)
            .map_err(|e| config(e.into()))?;
    }
    Ok(builder)
}
