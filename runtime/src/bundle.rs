//! `Bundle`: an exported model directory (`models/<name>/`) opened for inference.
//!
//! Opening reads `manifest.json` and checks each listed file's size and sha256 (ARCHITECTURE.md §3:
//! the runtime refuses a bundle that does not match its manifest), and that every file the manifest
//! or a graph's external data names stays inside the bundle folder (`unival_manifest::confine`).
//! Graph sessions are created on first use, so a task that needs only the image encoder, the
//! encoder and the decoder never pays for the video or audio graphs.

use crate::engine::ep::SessionOptions;
use crate::engine::session::GraphSession;
use crate::error::RuntimeError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use unival_manifest::Manifest;

/// [`Manifest::verify_files`] with one thread per file: hashing is the bulk of opening a
/// bundle (about 1 GB of graphs for the base model, ~110 MB/s per core for sha256 without
/// SHA extensions), and the files are independent. Reports the first failing file in the
/// manifest's order, with the same error `verify_files` gives.
fn verify_in_parallel(manifest: &Manifest, dir: &Path) -> Result<(), RuntimeError> {
    let one_file = |name: &String, entry: &unival_manifest::FileEntry| {
        let mut single = manifest.clone();
        single.files = BTreeMap::from([(name.clone(), entry.clone())]);
        single.verify_files(dir)
    };
    let results: Vec<Result<(), unival_manifest::ManifestError>> = std::thread::scope(|s| {
        let handles: Vec<_> = manifest
            .files
            .iter()
            .map(|(name, entry)| s.spawn(move || one_file(name, entry)))
            .collect();
        handles
            .into_iter()
            .zip(&manifest.files)
            .map(|(h, (name, entry))| h.join().unwrap_or_else(|_| one_file(name, entry)))
            .collect()
    });
    for r in results {
        r?;
    }
    Ok(())
}

/// An opened, verified bundle and its lazily created graph sessions.
#[derive(Debug)]
pub struct Bundle {
    dir: PathBuf,
    manifest: Manifest,
    options: SessionOptions,
    sessions: BTreeMap<String, GraphSession>,
}

impl Bundle {
    /// Reads and verifies the bundle in `dir`. Fails with [`RuntimeError::Manifest`] when the
    /// manifest is missing, malformed, of another format version, a file's size or hash
    /// differs, or a name (in the manifest or a graph's external data) leads outside `dir`.
    /// Loads no graph yet. The TensorRT engine cache key defaults to the manifest's
    /// bundle hash.
    pub fn open(dir: &Path, opts: &SessionOptions) -> Result<Bundle, RuntimeError> {
        let manifest = Manifest::load(dir)?;
        verify_in_parallel(&manifest, dir)?;
        // Before any graph reaches ONNX Runtime, which opens external data wherever it points.
        manifest.check_external_data(dir)?;
        let mut options = opts.clone();
        if options.trt_dim_ranges.is_empty() {
            options.trt_dim_ranges = crate::engine::trt_shapes::dim_ranges(&manifest);
        }
        if options.cache_key.is_none() {
            options.cache_key = Some(manifest.bundle_hash());
        }
        Ok(Bundle {
            dir: dir.to_path_buf(),
            manifest,
            options,
            sessions: BTreeMap::new(),
        })
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The session options graphs are loaded with (cache key filled in).
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// Whether the manifest lists graph `name` (see `unival_manifest::io::graph`).
    pub fn has_graph(&self, name: &str) -> bool {
        self.manifest.graphs.contains_key(name)
    }

    /// Loads a fresh, uncached session for graph `name`, owned by the caller (for holding the
    /// encoder and decoder at once, or one session per thread).
    pub fn load_graph(&self, name: &str) -> Result<GraphSession, RuntimeError> {
        let spec = self
            .manifest
            .graphs
            .get(name)
            .ok_or_else(|| RuntimeError::UnknownGraph {
                bundle: self.manifest.name.clone(),
                graph: name.to_string(),
                available: self
                    .manifest
                    .graphs
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let path = self.manifest.file_path(&self.dir, &spec.file)?;
        GraphSession::load(name, &path, spec, &self.options)
    }

    /// The session for graph `name`, created on first use and kept.
    pub fn graph(&mut self, name: &str) -> Result<&mut GraphSession, RuntimeError> {
        if !self.sessions.contains_key(name) {
            let session = self.load_graph(name)?;
            self.sessions.insert(name.to_string(), session);
        }
        self.sessions
            .get_mut(name)
            .ok_or_else(|| RuntimeError::UnknownGraph {
                bundle: self.manifest.name.clone(),
                graph: name.to_string(),
                available: String::new(),
            })
    }
}
