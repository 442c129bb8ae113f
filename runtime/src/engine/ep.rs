//! Execution providers: which device a graph runs on, how the user asks for it, and the one
//! status line that says what was actually chosen.
//!
//! `--device` takes `cpu`, `cuda`, `cuda:N`, `tensorrt`, `tensorrt:N` or `auto`. An explicitly
//! requested provider that cannot be registered is an error
//! ([`crate::RuntimeError::ProviderUnavailable`]); `auto` tries TensorRT, then CUDA, then the CPU,
//! and the [`ProviderReport`] records why each earlier choice was skipped. With `ort`'s
//! `load-dynamic` nothing here needs CUDA at build time: whether a provider exists is decided by
//! the ONNX Runtime library loaded at run time.

use crate::error::RuntimeError;
use ort::ep::ExecutionProvider;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The device a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// ONNX Runtime's default CPU provider.
    Cpu,
    /// CUDA provider on the given GPU.
    Cuda(i32),
    /// TensorRT provider on the given GPU (CUDA takes the nodes TensorRT lacks).
    TensorRt(i32),
    /// TensorRT → CUDA → CPU, the first that works.
    #[default]
    Auto,
}

impl Device {
    /// Whether the user named a provider (so failing to get it is an error).
    pub fn is_explicit(self) -> bool {
        self != Device::Auto
    }
}

impl FromStr for Device {
    type Err = RuntimeError;
    /// Parses `cpu|cuda|cuda:N|tensorrt|tensorrt:N|auto` (`trt` is accepted for `tensorrt`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || RuntimeError::BadDevice {
            value: s.to_string(),
        };
        let lower = s.trim().to_ascii_lowercase();
        let (kind, id) = match lower.split_once(':') {
            Some((k, n)) => (
                k,
                Some(n.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(bad)?),
            ),
            None => (lower.as_str(), None),
        };
        match (kind, id) {
            ("cpu", None) => Ok(Device::Cpu),
            ("auto", None) => Ok(Device::Auto),
            ("cuda", id) => Ok(Device::Cuda(id.unwrap_or(0))),
            ("tensorrt" | "trt", id) => Ok(Device::TensorRt(id.unwrap_or(0))),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(id) => write!(f, "cuda:{id}"),
            Device::TensorRt(id) => write!(f, "tensorrt:{id}"),
            Device::Auto => f.write_str("auto"),
        }
    }
}

/// ONNX Runtime graph optimisation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptLevel {
    /// No rewrites: runs the graph exactly as exported (parity debugging).
    Disable,
    /// Constant folding and redundant-node removal.
    Basic,
    /// Plus fusions (LayerNorm, GELU, attention) on CPU/CUDA.
    Extended,
    /// Everything, including layout changes.
    #[default]
    All,
}

impl OptLevel {
    pub(crate) fn to_ort(self) -> GraphOptimizationLevel {
        match self {
            OptLevel::Disable => GraphOptimizationLevel::Disable,
            OptLevel::Basic => GraphOptimizationLevel::Level1,
            OptLevel::Extended => GraphOptimizationLevel::Level2,
            OptLevel::All => GraphOptimizationLevel::All,
        }
    }
}

impl FromStr for OptLevel {
    type Err = RuntimeError;
    /// Parses `disable|basic|extended|all`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "disable" | "none" => Ok(OptLevel::Disable),
            "basic" => Ok(OptLevel::Basic),
            "extended" => Ok(OptLevel::Extended),
            "all" => Ok(OptLevel::All),
            _ => Err(RuntimeError::BadOptLevel {
                value: s.to_string(),
            }),
        }
    }
}

/// How sessions are built: device, threads, optimisation, memory, TensorRT settings.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Requested device.
    pub device: Device,
    /// Threads inside one operator; `None` lets ONNX Runtime choose (one per core).
    pub intra_threads: Option<usize>,
    /// Graph rewrites ONNX Runtime applies at load.
    pub optimization_level: OptLevel,
    /// Let TensorRT build fp16 engines.
    pub trt_fp16: bool,
    /// Root directory of TensorRT engine caches; engines go to
    /// `<root>/<cache_key>/ort-<version>/` (see [`trt_cache_dir`]). `None` disables the cache.
    pub trt_engine_cache: Option<PathBuf>,
    /// Identifies the exact model for the engine cache; `Bundle::open` sets it to the
    /// manifest's bundle hash.
    pub cache_key: Option<String>,
    /// Let ONNX Runtime pre-pack constant weights into its kernels' layouts at load
    /// (`session.disable_prepacking` = 0, its default). Off keeps one copy of each weight.
    pub prepacking: bool,
    /// The CPU provider's arena allocator (on by default): keeps freed activation buffers for
    /// reuse instead of returning them to the system.
    pub cpu_arena: bool,
    /// Plan activation buffers from the first run's shapes (`EnableMemPattern`, on by default).
    pub memory_pattern: bool,
    /// Intra-op worker threads spin while waiting for work (`session.intra_op.allow_spinning`,
    /// on by default): lower latency per operator, CPU burnt between operators.
    pub intra_spinning: bool,
    /// Root directory of ONNX Runtime's optimised graphs (CPU provider only): the first load
    /// of a graph saves its optimised form under `<root>/<cache_key>/ort-<version>/`
    /// ([`optimized_model_path`]) and later loads read that instead of optimising again.
    /// `None` disables the cache.
    pub optimized_cache: Option<PathBuf>,
    /// Write ONNX Runtime's per-node profile of every session into this directory
    /// (`<dir>/<graph>_<timestamp>.json`, closed by [`crate::GraphSession::end_profiling`];
    /// read with [`crate::engine::profile::GraphProfile`]). Profiling slows runs down a little.
    pub profile_dir: Option<PathBuf>,
    /// TensorRT optimisation-profile ranges of the graphs' symbolic dimensions; `Bundle::open`
    /// fills them from the manifest ([`crate::engine::trt_shapes::dim_ranges`]). Empty: no
    /// profiles.
    pub trt_dim_ranges: std::collections::BTreeMap<String, crate::engine::trt_shapes::DimRange>,
}

impl Default for SessionOptions {
    /// Automatic device, ONNX Runtime's thread count, every graph optimisation, ONNX Runtime's
    /// memory defaults (pre-packing, arena, memory pattern, spinning on), no caches.
    fn default() -> Self {
        SessionOptions {
            device: Device::default(),
            intra_threads: None,
            optimization_level: OptLevel::default(),
            trt_fp16: false,
            trt_engine_cache: None,
            cache_key: None,
            prepacking: true,
            cpu_arena: true,
            memory_pattern: true,
            intra_spinning: true,
            optimized_cache: None,
            profile_dir: None,
            trt_dim_ranges: std::collections::BTreeMap::new(),
        }
    }
}

/// A provider as configured for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provider {
    /// `CPUExecutionProvider`.
    Cpu,
    /// `CUDAExecutionProvider` on a GPU.
    Cuda {
        /// CUDA device ordinal.
        device: i32,
    },
    /// `TensorrtExecutionProvider` on a GPU, CUDA registered after it as the fallback.
    TensorRt {
        /// CUDA device ordinal.
        device: i32,
        /// fp16 engines allowed.
        fp16: bool,
        /// Engine cache directory, when caching.
        engine_cache: Option<PathBuf>,
    },
}

impl Provider {
    /// ONNX Runtime's name of the provider.
    pub fn ort_name(&self) -> &'static str {
        match self {
            Provider::Cpu => ort::ep::CPU::NAME,
            Provider::Cuda { .. } => ort::ep::CUDA::NAME,
            Provider::TensorRt { .. } => ort::ep::TensorRT::NAME,
        }
    }

    /// Whether the loaded ONNX Runtime library was built with this provider.
    pub fn compiled_in(&self) -> bool {
        let available = match self {
            Provider::Cpu => Ok(true),
            Provider::Cuda { .. } => ort::ep::CUDA::is_available(),
            Provider::TensorRt { .. } => ort::ep::TensorRT::is_available(),
        };
        available.unwrap_or(false)
    }

    /// Registers the provider on a session builder (`ExecutionProvider::register`). The CPU
    /// provider needs no registration (ONNX Runtime always has it as the last resort) unless
    /// its arena is to be turned off.
    pub(crate) fn register(
        &self,
        builder: &mut SessionBuilder,
        cpu_arena: bool,
        trt_profile: Option<&[String; 3]>,
    ) -> ort::Result<()> {
        match self {
            // ONNX Runtime adds the CPU provider itself; registering it is needed only to turn
            // its arena off.
            Provider::Cpu if cpu_arena => Ok(()),
            Provider::Cpu => ort::ep::CPU::default()
                .with_arena_allocator(false)
                .register(builder),
            Provider::Cuda { device } => ort::ep::CUDA::default()
                .with_device_id(*device)
                .register(builder),
            Provider::TensorRt {
                device,
                fp16,
                engine_cache,
            } => {
                // fp16 engines keep LayerNorm in fp32 (ARCHITECTURE.md §4: it overflows in fp16).
                let mut trt = ort::ep::TensorRT::default()
                    .with_device_id(*device)
                    .with_fp16(*fp16)
                    .with_layer_norm_fp32_fallback(*fp16);
                if let Some([min, opt, max]) = trt_profile {
                    trt = trt
                        .with_profile_min_shapes(min)
                        .with_profile_opt_shapes(opt)
                        .with_profile_max_shapes(max);
                }
                if let Some(dir) = engine_cache {
                    let dir = dir.display().to_string();
                    trt = trt
                        .with_engine_cache(true)
                        .with_engine_cache_path(&dir)
                        .with_timing_cache(true)
                        .with_timing_cache_path(&dir);
                }
                trt.register(builder)?;
                // Nodes TensorRT cannot take go to CUDA rather than the CPU when CUDA exists;
                // without it they still run (on the CPU), so a failure here is not fatal.
                let _ = ort::ep::CUDA::default()
                    .with_device_id(*device)
                    .register(builder);
                Ok(())
            }
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provider::Cpu => f.write_str(self.ort_name()),
            Provider::Cuda { device } => write!(
                f,
                "{} (device {device}; nodes it lacks run on the CPU)",
                self.ort_name()
            ),
            Provider::TensorRt {
                device,
                fp16,
                engine_cache,
            } => {
                write!(
                    f,
                    "{} (device {device}, fp16 {}, engine cache ",
                    self.ort_name(),
                    if *fp16 { "on" } else { "off" }
                )?;
                match engine_cache {
                    Some(dir) => write!(f, "{}", dir.display())?,
                    None => f.write_str("off")?,
                }
                f.write_str("; CUDA then CPU take the nodes it lacks)")
            }
        }
    }
}

/// The providers to try for a device, in order.
pub fn candidates(opts: &SessionOptions, ort_version: &str) -> Vec<Provider> {
    let trt = |device| Provider::TensorRt {
        device,
        fp16: opts.trt_fp16,
        engine_cache: opts.trt_engine_cache.as_deref().map(|root| {
            trt_cache_dir(
                root,
                opts.cache_key.as_deref().unwrap_or("default"),
                ort_version,
            )
        }),
    };
    match opts.device {
        Device::Cpu => vec![Provider::Cpu],
        Device::Cuda(device) => vec![Provider::Cuda { device }],
        Device::TensorRt(device) => vec![trt(device)],
        Device::Auto => vec![trt(0), Provider::Cuda { device: 0 }, Provider::Cpu],
    }
}

/// `<root>/<key>/ort-<version>`: TensorRT engines are only valid for the exact model and the
/// exact ONNX Runtime/TensorRT build, so both are part of the path. Unsafe characters in the key
/// become `_`.
pub fn trt_cache_dir(root: &Path, key: &str, ort_version: &str) -> PathBuf {
    root.join(path_safe(key))
        .join(format!("ort-{}", path_safe(ort_version)))
}

/// `s` with every character but ASCII alphanumerics, `-`, `_` and `.` replaced by `_`; a name of
/// dots only (`.`, `..`, which would step out of a directory) becomes underscores.
fn path_safe(s: &str) -> String {
    let safe: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.chars().all(|c| c == '.') {
        "_".repeat(safe.len().max(1))
    } else {
        safe
    }
}

/// `<root>/<key>/ort-<version>/<graph>.<level>.onnx`: where the optimised form of `graph` is
/// cached. An optimised graph is only valid for the exact model, ONNX Runtime build and
/// optimisation level (level `all` also bakes in this CPU's layouts), so all are in the path.
pub fn optimized_model_path(
    root: &Path,
    key: &str,
    ort_version: &str,
    graph: &str,
    level: OptLevel,
) -> PathBuf {
    let level = match level {
        OptLevel::Disable => "disable",
        OptLevel::Basic => "basic",
        OptLevel::Extended => "extended",
        OptLevel::All => "all",
    };
    trt_cache_dir(root, key, ort_version).join(format!("{}.{level}.onnx", path_safe(graph)))
}

/// What a session actually runs on, for the one status line printed after it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderReport {
    /// Graph name.
    pub graph: String,
    /// The provider the session was built with.
    pub provider: Provider,
    /// Providers `auto` tried first, each with the reason it was skipped.
    pub skipped: Vec<(String, String)>,
}

impl fmt::Display for ProviderReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "graph `{}` runs on {}", self.graph, self.provider)?;
        if !self.skipped.is_empty() {
            f.write_str(" [auto: ")?;
            for (i, (name, why)) in self.skipped.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "{name} skipped: {why}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse() {
        let p = |s: &str| s.parse::<Device>().unwrap();
        assert_eq!(p("cpu"), Device::Cpu);
        assert_eq!(p("CUDA"), Device::Cuda(0));
        assert_eq!(p("cuda:1"), Device::Cuda(1));
        assert_eq!(p("tensorrt"), Device::TensorRt(0));
        assert_eq!(p("trt:2"), Device::TensorRt(2));
        assert_eq!(p("auto"), Device::Auto);
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", "cpu:0", ""] {
            let err = bad.parse::<Device>().unwrap_err();
            assert!(
                err.to_string().contains("expected cpu, cuda"),
                "{bad}: {err}"
            );
        }
        assert_eq!(p("cuda:3").to_string(), "cuda:3");
    }

    #[test]
    fn opt_levels_parse() {
        assert_eq!("basic".parse::<OptLevel>().unwrap(), OptLevel::Basic);
        assert_eq!("ALL".parse::<OptLevel>().unwrap(), OptLevel::All);
        assert!("fast".parse::<OptLevel>().is_err());
    }

    #[test]
    fn auto_tries_tensorrt_then_cuda_then_cpu() {
        let opts = SessionOptions {
            trt_engine_cache: Some("/cache".into()),
            cache_key: Some("abc123".into()),
            trt_fp16: true,
            ..Default::default()
        };
        let c = candidates(&opts, "1.22.1");
        let names: Vec<_> = c.iter().map(Provider::ort_name).collect();
        assert_eq!(
            names,
            [
                "TensorrtExecutionProvider",
                "CUDAExecutionProvider",
                "CPUExecutionProvider"
            ]
        );
        assert_eq!(
            c[0],
            Provider::TensorRt {
                device: 0,
                fp16: true,
                engine_cache: Some("/cache/abc123/ort-1.22.1".into())
            }
        );
        let cpu = SessionOptions {
            device: Device::Cpu,
            ..Default::default()
        };
        assert_eq!(candidates(&cpu, "1.22.1"), [Provider::Cpu]);
    }

    #[test]
    fn cache_dir_is_keyed_and_sanitised() {
        let d = trt_cache_dir(Path::new("/c"), "../x y", "1.22.1");
        assert_eq!(d, PathBuf::from("/c/.._x_y/ort-1.22.1"));
        assert_eq!(
            trt_cache_dir(Path::new("/c"), "..", "1"),
            PathBuf::from("/c/__/ort-1")
        );
    }

    #[test]
    fn optimized_models_are_keyed_by_bundle_version_graph_and_level() {
        let p = optimized_model_path(Path::new("/c"), "abc", "1.22.1", "decoder", OptLevel::All);
        assert_eq!(p, PathBuf::from("/c/abc/ort-1.22.1/decoder.all.onnx"));
        let q = optimized_model_path(Path::new("/c"), "abc", "1.22.1", "../x", OptLevel::Basic);
        assert_eq!(q, PathBuf::from("/c/abc/ort-1.22.1/.._x.basic.onnx"));
    }

    #[test]
    fn report_line_names_provider_and_skips() {
        let r = ProviderReport {
            graph: "decoder".into(),
            provider: Provider::Cpu,
            skipped: vec![("CUDAExecutionProvider".into(), "not in this build".into())],
        };
        assert_eq!(
            r.to_string(),
            "graph `decoder` runs on CPUExecutionProvider [auto: CUDAExecutionProvider skipped: not in this build]"
        );
    }
}
