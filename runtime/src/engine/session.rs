//! `GraphSession`: one ONNX graph of a bundle loaded into ONNX Runtime, checked against its
//! manifest [`GraphSpec`], and run with tensors bound **by name** (ARCHITECTURE.md §6.4).
//!
//! Inputs are `ndarray` views wrapped without a copy when they are in standard (C) layout;
//! outputs stay ONNX Runtime values until the caller reads one by name, as a view, an owned
//! array, or the value itself (to feed it back, e.g. a KV cache, without a host copy).
//! [`GraphBinding`] runs a graph through an ONNX Runtime I/O binding instead: inputs stay
//! bound across runs, outputs are allocated where the caller says (the provider's device or
//! the host).

mod binding;
mod builder;

pub use binding::{DeviceMemory, GraphBinding, Place};

use crate::engine::ep::{self, Provider, ProviderReport, SessionOptions};
use crate::engine::ort_lib;
use crate::error::RuntimeError;
use builder::{commit, new_builder};
use ndarray::{ArrayD, ArrayViewD, Dimension};
use ort::session::{Session, SessionInputValue};
use ort::value::{
    DynValue, PrimitiveTensorElementType, Tensor, TensorElementType, TensorRef, ValueType,
};
use std::borrow::Cow;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use unival_manifest::{DType, GraphSpec};

/// One named input of a run.
#[derive(Debug)]
pub enum Input<'a> {
    /// f32 tensor (pixels, features, caches).
    F32(ArrayViewD<'a, f32>),
    /// i64 tensor (token ids, lengths, scalar `past_len` as a 0-d array).
    I64(ArrayViewD<'a, i64>),
    /// bool tensor (padding masks).
    Bool(ArrayViewD<'a, bool>),
    /// A value ONNX Runtime already holds, e.g. an output of an earlier run (no copy).
    Value(&'a DynValue),
}

macro_rules! input_from {
    ($t:ty, $variant:ident) => {
        impl<'a, D: Dimension> From<ndarray::ArrayView<'a, $t, D>> for Input<'a> {
            fn from(v: ndarray::ArrayView<'a, $t, D>) -> Self {
                Input::$variant(v.into_dyn())
            }
        }
        impl<'a, D: Dimension> From<&'a ndarray::Array<$t, D>> for Input<'a> {
            fn from(v: &'a ndarray::Array<$t, D>) -> Self {
                Input::$variant(v.view().into_dyn())
            }
        }
    };
}
input_from!(f32, F32);
input_from!(i64, I64);
input_from!(bool, Bool);

impl<'a> From<&'a DynValue> for Input<'a> {
    fn from(v: &'a DynValue) -> Self {
        Input::Value(v)
    }
}

impl Input<'_> {
    /// Element type, as the manifest spells it (`None` for types the manifest has no name for).
    fn dtype(&self) -> Result<DType, String> {
        match self {
            Input::F32(_) => Ok(DType::F32),
            Input::I64(_) => Ok(DType::I64),
            Input::Bool(_) => Ok(DType::Bool),
            Input::Value(v) => value_dtype(v.dtype()),
        }
    }

    /// Wraps the data for ONNX Runtime: borrowed when C-contiguous, else one copy.
    fn to_ort(&self) -> ort::Result<SessionInputValue<'_>> {
        match self {
            Input::F32(v) => wrap(v),
            Input::I64(v) => wrap(v),
            Input::Bool(v) => wrap(v),
            Input::Value(v) => Ok(SessionInputValue::from(*v)),
        }
    }
}

fn wrap<'v, T>(view: &ArrayViewD<'v, T>) -> ort::Result<SessionInputValue<'v>>
where
    T: PrimitiveTensorElementType + Debug + Clone + 'static,
{
    if view.is_standard_layout() {
        Ok(TensorRef::from_array_view(view.clone())?.into())
    } else {
        Ok(Tensor::from_array(view.as_standard_layout().into_owned())?.into())
    }
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::I64 => "i64",
        DType::Bool => "bool",
    }
}

/// The manifest's name for an ONNX Runtime value type, or its own description.
fn value_dtype(t: &ValueType) -> Result<DType, String> {
    match t.tensor_type() {
        Some(TensorElementType::Float32) => Ok(DType::F32),
        Some(TensorElementType::Float16) => Ok(DType::F16),
        Some(TensorElementType::Int64) => Ok(DType::I64),
        Some(TensorElementType::Bool) => Ok(DType::Bool),
        Some(other) => Err(other.to_string()),
        None => Err(t.to_string()),
    }
}

/// Differences between the graph's actual I/O (name, element type) and the manifest's, one
/// human-readable line each; empty when they agree. Order does not matter, names do.
pub fn spec_differences(
    spec: &GraphSpec,
    inputs: &[(String, Result<DType, String>)],
    outputs: &[(String, Result<DType, String>)],
) -> Vec<String> {
    let mut diffs = Vec::new();
    let sides = [
        ("input", &spec.inputs, inputs),
        ("output", &spec.outputs, outputs),
    ];
    for (kind, declared, actual) in sides {
        for want in declared {
            match actual.iter().find(|(n, _)| *n == want.name) {
                None => diffs.push(format!(
                    "{kind} `{}` is in the manifest but not in the graph",
                    want.name
                )),
                Some((_, got)) if got.as_ref().ok() != Some(&want.dtype) => diffs.push(format!(
                    "{kind} `{}` is {} in the graph, {} in the manifest",
                    want.name,
                    match got {
                        Ok(d) => dtype_name(*d).to_string(),
                        Err(s) => s.clone(),
                    },
                    dtype_name(want.dtype)
                )),
                Some(_) => {}
            }
        }
        for (name, _) in actual {
            if !declared.iter().any(|d| d.name == *name) {
                diffs.push(format!(
                    "{kind} `{name}` is in the graph but not in the manifest"
                ));
            }
        }
    }
    diffs
}

/// A loaded graph: the ONNX Runtime session, its manifest spec, and the provider it runs on.
#[derive(Debug)]
pub struct GraphSession {
    name: String,
    path: PathBuf,
    spec: GraphSpec,
    session: Session,
    report: ProviderReport,
}

impl GraphSession {
    /// Loads `path` as graph `name` with the providers `opts` asks for, checks its inputs and
    /// outputs against `spec`, and logs one line naming the provider (see
    /// [`ort_lib::set_log_hook`]).
    ///
    /// Fails with [`RuntimeError::GraphLoad`] naming the file when it is missing, truncated or
    /// not ONNX, [`RuntimeError::ProviderUnavailable`] when an explicitly requested provider
    /// cannot be used, and [`RuntimeError::SpecMismatch`] listing every I/O difference.
    pub fn load(
        name: &str,
        path: &Path,
        spec: &GraphSpec,
        opts: &SessionOptions,
    ) -> Result<GraphSession, RuntimeError> {
        let lib = ort_lib::init()?;
        let graph_load = |reason: String| RuntimeError::GraphLoad {
            graph: name.to_string(),
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            return Err(graph_load("no such file".into()));
        }
        let candidates = ep::candidates(opts, lib.version());
        let last = candidates.len().saturating_sub(1);
        let mut skipped: Vec<(String, String)> = Vec::new();
        for (i, provider) in candidates.into_iter().enumerate() {
            let may_fall_back = !opts.device.is_explicit() && i < last;
            let unavailable = |reason: String| RuntimeError::ProviderUnavailable {
                graph: name.to_string(),
                provider: provider.ort_name().to_string(),
                reason,
            };
            if !provider.compiled_in() {
                if may_fall_back {
                    let reason = format!("not in this ONNX Runtime {} build", lib.version());
                    skipped.push((provider.ort_name().into(), reason));
                    continue;
                }
                return Err(unavailable(format!(
                    "the ONNX Runtime {} at {} was built without it",
                    lib.version(),
                    lib.path().display()
                )));
            }
            if let Provider::TensorRt {
                engine_cache: Some(dir),
                ..
            } = &provider
            {
                std::fs::create_dir_all(dir).map_err(|source| RuntimeError::Io {
                    path: dir.clone(),
                    source,
                })?;
            }
            let mut builder = new_builder(lib, name, opts)?;
            let trt_profile = crate::engine::trt_shapes::profile_shapes(spec, &opts.trt_dim_ranges);
            if let Err(e) = provider.register(&mut builder, opts.cpu_arena, trt_profile.as_ref()) {
                if may_fall_back {
                    skipped.push((provider.ort_name().into(), e.to_string()));
                    continue;
                }
                return Err(unavailable(e.to_string()));
            }
            match commit(builder, path, name, &provider, opts, lib.version()) {
                Ok(session) => {
                    let report = ProviderReport {
                        graph: name.to_string(),
                        provider,
                        skipped,
                    };
                    let graph = GraphSession {
                        name: name.to_string(),
                        path: path.to_path_buf(),
                        spec: spec.clone(),
                        session,
                        report,
                    };
                    graph.check_spec()?;
                    ort_lib::log(&graph.report.to_string());
                    return Ok(graph);
                }
                Err(e) if may_fall_back => {
                    skipped.push((
                        provider.ort_name().into(),
                        format!("session creation failed: {e}"),
                    ));
                }
                Err(e) if provider == Provider::Cpu => return Err(graph_load(e.to_string())),
                Err(e) => return Err(graph_load(format!("{e} (with {})", provider.ort_name()))),
            }
        }
        Err(graph_load("no execution provider could load it".into()))
    }

    /// Graph name (`encoder`, `decoder`, …).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The `.onnx` file.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The manifest's declaration of this graph.
    pub fn spec(&self) -> &GraphSpec {
        &self.spec
    }
    /// Which provider runs the graph (and what `auto` skipped).
    pub fn provider(&self) -> &ProviderReport {
        &self.report
    }

    /// Closes the profile this session has been writing since it was created (only with
    /// [`SessionOptions::profile_dir`]) and returns the JSON file's path.
    pub fn end_profiling(&mut self) -> Result<PathBuf, RuntimeError> {
        self.session
            .end_profiling()
            .map(PathBuf::from)
            .map_err(|source| RuntimeError::Run {
                graph: self.name.clone(),
                source,
            })
    }

    fn check_spec(&self) -> Result<(), RuntimeError> {
        let io = |outlets: &[ort::value::Outlet]| -> Vec<(String, Result<DType, String>)> {
            outlets
                .iter()
                .map(|o| (o.name().to_string(), value_dtype(o.dtype())))
                .collect()
        };
        let diffs = spec_differences(
            &self.spec,
            &io(self.session.inputs()),
            &io(self.session.outputs()),
        );
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(RuntimeError::SpecMismatch {
                graph: self.name.clone(),
                path: self.path.clone(),
                differences: diffs,
            })
        }
    }

    /// Runs the graph. Every input the manifest declares must be given exactly by name, with the
    /// declared element type; shapes are checked by ONNX Runtime. Outputs are all of the graph's,
    /// read back by name from the returned [`GraphOutputs`].
    pub fn run(&mut self, inputs: &[(&str, Input<'_>)]) -> Result<GraphOutputs, RuntimeError> {
        for (name, input) in inputs {
            check_input(&self.name, &self.spec, name, input)?;
        }
        if let Some(missing) = self
            .spec
            .inputs
            .iter()
            .find(|s| !inputs.iter().any(|(n, _)| *n == s.name))
        {
            return Err(RuntimeError::MissingInput {
                graph: self.name.clone(),
                name: missing.name.clone(),
            });
        }
        let mut feed: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for (name, input) in inputs {
            let value = input.to_ort().map_err(|source| RuntimeError::InputTensor {
                graph: self.name.clone(),
                name: name.to_string(),
                source,
            })?;
            feed.push((Cow::Borrowed(*name), value));
        }
        let outputs = self.session.run(feed).map_err(|source| RuntimeError::Run {
            graph: self.name.clone(),
            source,
        })?;
        Ok(GraphOutputs::collect(&self.name, outputs))
    }
}

/// Fails unless the manifest declares input `name` with `input`'s element type.
fn check_input(
    graph: &str,
    spec: &GraphSpec,
    name: &str,
    input: &Input<'_>,
) -> Result<(), RuntimeError> {
    let Some(want) = spec.inputs.iter().find(|s| s.name == name) else {
        return Err(RuntimeError::UnknownInput {
            graph: graph.to_string(),
            name: name.to_string(),
            expected: join(spec.inputs.iter().map(|s| s.name.as_str())),
        });
    };
    let actual = input.dtype();
    if actual.as_ref().ok() != Some(&want.dtype) {
        return Err(RuntimeError::InputType {
            graph: graph.to_string(),
            name: name.to_string(),
            expected: dtype_name(want.dtype).into(),
            actual: match actual {
                Ok(d) => dtype_name(d).into(),
                Err(s) => s,
            },
        });
    }
    Ok(())
}

fn join<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

/// The outputs of one run, looked up by name. Never indexed by position.
#[derive(Debug)]
pub struct GraphOutputs {
    graph: String,
    values: Vec<(String, DynValue)>,
}

impl GraphOutputs {
    /// Takes every value of one run's outputs, by name.
    fn collect(graph: &str, outputs: ort::session::SessionOutputs<'_>) -> GraphOutputs {
        GraphOutputs {
            graph: graph.to_string(),
            values: outputs
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
        }
    }

    /// Output names, in the graph's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|(n, _)| n.as_str())
    }

    fn missing(&self, name: &str) -> RuntimeError {
        RuntimeError::MissingOutput {
            graph: self.graph.clone(),
            name: name.to_string(),
            available: join(self.names()),
        }
    }

    /// The ONNX Runtime value of output `name`.
    pub fn get(&self, name: &str) -> Result<&DynValue, RuntimeError> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| self.missing(name))
    }

    /// Removes and returns output `name`, e.g. to feed it to the next run as [`Input::Value`].
    pub fn take(&mut self, name: &str) -> Result<DynValue, RuntimeError> {
        match self.values.iter().position(|(n, _)| n == name) {
            Some(i) => Ok(self.values.swap_remove(i).1),
            None => Err(self.missing(name)),
        }
    }

    /// Borrowed view of output `name` as element type `T` (host memory only).
    pub fn view<T: PrimitiveTensorElementType>(
        &self,
        name: &str,
    ) -> Result<ArrayViewD<'_, T>, RuntimeError> {
        self.get(name)?
            .try_extract_array::<T>()
            .map_err(|source| RuntimeError::OutputType {
                graph: self.graph.clone(),
                name: name.to_string(),
                requested: std::any::type_name::<T>(),
                source,
            })
    }

    /// Owned copy of f32 output `name`.
    pub fn f32(&self, name: &str) -> Result<ArrayD<f32>, RuntimeError> {
        self.view::<f32>(name).map(|v| v.to_owned())
    }

    /// Owned copy of i64 output `name`.
    pub fn i64(&self, name: &str) -> Result<ArrayD<i64>, RuntimeError> {
        self.view::<i64>(name).map(|v| v.to_owned())
    }

    /// Owned copy of bool output `name`.
    pub fn bool(&self, name: &str) -> Result<ArrayD<bool>, RuntimeError> {
        self.view::<bool>(name).map(|v| v.to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use unival_manifest::{Dim, TensorSpec};

    fn spec() -> GraphSpec {
        let t = |name: &str, dtype| TensorSpec {
            name: name.into(),
            dtype,
            dims: vec![Dim::Symbol("n".into())],
        };
        GraphSpec {
            file: "g.onnx".into(),
            external_data: None,
            inputs: vec![t("x", DType::F32), t("ids", DType::I64)],
            outputs: vec![t("y", DType::F32)],
        }
    }

    #[test]
    fn matching_io_has_no_differences() {
        let ins = vec![("ids".into(), Ok(DType::I64)), ("x".into(), Ok(DType::F32))];
        let outs = vec![("y".into(), Ok(DType::F32))];
        assert!(spec_differences(&spec(), &ins, &outs).is_empty());
    }

    #[test]
    fn every_difference_is_listed() {
        let ins = vec![
            ("x".into(), Ok(DType::F16)),
            ("extra".into(), Ok(DType::F32)),
        ];
        let outs = vec![("y".into(), Err("u8".to_string()))];
        let d = spec_differences(&spec(), &ins, &outs);
        assert_eq!(
            d,
            [
                "input `x` is f16 in the graph, f32 in the manifest",
                "input `ids` is in the manifest but not in the graph",
                "input `extra` is in the graph but not in the manifest",
                "output `y` is u8 in the graph, f32 in the manifest",
            ]
        );
    }

    /// `y = x · w` for a `[2, 3]` input, written with the exporter's builder.
    pub(super) fn matmul_graph(dir: &Path) -> (PathBuf, GraphSpec) {
        use unival_export::onnx::{write::write_model, GraphBuilder};
        let mut b = GraphBuilder::new("mm", DType::F32);
        let x = b.input("x", DType::F32, vec![Dim::Fixed(2), Dim::Fixed(3)]);
        let w = b.weight("w", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let y = b.node("MatMul", "y", &[x, w], &[]);
        b.output("y", y, DType::F32, vec![Dim::Fixed(2), Dim::Fixed(2)]);
        let (inputs, outputs) = b.specs();
        let path = dir.join("mm.onnx");
        write_model(b.finish("test"), &path, false).unwrap();
        let spec = GraphSpec {
            file: "mm.onnx".into(),
            external_data: None,
            inputs,
            outputs,
        };
        (path, spec)
    }

    fn run_mm(g: &mut GraphSession) -> Vec<f32> {
        let x = ndarray::Array2::<f32>::from_shape_vec((2, 3), vec![1.0, 0.0, 0.0, 0.0, 1.0, 1.0])
            .unwrap();
        let out = g.run(&[("x", Input::from(&x))]).unwrap();
        out.f32("y").unwrap().iter().copied().collect()
    }

    #[test]
    fn optimised_graphs_are_saved_reloaded_and_replaced_when_broken() {
        let dir = tempfile::tempdir().unwrap();
        let (path, spec) = matmul_graph(dir.path());
        let opts = SessionOptions {
            device: ep::Device::Cpu,
            intra_threads: Some(1),
            optimized_cache: Some(dir.path().join("cache")),
            cache_key: Some("k".into()),
            cpu_arena: false,
            intra_spinning: false,
            ..SessionOptions::default()
        };
        let want = vec![1.0, 2.0, 8.0, 10.0];
        let mut g = GraphSession::load("mm", &path, &spec, &opts).unwrap();
        assert_eq!(run_mm(&mut g), want);
        let version = ort_lib::init().unwrap().version().to_string();
        let cached = ep::optimized_model_path(
            &dir.path().join("cache"),
            "k",
            &version,
            "mm",
            opts.optimization_level,
        );
        assert!(cached.is_file(), "{} not written", cached.display());
        // Loaded from the cache: the original may even be gone.
        let moved = dir.path().join("gone.onnx");
        std::fs::rename(&path, &moved).unwrap();
        std::fs::write(&path, b"not onnx").unwrap();
        let mut g = GraphSession::load("mm", &path, &spec, &opts).unwrap();
        assert_eq!(run_mm(&mut g), want);
        // A broken cache entry is dropped and rebuilt from the original.
        std::fs::rename(&moved, &path).unwrap();
        std::fs::write(&cached, b"truncated").unwrap();
        let mut g = GraphSession::load("mm", &path, &spec, &opts).unwrap();
        assert_eq!(run_mm(&mut g), want);
        assert!(std::fs::metadata(&cached).unwrap().len() > 100);
    }
}
