//! Builds, writes and hashes the bundle's graphs. Hashing is most of an export's CPU time
//! (SHA-256 runs at ~110 MB/s on CPUs without SHA extensions, and a base export hashes
//! ~2.4 GB): the checkpoint is hashed beside graph building and each written file on its own
//! thread, while the next graph is built.

use super::error::ExportError;
use super::plan::{ExportOptions, ExportPlan};
use super::stft::STFT_FILE;
use super::ExportStep;
use crate::checkpoint::Checkpoint;
use crate::graphs::weights::Weights;
use crate::graphs::{Graph, GraphError};
use crate::onnx::prune::quantize_model;
use crate::onnx::write::write_model;
use crate::onnx::WeightFormat;
use std::collections::BTreeMap;
use std::path::Path;
use std::thread::{Scope, ScopedJoinHandle};
use unival_manifest::task::Modality;
use unival_manifest::{file_entry, FileEntry, GraphSpec, ManifestError};

/// What [`write_and_hash`] produced.
pub struct Written {
    pub graphs: BTreeMap<String, GraphSpec>,
    pub files: BTreeMap<String, FileEntry>,
    /// SHA-256 of the checkpoint.
    pub source_sha256: String,
}

type Hashing<'s> = Vec<(
    String,
    ScopedJoinHandle<'s, Result<FileEntry, ManifestError>>,
)>;

/// Builds and writes every graph of `plan` into `opts.out_dir`, runs `check_keys` once all are
/// built, and hashes the written files (the STFT kernels too, for audio) and the checkpoint.
pub fn write_and_hash(
    opts: &ExportOptions,
    plan: &ExportPlan,
    ckpt: &Checkpoint,
    root: &Weights,
    check_keys: &dyn Fn() -> Result<(), ExportError>,
    progress: &mut dyn FnMut(ExportStep),
) -> Result<Written, ExportError> {
    let out = &opts.out_dir;
    std::thread::scope(|s| {
        let source_hash = s.spawn(|| ckpt.sha256().to_string());
        let mut hashing: Hashing = Vec::new();
        let mut graphs = BTreeMap::new();
        let all = plan.graphs();
        for (index, graph) in all.into_iter().enumerate() {
            progress(ExportStep::Graph {
                name: graph.name().to_string(),
                index,
                total: all.len(),
            });
            let spec = write_graph(opts, plan, root, graph, s, &mut hashing)?;
            graphs.insert(graph.name().to_string(), spec);
        }
        if plan.modality == Modality::Audio {
            hash_file(s, out, STFT_FILE, &mut hashing);
        }
        check_keys()?;

        progress(ExportStep::Hashing);
        let panicked = |path: &Path| ExportError::invalid(path, "the hashing thread panicked");
        let mut files = BTreeMap::new();
        for (f, handle) in hashing {
            let entry = handle.join().map_err(|_| panicked(&out.join(&f)))??;
            files.insert(f, entry);
        }
        let source_sha256 = source_hash.join().map_err(|_| panicked(&opts.checkpoint))?;
        Ok(Written {
            graphs,
            files,
            source_sha256,
        })
    })
}

/// Builds `graph`, writes it (and its external data) and starts hashing its files.
fn write_graph<'s>(
    opts: &ExportOptions,
    plan: &ExportPlan,
    root: &Weights,
    graph: Graph,
    s: &'s Scope<'s, '_>,
    hashing: &mut Hashing<'s>,
) -> Result<GraphSpec, ExportError> {
    let out = &opts.out_dir;
    let graph_err = |e| ExportError::graph(&opts.checkpoint, e);
    let format = WeightFormat {
        float: plan.float,
        quant: plan.quant,
    };
    let mut g = graph.build(&plan.cfg, root, format).map_err(graph_err)?;
    let (inputs, outputs) = g.specs();
    let file = format!("{}.onnx", graph.name());
    // A weight the format could not quantise (NaN or infinite values) fails the export here.
    if let Some(source) = g.take_error() {
        return Err(ExportError::Quant {
            path: out.join(&file),
            source,
        });
    }
    let mut model = g.finish(env!("CARGO_PKG_VERSION"));
    if plan.quant.is_some() {
        quantize_model(&mut model);
    }
    let w = write_model(model, &out.join(&file), opts.external_data)
        .map_err(|e| graph_err(GraphError::Write(e)))?;
    let external_data = w
        .external_data
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    for f in std::iter::once(&file).chain(&external_data) {
        hash_file(s, out, f, hashing);
    }
    Ok(GraphSpec {
        file,
        external_data,
        inputs,
        outputs,
    })
}

fn hash_file<'s>(s: &'s Scope<'s, '_>, dir: &Path, file: &str, hashing: &mut Hashing<'s>) {
    let full = dir.join(file);
    hashing.push((file.to_string(), s.spawn(move || file_entry(&full))));
}
