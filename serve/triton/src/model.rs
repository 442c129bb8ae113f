//! A model as Triton configures it: which task it serves, where its bundle is, whether its
//! responses are decoupled, read from the model configuration JSON ([`ModelConfig::parse`])
//! and the repository location.

use crate::ffi;
use crate::interface::inputs;
use crate::status::{check, read_c_str, BackendError};
use serde_json::Value;
use std::path::PathBuf;
use unival_manifest::TaskKind;
use unival_runtime::Device;

/// What the backend takes from `config.pbtxt`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub name: String,
    pub task: TaskKind,
    /// `model_transaction_policy { decoupled: true }`.
    pub decoupled: bool,
    /// Parameter `device`: `cuda` (default on GPU instances) or `tensorrt`.
    pub gpu_provider: GpuProvider,
    /// Parameter `threads`: ONNX Runtime intra-op threads per instance.
    pub threads: Option<usize>,
}

/// The ONNX Runtime provider of GPU instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuProvider {
    Cuda,
    TensorRt,
}

impl GpuProvider {
    /// The runtime device on GPU `id`.
    pub fn device(self, id: i32) -> Device {
        match self {
            GpuProvider::Cuda => Device::Cuda(id),
            GpuProvider::TensorRt => Device::TensorRt(id),
        }
    }
}

/// `parameters { key: K value: { string_value: V } }`.
fn parameter<'a>(config: &'a Value, key: &str) -> Option<&'a str> {
    config["parameters"][key]["string_value"].as_str()
}

impl ModelConfig {
    /// Reads the configuration JSON Triton gives the backend.
    pub fn parse(json: &str) -> Result<ModelConfig, BackendError> {
        let config: Value = serde_json::from_str(json)
            .map_err(|e| BackendError::Config(format!("model configuration: {e}")))?;
        let name = config["name"].as_str().unwrap_or_default().to_string();
        let bad = |m: String| BackendError::Config(format!("model {name}: {m}"));
        let task: TaskKind = parameter(&config, "task")
            .ok_or_else(|| bad("config.pbtxt needs parameters { key: \"task\" … }".into()))?
            .parse()
            .map_err(bad)?;
        let declared: Vec<&str> = config["input"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["name"].as_str()).collect())
            .unwrap_or_default();
        for needed in inputs(task) {
            if !declared.contains(&needed) {
                return Err(bad(format!(
                    "task {} needs input {needed} (write the repository with `unival triton-repo`)",
                    task.name()
                )));
            }
        }
        let gpu_provider = match parameter(&config, "device") {
            None | Some("cuda") => GpuProvider::Cuda,
            Some("tensorrt") => GpuProvider::TensorRt,
            Some(other) => return Err(bad(format!("device `{other}`: expected cuda or tensorrt"))),
        };
        let threads = match parameter(&config, "threads") {
            None => None,
            Some(t) => Some(
                t.parse()
                    .map_err(|_| bad(format!("threads `{t}` is not a count")))?,
            ),
        };
        Ok(ModelConfig {
            name,
            task,
            decoupled: config["model_transaction_policy"]["decoupled"].as_bool() == Some(true),
            gpu_provider,
            threads,
        })
    }
}

/// The backend's state of one model: its configuration and bundle directory.
#[derive(Debug)]
pub struct ModelState {
    pub config: ModelConfig,
    /// `<repository>/<model>/<version>`.
    pub bundle: PathBuf,
}

impl ModelState {
    /// Reads `model`'s configuration and location.
    ///
    /// # Safety
    /// `model` is a live model handle.
    pub unsafe fn read(model: *mut ffi::TRITONBACKEND_Model) -> Result<ModelState, BackendError> {
        let mut message = std::ptr::null_mut();
        check(ffi::TRITONBACKEND_ModelConfig(model, 1, &mut message))?;
        let (mut base, mut size) = (std::ptr::null(), 0usize);
        let serialized = check(ffi::TRITONSERVER_MessageSerializeToJson(
            message, &mut base, &mut size,
        ));
        let json = match serialized {
            Ok(()) if !base.is_null() => {
                let bytes = std::slice::from_raw_parts(base.cast::<u8>(), size);
                Ok(String::from_utf8_lossy(bytes).into_owned())
            }
            Ok(()) => Err(BackendError::Triton("empty model configuration".into())),
            Err(e) => Err(e),
        };
        check(ffi::TRITONSERVER_MessageDelete(message))?;
        let config = ModelConfig::parse(&json?)?;
        let (mut kind, mut location) = (0, std::ptr::null());
        check(ffi::TRITONBACKEND_ModelRepository(
            model,
            &mut kind,
            &mut location,
        ))?;
        let mut version = 0u64;
        check(ffi::TRITONBACKEND_ModelVersion(model, &mut version))?;
        let bundle = PathBuf::from(read_c_str(location)).join(version.to_string());
        Ok(ModelState { config, bundle })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_task_inputs_and_policy_come_from_the_config() {
        let json = r#"{"name":"g","input":[{"name":"IMAGE"},{"name":"TEXT"}],
            "parameters":{"task":{"string_value":"refcoco"},"threads":{"string_value":"2"}},
            "model_transaction_policy":{"decoupled":true}}"#;
        let c = ModelConfig::parse(json).unwrap();
        assert_eq!(c.task, TaskKind::Refcoco);
        assert!(c.decoupled);
        assert_eq!(c.threads, Some(2));
        assert_eq!(c.gpu_provider.device(1), Device::Cuda(1));

        let no_text = r#"{"name":"g","input":[{"name":"IMAGE"}],
            "parameters":{"task":{"string_value":"refcoco"}}}"#;
        let e = ModelConfig::parse(no_text).unwrap_err().to_string();
        assert!(e.contains("needs input TEXT"), "{e}");
        let e = ModelConfig::parse(r#"{"name":"g"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("parameters { key: \"task\""), "{e}");
        let bad_task = r#"{"name":"g","parameters":{"task":{"string_value":"dance"}}}"#;
        assert!(ModelConfig::parse(bad_task)
            .unwrap_err()
            .to_string()
            .contains("unknown task"));
    }
}
