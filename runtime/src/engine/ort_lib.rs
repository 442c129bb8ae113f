//! Finding and initialising the ONNX Runtime shared library, once per process.
//!
//! `ort` is built with `load-dynamic`: nothing links against ONNX Runtime at build time, and the
//! library is opened here at run time. Search order (first hit wins):
//!
//! 1. `ORT_DYLIB_PATH` (a missing file is an error, never silently skipped);
//! 2. the project cache `.cache/onnxruntime/<version>/libonnxruntime.so*` written by
//!    `scripts/setup.sh`, under `$UNIVAL_HOME`, then under every ancestor of the executable's
//!    directory, then of the current directory, then the workspace this crate was compiled in
//!    (newest version when a cache holds several);
//! 3. the system loader's search path (`libonnxruntime.so`).
//!
//! The version is read from the library (`OrtGetApiBase()->GetVersionString()`) before `ort`
//! initialises it, so a too-old library gives a clear error instead of a panic. Every other module
//! calls [`init`] before touching an `ort` API: an `ort` call made before it would make `ort` load
//! the library itself and panic when it is missing.
//!
//! This module also holds the process-wide log hook ([`set_log_hook`]) through which the runtime
//! reports the loaded library and each session's execution provider.

use crate::error::RuntimeError;
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Oldest ONNX Runtime minor version accepted (`1.x`): the `ort` API level this build uses.
pub const MIN_MINOR_VERSION: u32 = ort::MINOR_VERSION;

/// Where the loaded library was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LibSource {
    /// `ORT_DYLIB_PATH`.
    EnvVar,
    /// `$UNIVAL_HOME/.cache/onnxruntime`.
    UnivalHome,
    /// A `.cache/onnxruntime` above the executable's directory.
    ExeDir,
    /// A `.cache/onnxruntime` above the current directory.
    CurrentDir,
    /// The `.cache/onnxruntime` of the workspace this crate was compiled in.
    Workspace,
    /// The dynamic loader's search path.
    System,
}

/// The inputs of the library search, so that it can be run on an injected environment in tests.
#[derive(Debug, Clone, Default)]
pub struct LibSearch {
    /// Value of `ORT_DYLIB_PATH`, when set and non-empty.
    pub dylib_path: Option<PathBuf>,
    /// Value of `UNIVAL_HOME`, when set and non-empty.
    pub unival_home: Option<PathBuf>,
    /// Directory of the running executable.
    pub exe_dir: Option<PathBuf>,
    /// Current directory.
    pub current_dir: Option<PathBuf>,
    /// Compile-time workspace root (`CARGO_MANIFEST_DIR/..`).
    pub workspace_root: Option<PathBuf>,
}

/// The library chosen by [`LibSearch::find`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibCandidate {
    /// A file path, or the bare file name for [`LibSource::System`].
    pub path: PathBuf,
    /// Where it was found.
    pub source: LibSource,
    /// Every place looked at, in order (for the not-found message).
    pub searched: Vec<String>,
}

/// The initialised ONNX Runtime: where it came from, its version, and the `ort` environment that
/// every session of the process shares.
pub struct OrtLibrary {
    path: PathBuf,
    version: String,
    source: LibSource,
    environment: ort::environment::Environment,
    /// The handle opened to read the version; kept so the library is never unloaded.
    _handle: libloading::Library,
}

impl std::fmt::Debug for OrtLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtLibrary")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl OrtLibrary {
    /// Path of the loaded library (a bare file name when the system loader found it).
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// ONNX Runtime version string, e.g. `1.22.1`.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// Where the library was found.
    pub fn source(&self) -> LibSource {
        self.source
    }
    /// The process-wide `ort` environment sessions are built in.
    pub fn environment(&self) -> &ort::environment::Environment {
        &self.environment
    }
}

static LIBRARY: OnceLock<OrtLibrary> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Finds, checks and initialises ONNX Runtime on the first call; later calls return the same
/// library. A failure is not cached: a later call searches again.
pub fn init() -> Result<&'static OrtLibrary, RuntimeError> {
    if let Some(lib) = LIBRARY.get() {
        return Ok(lib);
    }
    let _guard = INIT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(lib) = LIBRARY.get() {
        return Ok(lib);
    }
    let candidate = LibSearch::from_process().find()?;
    let lib = load(&candidate)?;
    log(&format!(
        "ONNX Runtime {} loaded from {}",
        lib.version,
        lib.path.display()
    ));
    Ok(LIBRARY.get_or_init(|| lib))
}

/// The library, when [`init`] has succeeded in this process.
pub fn get() -> Option<&'static OrtLibrary> {
    LIBRARY.get()
}

impl LibSearch {
    /// The search as this process would run it: real environment variables and directories.
    pub fn from_process() -> Self {
        let non_empty = |key: &str| {
            std::env::var_os(key)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        LibSearch {
            dylib_path: non_empty("ORT_DYLIB_PATH"),
            unival_home: non_empty("UNIVAL_HOME"),
            exe_dir: std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf)),
            current_dir: std::env::current_dir().ok(),
            workspace_root: Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .map(Path::to_path_buf),
        }
    }

    /// Picks the library to load. Fails only when `ORT_DYLIB_PATH` names a missing file; when
    /// no cache holds a library the answer is the system loader's `libonnxruntime.so`, whose
    /// absence [`init`] reports as [`RuntimeError::LibraryNotFound`].
    pub fn find(&self) -> Result<LibCandidate, RuntimeError> {
        let mut searched = Vec::new();
        if let Some(path) = &self.dylib_path {
            let path = match (&self.current_dir, path.is_relative()) {
                (Some(cwd), true) => cwd.join(path),
                _ => path.clone(),
            };
            if !path.is_file() {
                return Err(RuntimeError::DylibPathMissing { path });
            }
            return Ok(LibCandidate {
                path,
                source: LibSource::EnvVar,
                searched: vec!["ORT_DYLIB_PATH".into()],
            });
        }
        searched.push("ORT_DYLIB_PATH (unset)".into());

        let mut roots: Vec<(PathBuf, LibSource)> = Vec::new();
        if let Some(home) = &self.unival_home {
            roots.push((home.clone(), LibSource::UnivalHome));
        }
        for (start, source) in [
            (&self.exe_dir, LibSource::ExeDir),
            (&self.current_dir, LibSource::CurrentDir),
        ] {
            if let Some(start) = start {
                roots.extend(start.ancestors().map(|a| (a.to_path_buf(), source)));
            }
        }
        if let Some(ws) = &self.workspace_root {
            roots.push((ws.clone(), LibSource::Workspace));
        }
        for (root, source) in roots {
            let cache = root.join(".cache").join("onnxruntime");
            if !cache.is_dir() {
                continue;
            }
            searched.push(cache.display().to_string());
            if let Some(path) = newest_in_cache(&cache) {
                return Ok(LibCandidate {
                    path,
                    source,
                    searched,
                });
            }
        }
        if searched.len() == 1 {
            searched.push("no .cache/onnxruntime above the executable or current directory".into());
        }
        let name = system_library_name();
        searched.push(format!("system loader path ({name})"));
        Ok(LibCandidate {
            path: PathBuf::from(name),
            source: LibSource::System,
            searched,
        })
    }
}

/// `libonnxruntime.so` (or the platform's spelling).
pub fn system_library_name() -> String {
    format!(
        "{}onnxruntime{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The newest library in `cache/<version>/`, by the version in the directory or file name.
fn newest_in_cache(cache: &Path) -> Option<PathBuf> {
    let stem = format!("{}onnxruntime", std::env::consts::DLL_PREFIX);
    let mut found: Vec<(Vec<u32>, PathBuf)> = Vec::new();
    for dir in std::fs::read_dir(cache).ok()?.flatten() {
        let dir_path = dir.path();
        if !dir_path.is_dir() {
            continue;
        }
        let Ok(files) = std::fs::read_dir(&dir_path) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            let is_lib = name
                .strip_prefix(&stem)
                .is_some_and(|rest| rest.starts_with('.'))
                && name.contains(std::env::consts::DLL_SUFFIX);
            if !is_lib || !file.path().is_file() {
                continue;
            }
            let dir_name = dir.file_name().to_string_lossy().into_owned();
            let version = parse_version(&dir_name)
                .or_else(|| version_in_file_name(&name))
                .unwrap_or_default();
            found.push((version, file.path()));
        }
    }
    // Newest version first; within one version prefer the longest (fully versioned) name.
    found.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| b.1.as_os_str().len().cmp(&a.1.as_os_str().len()))
    });
    found.into_iter().next().map(|(_, p)| p)
}

/// `1.22.1` → `[1, 22, 1]`; `None` unless every dot-separated part is a number.
pub fn parse_version(text: &str) -> Option<Vec<u32>> {
    let parts: Option<Vec<u32>> = text.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

/// `libonnxruntime.so.1.22.1` → `[1, 22, 1]`.
fn version_in_file_name(name: &str) -> Option<Vec<u32>> {
    let (_, rest) = name.split_once(std::env::consts::DLL_SUFFIX)?;
    parse_version(rest.strip_prefix('.')?)
}

/// Whether a version string is at least `1.MIN_MINOR_VERSION`.
pub fn version_supported(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    major > 1 || (major == 1 && minor >= MIN_MINOR_VERSION)
}

/// Opens the candidate, checks its version, and hands it to `ort`.
fn load(candidate: &LibCandidate) -> Result<OrtLibrary, RuntimeError> {
    let path = candidate.path.clone();
    // SAFETY: opening ONNX Runtime runs only its static initialisers; `ort` opens the same file
    // right after. The handle is kept for the life of the process, so it is never unloaded.
    let handle = match unsafe { libloading::Library::new(&path) } {
        Ok(h) => h,
        Err(e) if candidate.source == LibSource::System => {
            let _ = e;
            return Err(RuntimeError::LibraryNotFound {
                searched: candidate.searched.join(", "),
            });
        }
        Err(e) => {
            return Err(RuntimeError::LibraryLoad {
                path,
                reason: e.to_string(),
            })
        }
    };
    let version = version_string(&handle).map_err(|reason| RuntimeError::LibraryLoad {
        path: path.clone(),
        reason,
    })?;
    if !version_supported(&version) {
        return Err(RuntimeError::LibraryTooOld {
            path,
            found: version,
            required: format!("1.{MIN_MINOR_VERSION}"),
        });
    }
    let builder = ort::init_from(&path).map_err(|e| RuntimeError::LibraryLoad {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let environment = builder
        .with_name("unival")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::LibraryLoad {
            path: path.clone(),
            reason: format!("cannot create the ONNX Runtime environment: {e}"),
        })?;
    Ok(OrtLibrary {
        path,
        version,
        source: candidate.source,
        environment,
        _handle: handle,
    })
}

/// `OrtGetApiBase()->GetVersionString()` of an opened library.
fn version_string(handle: &libloading::Library) -> Result<String, String> {
    type GetApiBase = unsafe extern "system" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release (C API, stable).
    let get_base: libloading::Symbol<GetApiBase> = unsafe { handle.get(b"OrtGetApiBase") }
        .map_err(|_| "not an ONNX Runtime library (no `OrtGetApiBase` symbol)".to_string())?;
    // SAFETY: the function takes no arguments and returns a pointer to a static struct.
    let base = unsafe { get_base() };
    if base.is_null() {
        return Err("`OrtGetApiBase` returned null".into());
    }
    // SAFETY: `base` is non-null and points to the library's static `OrtApiBase`; the version
    // string it returns is a static NUL-terminated buffer.
    let text = unsafe { CStr::from_ptr(((*base).GetVersionString)()) };
    text.to_str()
        .map(str::to_owned)
        .map_err(|_| "the library's version string is not UTF-8".to_string())
}

/// A process-wide receiver for the runtime's one-line status messages.
pub type LogHook = Box<dyn Fn(&str) + Send + Sync>;

static LOG_HOOK: Mutex<Option<LogHook>> = Mutex::new(None);

/// Routes the runtime's status lines (library loaded, provider chosen per graph) to `hook`;
/// `None` restores the default, `unival: <line>` on stderr. The hook runs under a lock: it must not
/// call `set_log_hook` itself.
pub fn set_log_hook(hook: Option<LogHook>) {
    *LOG_HOOK.lock().unwrap_or_else(|p| p.into_inner()) = hook;
}

/// Emits one status line through the hook (default: stderr).
pub(crate) fn log(line: &str) {
    let hook = LOG_HOOK.lock().unwrap_or_else(|p| p.into_inner());
    match hook.as_ref() {
        Some(f) => f(line),
        None => eprintln!("unival: {line}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn fake_lib(dir: &Path, version: &str) -> PathBuf {
        let d = dir.join(".cache/onnxruntime").join(version);
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join(format!("libonnxruntime.so.{version}"));
        std::fs::write(&f, b"not really").unwrap();
        f
    }

    #[test]
    fn missing_dylib_path_is_a_clear_error() {
        let search = LibSearch {
            dylib_path: Some("/nonexistent/libonnxruntime.so".into()),
            ..Default::default()
        };
        let err = search.find().unwrap_err();
        assert!(matches!(err, RuntimeError::DylibPathMissing { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("ORT_DYLIB_PATH=/nonexistent/libonnxruntime.so"),
            "{msg}"
        );
        assert!(msg.contains("scripts/setup.sh"), "{msg}");
    }

    #[test]
    fn dylib_path_wins_over_cache() {
        let tmp = tempfile::tempdir().unwrap();
        fake_lib(tmp.path(), "1.22.1");
        let own = tmp.path().join("custom.so");
        std::fs::write(&own, b"x").unwrap();
        let search = LibSearch {
            dylib_path: Some(own.clone()),
            current_dir: Some(tmp.path().into()),
            ..Default::default()
        };
        let found = search.find().unwrap();
        assert_eq!((found.path, found.source), (own, LibSource::EnvVar));
    }

    #[test]
    fn newest_cached_version_is_chosen_walking_up() {
        let tmp = tempfile::tempdir().unwrap();
        fake_lib(tmp.path(), "1.20.0");
        let newest = fake_lib(tmp.path(), "1.22.1");
        fake_lib(tmp.path(), "1.9.0");
        let deep = tmp.path().join("target/debug/deps");
        std::fs::create_dir_all(&deep).unwrap();
        let search = LibSearch {
            exe_dir: Some(deep),
            ..Default::default()
        };
        let found = search.find().unwrap();
        assert_eq!((found.path, found.source), (newest, LibSource::ExeDir));
    }

    #[test]
    fn unival_home_comes_before_the_executable() {
        let home = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let in_home = fake_lib(home.path(), "1.20.1");
        fake_lib(other.path(), "1.22.1");
        let search = LibSearch {
            unival_home: Some(home.path().into()),
            exe_dir: Some(other.path().into()),
            ..Default::default()
        };
        assert_eq!(search.find().unwrap().path, in_home);
    }

    #[test]
    fn nothing_cached_falls_back_to_the_system_loader() {
        let tmp = tempfile::tempdir().unwrap();
        let search = LibSearch {
            current_dir: Some(tmp.path().into()),
            ..Default::default()
        };
        let found = search.find().unwrap();
        assert_eq!(found.source, LibSource::System);
        assert_eq!(found.path, PathBuf::from(system_library_name()));
    }

    #[test]
    fn a_missing_system_library_says_what_to_do() {
        let candidate = LibCandidate {
            path: "libonnxruntime_definitely_absent.so".into(),
            source: LibSource::System,
            searched: vec!["ORT_DYLIB_PATH (unset)".into()],
        };
        let msg = load(&candidate).unwrap_err().to_string();
        assert!(msg.contains("scripts/setup.sh"), "{msg}");
        assert!(
            msg.contains("ORT_DYLIB_PATH=/path/to/libonnxruntime.so"),
            "{msg}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_library_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let bogus = fake_lib(tmp.path(), "1.22.1");
        let candidate = LibCandidate {
            path: bogus.clone(),
            source: LibSource::ExeDir,
            searched: vec![],
        };
        let err = load(&candidate).unwrap_err();
        assert!(matches!(err, RuntimeError::LibraryLoad { ref path, .. } if *path == bogus));
    }

    #[test]
    fn versions_parse_and_compare() {
        assert_eq!(parse_version("1.22.1"), Some(vec![1, 22, 1]));
        assert_eq!(parse_version("1.x"), None);
        assert_eq!(
            version_in_file_name("libonnxruntime.so.1.20.0"),
            Some(vec![1, 20, 0])
        );
        assert!(version_supported("1.20.0"));
        assert!(version_supported("1.22.1"));
        assert!(!version_supported("1.19.2"));
        assert!(!version_supported("0.99"));
    }
}
