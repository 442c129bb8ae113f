//! Bound runs: graphs run through an ONNX Runtime I/O binding (ARCHITECTURE.md §3, issue 6 item 4).
//!
//! An input bound once stays bound for every later run until it is rebound, so per-caption
//! inputs (cross-attention K/V, encoder outputs) reach the provider once, not once per step.
//! Each output is allocated by ONNX Runtime where its [`Place`] says: on the provider's device
//! (a KV cache the next step takes back as its input, never copied through the host) or in host
//! memory (logits the search reads). Outputs get fresh buffers on every run, so a value taken
//! from one run and bound as the next run's input is never overwritten by that run.

use super::{check_input, join, GraphOutputs, GraphSession, Input};
use crate::engine::ep::Provider;
use crate::error::RuntimeError;
use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::IoBinding;
use ort::value::{DynValue, Tensor};
use unival_manifest::GraphSpec;

/// The memory a provider computes in: where a value that only the graph reads should stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMemory {
    /// Host memory (the CPU provider).
    Host,
    /// Device memory of CUDA device `n` (the CUDA and TensorRT providers).
    Cuda(i32),
}

impl DeviceMemory {
    /// The memory a session running on `provider` computes in.
    pub fn of(provider: &Provider) -> DeviceMemory {
        match provider {
            Provider::Cpu => DeviceMemory::Host,
            Provider::Cuda { device } | Provider::TensorRt { device, .. } => {
                DeviceMemory::Cuda(*device)
            }
        }
    }

    fn memory_info(self) -> ort::Result<MemoryInfo<'static>> {
        let (device, id) = match self {
            DeviceMemory::Host => (AllocationDevice::CPU, 0),
            DeviceMemory::Cuda(n) => (AllocationDevice::CUDA, n),
        };
        MemoryInfo::new(device, id, AllocatorType::Device, MemoryType::Default)
    }
}

/// Where a bound output is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The provider's own memory ([`DeviceMemory::of`] the session's provider): for values
    /// fed back to the graph.
    Device,
    /// Host memory: for values the caller reads.
    Host,
}

/// An I/O binding of one [`GraphSession`]: made by [`GraphSession::binding`], filled with
/// [`GraphBinding::bind_input`] / [`GraphBinding::bind_output`], run by
/// [`GraphSession::run_bound`].
#[derive(Debug)]
pub struct GraphBinding {
    graph: String,
    spec: GraphSpec,
    binding: IoBinding,
    device: MemoryInfo<'static>,
    host: MemoryInfo<'static>,
    inputs: Vec<String>,
    outputs: Vec<(String, Place)>,
}

impl GraphBinding {
    fn error(&self, name: &str) -> impl FnOnce(ort::Error) -> RuntimeError {
        let (graph, name) = (self.graph.clone(), name.to_string());
        move |source| RuntimeError::Binding {
            graph,
            name,
            source,
        }
    }

    /// Binds input `name` for this and every later run until rebound. A [`Input::Value`] is
    /// bound as it is (ONNX Runtime copies it only when it lives on another device than the
    /// provider wants); array views are copied once into an owned tensor. The name and element
    /// type are checked against the manifest like [`GraphSession::run`] does.
    pub fn bind_input(&mut self, name: &str, input: Input<'_>) -> Result<(), RuntimeError> {
        check_input(&self.graph, &self.spec, name, &input)?;
        let bound = match input {
            Input::Value(v) => self.binding.bind_input(name, v),
            Input::F32(v) => owned(&v).and_then(|t| self.binding.bind_input(name, &t)),
            Input::I64(v) => owned(&v).and_then(|t| self.binding.bind_input(name, &t)),
            Input::Bool(v) => owned(&v).and_then(|t| self.binding.bind_input(name, &t)),
        };
        bound.map_err(self.error(name))?;
        if !self.inputs.iter().any(|n| n == name) {
            self.inputs.push(name.to_string());
        }
        Ok(())
    }

    /// Asks every later run for output `name`, allocated at `place`. Only bound outputs are
    /// returned by [`GraphSession::run_bound`].
    pub fn bind_output(&mut self, name: &str, place: Place) -> Result<(), RuntimeError> {
        if !self.spec.outputs.iter().any(|s| s.name == name) {
            return Err(RuntimeError::MissingOutput {
                graph: self.graph.clone(),
                name: name.to_string(),
                available: join(self.spec.outputs.iter().map(|s| s.name.as_str())),
            });
        }
        match self.outputs.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = place,
            None => self.outputs.push((name.to_string(), place)),
        }
        Ok(())
    }

    /// Gives every bound output a fresh allocation for the next run (ONNX Runtime would
    /// otherwise write into, or refuse for its new shape, the previous run's buffer).
    fn refresh_outputs(&mut self) -> Result<(), RuntimeError> {
        for (name, place) in &self.outputs {
            let info = match place {
                Place::Device => &self.device,
                Place::Host => &self.host,
            };
            self.binding
                .bind_output_to_device(name.as_str(), info)
                .map_err(|source| RuntimeError::Binding {
                    graph: self.graph.clone(),
                    name: name.clone(),
                    source,
                })?;
        }
        Ok(())
    }
}

/// An owned copy of `view` (standard layout), for binding.
fn owned<T>(view: &ndarray::ArrayViewD<'_, T>) -> ort::Result<DynValue>
where
    T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static,
{
    Tensor::from_array(view.as_standard_layout().into_owned()).map(|t| t.into_dyn())
}

impl GraphSession {
    /// The memory this session's provider computes in.
    pub fn device_memory(&self) -> DeviceMemory {
        DeviceMemory::of(&self.report.provider)
    }

    /// A new, empty I/O binding for this session.
    pub fn binding(&self) -> Result<GraphBinding, RuntimeError> {
        let err = |source| RuntimeError::Binding {
            graph: self.name.clone(),
            name: "*".to_string(),
            source,
        };
        let binding = self.session.create_binding().map_err(err)?;
        let device = self.device_memory().memory_info().map_err(err)?;
        let host = DeviceMemory::Host.memory_info().map_err(err)?;
        Ok(GraphBinding {
            graph: self.name.clone(),
            spec: self.spec.clone(),
            binding,
            device,
            host,
            inputs: Vec::new(),
            outputs: Vec::new(),
        })
    }

    /// Runs the graph on `binding`'s inputs. Every input the manifest declares must have been
    /// bound; the outputs are the bound ones, each freshly allocated at its [`Place`].
    pub fn run_bound(&mut self, binding: &mut GraphBinding) -> Result<GraphOutputs, RuntimeError> {
        if binding.graph != self.name {
            return Err(RuntimeError::BadShape {
                graph: self.name.clone(),
                reason: format!("a binding made for graph `{}`", binding.graph),
            });
        }
        if let Some(missing) = self
            .spec
            .inputs
            .iter()
            .find(|s| !binding.inputs.contains(&s.name))
        {
            return Err(RuntimeError::MissingInput {
                graph: self.name.clone(),
                name: missing.name.clone(),
            });
        }
        binding.refresh_outputs()?;
        let outputs = self
            .session
            .run_binding(&binding.binding)
            .map_err(|source| RuntimeError::Run {
                graph: self.name.clone(),
                source,
            })?;
        Ok(GraphOutputs::collect(&self.name, outputs))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::tests::matmul_graph;
    use super::*;
    use crate::engine::ep::{self, SessionOptions};
    use ndarray::Array2;

    #[test]
    fn caches_stay_where_the_provider_computes() {
        assert_eq!(DeviceMemory::of(&Provider::Cpu), DeviceMemory::Host);
        assert_eq!(
            DeviceMemory::of(&Provider::Cuda { device: 1 }),
            DeviceMemory::Cuda(1)
        );
        let trt = Provider::TensorRt {
            device: 2,
            fp16: true,
            engine_cache: None,
        };
        assert_eq!(DeviceMemory::of(&trt), DeviceMemory::Cuda(2));
    }

    fn session(dir: &std::path::Path) -> GraphSession {
        let (path, spec) = matmul_graph(dir);
        let opts = SessionOptions {
            device: ep::Device::Cpu,
            intra_threads: Some(1),
            ..SessionOptions::default()
        };
        GraphSession::load("mm", &path, &spec, &opts).unwrap()
    }

    fn x(values: [f32; 6]) -> Array2<f32> {
        Array2::from_shape_vec((2, 3), values.to_vec()).unwrap()
    }

    #[test]
    fn bound_runs_equal_plain_runs_and_keep_earlier_outputs_intact() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = session(dir.path());
        assert_eq!(g.device_memory(), DeviceMemory::Host);
        let mut b = g.binding().unwrap();
        let err = g.run_bound(&mut b).unwrap_err();
        assert!(matches!(err, RuntimeError::MissingInput { ref name, .. } if name == "x"));

        let x1 = x([1.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
        b.bind_input("x", Input::from(&x1)).unwrap();
        b.bind_output("y", Place::Device).unwrap();
        let plain = g.run(&[("x", Input::from(&x1))]).unwrap().f32("y").unwrap();
        let mut first = g.run_bound(&mut b).unwrap();
        let first = first.take("y").unwrap();
        let (_, y1) = first.try_extract_tensor::<f32>().unwrap();
        assert_eq!(y1, plain.as_slice().unwrap());

        // Rebinding replaces the input; the earlier output keeps its values.
        let x2 = x([0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
        b.bind_input("x", Input::from(&x2)).unwrap();
        b.bind_output("y", Place::Host).unwrap();
        let second = g.run_bound(&mut b).unwrap().f32("y").unwrap();
        assert_eq!(second.as_slice().unwrap(), &[3.0, 4.0, 1.0, 2.0]);
        let (_, y1_again) = first.try_extract_tensor::<f32>().unwrap();
        assert_eq!(y1_again, plain.as_slice().unwrap());

        // Bound inputs stay bound: a second run needs no rebinding.
        let same = g.run_bound(&mut b).unwrap().f32("y").unwrap();
        assert_eq!(same, second);
    }

    #[test]
    fn unknown_names_and_wrong_types_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let g = session(dir.path());
        let mut b = g.binding().unwrap();
        let ids = ndarray::Array2::<i64>::zeros((2, 3));
        let err = b.bind_input("x", Input::from(&ids)).unwrap_err();
        assert!(matches!(err, RuntimeError::InputType { .. }), "{err}");
        let err = b.bind_input("nope", Input::from(&ids)).unwrap_err();
        assert!(matches!(err, RuntimeError::UnknownInput { .. }), "{err}");
        let err = b.bind_output("z", Place::Host).unwrap_err();
        assert!(matches!(err, RuntimeError::MissingOutput { .. }), "{err}");
    }
}
