//! `unival-runtime` sessions and bundles against real ONNX Runtime, on tiny hand-encoded graphs
//! (`unival_tests::onnx_min`): by-name I/O for f32/i64/bool, every error path a user can hit,
//! the provider status line, and library discovery failure in a child process.

use ndarray::{array, Array2, ArrayD};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use unival_manifest::{DType, Dim, GraphSpec, TensorSpec};
use unival_runtime::engine::ort_lib;
use unival_runtime::{Bundle, Device, GraphSession, Input, RuntimeError, SessionOptions};
use unival_tests::onnx_min::{model, Elem, Io, Node};

/// Every status line the runtime logged in this test process.
fn log_lines() -> Arc<Mutex<Vec<String>>> {
    static LINES: Mutex<Option<Arc<Mutex<Vec<String>>>>> = Mutex::new(None);
    static HOOK: Once = Once::new();
    let lines = LINES
        .lock()
        .unwrap()
        .get_or_insert_with(Default::default)
        .clone();
    HOOK.call_once(|| {
        let sink = lines.clone();
        ort_lib::set_log_hook(Some(Box::new(move |l: &str| {
            eprintln!("unival: {l}");
            sink.lock().unwrap().push(l.to_string());
        })));
    });
    lines
}

fn tensor(name: &str, dtype: DType, dims: &[&str]) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype,
        dims: dims
            .iter()
            .map(|d| match d.parse() {
                Ok(n) => Dim::Fixed(n),
                Err(_) => Dim::Symbol(d.to_string()),
            })
            .collect(),
    }
}

/// `sum = x + y` (f32 [n,3]), `ids_out = ids` (i64 [n,t]), `mask_out = mask` (bool [n,t]),
/// `len_out = len` (i64 scalar).
fn write_tiny(dir: &Path) -> (PathBuf, GraphSpec) {
    let bytes = model(
        &[
            Node {
                op: "Add",
                inputs: &["x", "y"],
                outputs: &["sum"],
            },
            Node {
                op: "Identity",
                inputs: &["ids"],
                outputs: &["ids_out"],
            },
            Node {
                op: "Identity",
                inputs: &["mask"],
                outputs: &["mask_out"],
            },
            Node {
                op: "Identity",
                inputs: &["len"],
                outputs: &["len_out"],
            },
        ],
        &[
            Io {
                name: "x",
                elem: Elem::F32,
                dims: &["n", "3"],
            },
            Io {
                name: "y",
                elem: Elem::F32,
                dims: &["n", "3"],
            },
            Io {
                name: "ids",
                elem: Elem::I64,
                dims: &["n", "t"],
            },
            Io {
                name: "mask",
                elem: Elem::Bool,
                dims: &["n", "t"],
            },
            Io {
                name: "len",
                elem: Elem::I64,
                dims: &[],
            },
        ],
        &[
            Io {
                name: "sum",
                elem: Elem::F32,
                dims: &["n", "3"],
            },
            Io {
                name: "ids_out",
                elem: Elem::I64,
                dims: &["n", "t"],
            },
            Io {
                name: "mask_out",
                elem: Elem::Bool,
                dims: &["n", "t"],
            },
            Io {
                name: "len_out",
                elem: Elem::I64,
                dims: &[],
            },
        ],
    );
    let path = dir.join("tiny.onnx");
    std::fs::write(&path, bytes).unwrap();
    let spec = GraphSpec {
        file: "tiny.onnx".into(),
        external_data: None,
        inputs: vec![
            tensor("x", DType::F32, &["n", "3"]),
            tensor("y", DType::F32, &["n", "3"]),
            tensor("ids", DType::I64, &["n", "t"]),
            tensor("mask", DType::Bool, &["n", "t"]),
            tensor("len", DType::I64, &[]),
        ],
        outputs: vec![
            tensor("sum", DType::F32, &["n", "3"]),
            tensor("ids_out", DType::I64, &["n", "t"]),
            tensor("mask_out", DType::Bool, &["n", "t"]),
            tensor("len_out", DType::I64, &[]),
        ],
    };
    (path, spec)
}

fn cpu() -> SessionOptions {
    SessionOptions {
        device: Device::Cpu,
        intra_threads: Some(1),
        ..Default::default()
    }
}

#[test]
fn runs_by_name_for_f32_i64_bool_and_scalars() {
    let lines = log_lines();
    let tmp = tempfile::tempdir().unwrap();
    let (path, spec) = write_tiny(tmp.path());
    let mut g = GraphSession::load("tiny_by_name", &path, &spec, &cpu()).unwrap();
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == "graph `tiny_by_name` runs on CPUExecutionProvider"),
        "{:?}",
        lines.lock().unwrap()
    );
    let lib = ort_lib::get().unwrap();
    assert!(lib.version().starts_with("1."), "{}", lib.version());

    let x = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
    // A transposed (non-contiguous) view takes the one-copy path.
    let y_t = array![[10.0f32, 40.0], [20.0, 50.0], [30.0, 60.0]];
    let ids = array![[0i64, 5, 2], [0, 7, 59456]];
    let mask = array![[false, false, true], [false, true, true]];
    let len = ndarray::arr0(3i64).into_dyn();
    let mut out = g
        .run(&[
            ("mask", (&mask).into()),
            ("len", len.view().into()),
            ("y", y_t.t().into()),
            ("ids", (&ids).into()),
            ("x", x.view().into()),
        ])
        .unwrap();
    assert_eq!(
        out.f32("sum").unwrap(),
        array![[11.0f32, 22.0, 33.0], [44.0, 55.0, 66.0]].into_dyn()
    );
    assert_eq!(out.i64("ids_out").unwrap(), ids.clone().into_dyn());
    assert_eq!(out.bool("mask_out").unwrap(), mask.clone().into_dyn());
    assert_eq!(out.view::<i64>("len_out").unwrap().ndim(), 0);
    assert_eq!(out.i64("len_out").unwrap().sum(), 3);

    // Feed an output back without copying it to an array (the KV-cache path).
    let sum = out.take("sum").unwrap();
    assert!(out.get("sum").is_err(), "taken outputs are gone");
    let again = g
        .run(&[
            ("x", Input::Value(&sum)),
            ("y", y_t.t().into()),
            ("ids", (&ids).into()),
            ("mask", (&mask).into()),
            ("len", len.view().into()),
        ])
        .unwrap();
    assert_eq!(again.f32("sum").unwrap()[[1, 2]], 126.0);
}

#[test]
fn empty_tensors_pass_through() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, spec) = write_tiny(tmp.path());
    let mut g = GraphSession::load("tiny_empty", &path, &spec, &cpu()).unwrap();
    let x = Array2::<f32>::zeros((0, 3));
    let ids = Array2::<i64>::zeros((0, 4));
    let mask = Array2::<bool>::from_elem((0, 4), false);
    let len = ndarray::arr0(0i64).into_dyn();
    let out = g
        .run(&[
            ("x", (&x).into()),
            ("y", (&x).into()),
            ("ids", (&ids).into()),
            ("mask", (&mask).into()),
            ("len", (&len).into()),
        ])
        .unwrap();
    assert_eq!(out.f32("sum").unwrap().shape(), [0, 3]);
    assert_eq!(out.i64("ids_out").unwrap().shape(), [0, 4]);
}

#[test]
fn wrong_names_and_types_are_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, spec) = write_tiny(tmp.path());
    let mut g = GraphSession::load("tiny_errors", &path, &spec, &cpu()).unwrap();
    let x = Array2::<f32>::ones((1, 3));
    let ids = Array2::<i64>::ones((1, 2));
    let mask = Array2::<bool>::from_elem((1, 2), true);
    let len: ArrayD<i64> = ndarray::arr0(2i64).into_dyn();
    let good = || -> Vec<(&str, Input<'_>)> {
        vec![
            ("x", (&x).into()),
            ("y", (&x).into()),
            ("ids", (&ids).into()),
            ("mask", (&mask).into()),
            ("len", (&len).into()),
        ]
    };
    let out = g.run(&good()).unwrap();
    for bad in ["logits", ""] {
        match out.f32(bad) {
            Err(RuntimeError::MissingOutput {
                name, available, ..
            }) => {
                assert_eq!(name, bad);
                assert_eq!(available, "sum, ids_out, mask_out, len_out");
            }
            other => panic!("{other:?}"),
        }
    }
    let err = out.f32("ids_out").unwrap_err();
    assert!(matches!(err, RuntimeError::OutputType { .. }), "{err}");

    let mut unknown = good();
    unknown.push(("past_len", (&len).into()));
    let err = g.run(&unknown).unwrap_err();
    assert!(
        matches!(err, RuntimeError::UnknownInput { ref name, .. } if name == "past_len"),
        "{err}"
    );

    let mut missing = good();
    missing.retain(|(n, _)| *n != "mask");
    let err = g.run(&missing).unwrap_err();
    assert!(
        matches!(err, RuntimeError::MissingInput { ref name, .. } if name == "mask"),
        "{err}"
    );

    let mut wrong_type = good();
    wrong_type[2] = ("ids", (&x).into());
    let err = g.run(&wrong_type).unwrap_err();
    assert_eq!(
        err.to_string(),
        "graph `tiny_errors`: input `ids` is f32, the graph takes i64"
    );

    let mut wrong_shape = good();
    let x4 = Array2::<f32>::ones((1, 4));
    wrong_shape[0] = ("x", (&x4).into());
    let err = g.run(&wrong_shape).unwrap_err();
    assert!(matches!(err, RuntimeError::Run { .. }), "{err}");
}

#[test]
fn a_graph_that_differs_from_its_spec_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, mut spec) = write_tiny(tmp.path());
    spec.outputs[0].name = "logits".into();
    spec.inputs[2].dtype = DType::F32;
    let err = GraphSession::load("tiny_spec", &path, &spec, &cpu()).unwrap_err();
    match &err {
        RuntimeError::SpecMismatch {
            differences,
            path: p,
            ..
        } => {
            assert_eq!(p, &path);
            assert_eq!(
                differences,
                &[
                    "input `ids` is i64 in the graph, f32 in the manifest",
                    "output `logits` is in the manifest but not in the graph",
                    "output `sum` is in the graph but not in the manifest",
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_or_missing_graph_files_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, spec) = write_tiny(tmp.path());
    let bytes = std::fs::read(&path).unwrap();
    let cut = tmp.path().join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = GraphSession::load("tiny_cut", &cut, &spec, &cpu()).unwrap_err();
    assert!(
        matches!(err, RuntimeError::GraphLoad { ref path, .. } if *path == cut),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(&cut.display().to_string()),
        "{err}"
    );

    let gone = tmp.path().join("gone.onnx");
    let err = GraphSession::load("tiny_gone", &gone, &spec, &cpu()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot load graph `tiny_gone`: no such file",
            gone.display()
        )
    );
}

#[test]
fn explicit_gpu_without_support_is_an_error_and_auto_falls_back() {
    let lines = log_lines();
    let tmp = tempfile::tempdir().unwrap();
    let (path, spec) = write_tiny(tmp.path());
    ort_lib::init().unwrap();
    let cuda = unival_runtime::Provider::Cuda { device: 0 };
    if !cuda.compiled_in() {
        let opts = SessionOptions {
            device: "cuda:0".parse().unwrap(),
            ..cpu()
        };
        let err = GraphSession::load("tiny_cuda", &path, &spec, &opts).unwrap_err();
        assert!(
            matches!(err, RuntimeError::ProviderUnavailable { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("--device cpu"), "{err}");
    }
    let opts = SessionOptions {
        device: Device::Auto,
        ..cpu()
    };
    let g = GraphSession::load("tiny_auto", &path, &spec, &opts).unwrap();
    let line = g.provider().to_string();
    assert!(line.starts_with("graph `tiny_auto` runs on "), "{line}");
    assert!(lines.lock().unwrap().contains(&line));
    if !cuda.compiled_in() {
        assert_eq!(g.provider().provider, unival_runtime::Provider::Cpu);
        assert!(line.contains("TensorrtExecutionProvider skipped"), "{line}");
        assert!(line.contains("CUDAExecutionProvider skipped"), "{line}");
    }
}

fn write_bundle(dir: &Path) -> GraphSpec {
    use std::collections::BTreeMap;
    use unival_manifest::*;
    let (path, spec) = write_tiny(dir);
    let mut graphs = BTreeMap::new();
    graphs.insert(io::graph::ENCODER.to_string(), spec.clone());
    let mut files = BTreeMap::new();
    files.insert(spec.file.clone(), file_entry(&path).unwrap());
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        exporter_version: "test".into(),
        name: "tiny".into(),
        source: SourceInfo {
            checkpoint: "none.pt".into(),
            sha256: "0".repeat(64),
            weights: "model".into(),
            saved_task: None,
        },
        precision: Precision::Fp32,
        model: ModelInfo {
            embed_dim: 4,
            heads: 1,
            head_dim: 4,
            encoder_layers: 1,
            decoder_layers: 1,
            ffn_dim: 8,
            max_source_positions: 16,
            max_target_positions: 16,
            token_bucket_size: 4,
            image_bucket_size: 4,
            modalities: vec![],
            backbones: BTreeMap::new(),
            audio: None,
        },
        vocab: vocab::VocabInfo::standard(8192, 1000),
        task: TaskKind::Caption.defaults(),
        graphs,
        files,
    };
    manifest.save(dir).unwrap();
    spec
}

#[test]
fn bundles_verify_then_load_graphs_lazily() {
    let tmp = tempfile::tempdir().unwrap();
    write_bundle(tmp.path());
    let mut bundle = Bundle::open(tmp.path(), &cpu()).unwrap();
    assert_eq!(bundle.manifest().name, "tiny");
    assert_eq!(
        bundle.options().cache_key,
        Some(bundle.manifest().bundle_hash())
    );
    let err = bundle
        .graph(unival_manifest::io::graph::DECODER)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bundle `tiny` has no graph `decoder` (it has: encoder)"
    );
    let g = bundle.graph(unival_manifest::io::graph::ENCODER).unwrap();
    assert_eq!(g.provider().provider, unival_runtime::Provider::Cpu);
    assert_eq!(g.spec().outputs.len(), 4);

    // One flipped byte in a listed file: refused before any graph loads.
    let path = tmp.path().join("tiny.onnx");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = Bundle::open(tmp.path(), &cpu()).unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::Manifest(unival_manifest::ManifestError::HashMismatch { .. })
        ),
        "{err}"
    );
    let err = Bundle::open(&tmp.path().join("nope"), &cpu()).unwrap_err();
    assert!(
        err.to_string().contains("no such model bundle directory"),
        "{err}"
    );
}

/// Runs in a child process only (see below): `init` with a missing `ORT_DYLIB_PATH`.
#[test]
#[ignore = "run by missing_dylib_path_fails_cleanly_in_a_fresh_process"]
fn child_init_with_missing_dylib() {
    let err = ort_lib::init().unwrap_err();
    assert!(
        matches!(err, RuntimeError::DylibPathMissing { .. }),
        "{err}"
    );
    println!("CHILD-ERROR: {err}");
}

#[test]
fn missing_dylib_path_fails_cleanly_in_a_fresh_process() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "child_init_with_missing_dylib",
            "--nocapture",
        ])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "CHILD-ERROR: ORT_DYLIB_PATH=/nonexistent/libonnxruntime.so: no such file. Point it at \
             an existing libonnxruntime.so, or unset it and run `scripts/setup.sh`"
        ),
        "{stdout}"
    );
}
