//! Issue "exporter" acceptance through the real `unival` binary: synthetic checkpoints export to
//! bundles for every image task, `inspect` reports them and catches tampering, the exported
//! graphs run in ONNX Runtime (cached decoding equals a full pass; external weight files, the
//! default, and `--inline-weights` give the same outputs), and damaged or hostile inputs fail with
//! one clear line naming the file.
//!
//! Graph numerics against the original are `tests/tests/export_parity.rs`'s job, not this file's.

mod common;

use common::{
    assert_clean_failure, export, name_of, scratch, tiny_caption_bundle, tiny_fp16_ema, tiny_fp32,
    unival,
};
use ndarray::{s, Array, ArrayD, IxDyn};
use std::io::{Read, Write};
use std::path::Path;
use unival_export::checkpoint::writer::{PyObj, TensorMeta, TorchZipWriter};
use unival_export::checkpoint::StorageType;
use unival_export::synth::{self, arch, SynthOptions};
use unival_manifest::{io, Manifest};
use unival_runtime::{GraphSession, Input, SessionOptions};

const TASKS: [&str; 4] = ["caption", "vqa", "refcoco", "snli_ve"];

/// Exports `ckpt` for every image task with `extra` flags; checks each bundle with `inspect`
/// (text and JSON) and returns the manifests in [`TASKS`] order.
fn export_all_tasks(ckpt: &Path, extra: &[&str]) -> Vec<Manifest> {
    let dir = scratch();
    TASKS
        .iter()
        .map(|task| {
            let out = dir.path().join(task);
            let run = export(ckpt, task, &out, extra).ok();
            assert!(run.stderr.contains("3 graphs"), "{}", run.stderr);

            let text = unival(["inspect".as_ref(), out.as_os_str()]).ok();
            for graph in [
                io::graph::IMAGE_ENCODER,
                io::graph::ENCODER,
                io::graph::DECODER,
            ] {
                assert!(
                    text.stdout
                        .contains(&format!("graph       {graph}: {graph}.onnx")),
                    "{graph} missing from:\n{}",
                    text.stdout
                );
            }
            assert!(text
                .stdout
                .contains("out       logits F32 [n, t, vocab_out]"));
            assert!(text
                .stdout
                .contains("in        vocab_rows I64 [vocab_rows]"));
            assert!(text.stderr.contains("all 6 files match their sha256"));

            let json = unival(["inspect".as_ref(), out.as_os_str(), "--json".as_ref()]).ok();
            let m: Manifest = serde_json::from_str(&json.stdout).expect("inspect --json");
            assert_eq!(m, Manifest::load(&out).unwrap());
            assert_eq!(m.task.task.name(), *task);
            assert_eq!(m.source.checkpoint, name_of(ckpt));
            assert_eq!(m.files.len(), 6);
            m
        })
        .collect()
}

#[test]
fn fp32_checkpoint_exports_every_image_task() {
    let ms = export_all_tasks(tiny_fp32(), &[]);
    for m in &ms {
        assert_eq!(m.source.weights, "model", "{}", m.task.task);
        assert_eq!(m.model.embed_dim, 32);
        assert_eq!(m.source.saved_task.as_deref(), Some("caption"));
    }
    // The checkpoint was saved for captioning: its own patch size (256) applies to caption;
    // other tasks keep their defaults (refcoco 512, the rest 480).
    let sizes: Vec<Option<usize>> = ms.iter().map(|m| m.task.perception.image_size()).collect();
    assert_eq!(sizes, [Some(256), Some(480), Some(512), Some(480)]);
    // Same weights, same graphs: the decoder is identical whatever the task.
    assert!(ms
        .windows(2)
        .all(|w| w[0].files["decoder.onnx"] == w[1].files["decoder.onnx"]));
}

#[test]
fn fp16_checkpoint_with_ema_exports_every_image_task() {
    let auto = export_all_tasks(tiny_fp16_ema(), &[]);
    // Auto: EMA for the task evaluated with it (VQA), raw weights otherwise.
    let weights: Vec<&str> = auto.iter().map(|m| m.source.weights.as_str()).collect();
    assert_eq!(weights, ["model", "ema", "model", "model"]);
    assert!(auto[1].task.uses_ema && !auto[0].task.uses_ema);

    let forced = export_all_tasks(tiny_fp16_ema(), &["--ema"]);
    assert!(forced.iter().all(|m| m.source.weights == "ema"));
    // EMA weights are perturbed copies: the caption bundle's graphs differ from the raw ones.
    assert_ne!(
        forced[0].files["decoder.onnx"].sha256,
        auto[0].files["decoder.onnx"].sha256
    );
    let no_ema = export_all_tasks(tiny_fp16_ema(), &["--no-ema"]);
    assert!(no_ema.iter().all(|m| m.source.weights == "model"));
}

/// Deterministic values in [-1, 1) (no RNG crate needed).
fn pattern(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Array::from_shape_fn(IxDyn(shape), |_| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    })
}

/// What a bundle computed on fixed inputs.
struct Outputs {
    encoder_out: ArrayD<f32>,
    /// Logits of one full pass over the prefix, `[1, t, vocab]`.
    full: ArrayD<f32>,
    /// Logits of each one-token cached step, each `[1, 1, vocab]`.
    steps: Vec<ArrayD<f32>>,
}

/// Runs image encoder → encoder → decoder on a fixed image, source and 3-token prefix: once
/// over the whole prefix, then one token per call with the self-attention cache.
fn run_bundle(dir: &Path) -> Outputs {
    let m = Manifest::load(dir).unwrap();
    let load = |name: &str| {
        let spec = &m.graphs[name];
        GraphSession::load(
            name,
            &dir.join(&spec.file),
            spec,
            &SessionOptions::default(),
        )
        .unwrap()
    };
    let (mut image, mut encoder, mut decoder) = (
        load(io::graph::IMAGE_ENCODER),
        load(io::graph::ENCODER),
        load(io::graph::DECODER),
    );
    let size = m.task.perception.image_size().unwrap();
    let pixels = pattern(&[1, 3, size, size], 1);
    let p = image
        .run(&[(io::PATCH_IMAGES, Input::from(&pixels))])
        .unwrap();
    let src = Array::from_shape_vec(IxDyn(&[1, 5]), vec![0i64, 100, 2000, 300, 2]).unwrap();
    let e = encoder
        .run(&[
            (io::SRC_TOKENS, Input::from(&src)),
            (
                io::PATCH_EMBEDS,
                Input::Value(p.get(io::PATCH_EMBEDS).unwrap()),
            ),
            (
                io::PATCH_POS_EMBEDS,
                Input::Value(p.get(io::PATCH_POS_EMBEDS).unwrap()),
            ),
            (
                io::PATCH_POS_IDS,
                Input::Value(p.get(io::PATCH_POS_IDS).unwrap()),
            ),
        ])
        .unwrap();
    let (layers, heads, hd) = (m.model.decoder_layers, m.model.heads, m.model.head_dim);
    let empty = ArrayD::<f32>::zeros(IxDyn(&[1, heads, 0, hd]));
    let mut past: Vec<(ArrayD<f32>, ArrayD<f32>)> = (0..layers)
        .map(|_| (empty.clone(), empty.clone()))
        .collect();
    let names: Vec<[String; 4]> = (0..layers)
        .map(|l| {
            [
                io::cross_k(l),
                io::cross_v(l),
                io::past_self_k(l),
                io::past_self_v(l),
            ]
        })
        .collect();
    // Every vocabulary row (`vocab_rows` empty): the full output projection.
    let all_rows = ArrayD::<i64>::zeros(IxDyn(&[0]));
    let mut step = |tokens: &ArrayD<i64>, past_len: i64, past: &[(ArrayD<f32>, ArrayD<f32>)]| {
        let pl = Array::from_elem(IxDyn(&[]), past_len);
        // Rows keep their order: the identity `beam_order`.
        let order = Array::from_iter(0..tokens.shape()[0] as i64);
        let mut inputs: Vec<(&str, Input)> = vec![
            (io::TOKENS, Input::from(tokens)),
            (io::PAST_LEN, Input::from(&pl)),
            (io::BEAM_ORDER, Input::from(&order)),
            (
                io::ENCODER_PADDING_MASK,
                Input::Value(e.get(io::ENCODER_PADDING_MASK).unwrap()),
            ),
            (
                io::CROSS_POS_K,
                Input::Value(e.get(io::CROSS_POS_K).unwrap()),
            ),
        ];
        for (l, [ck, cv, pk, pv]) in names.iter().enumerate() {
            inputs.push((ck, Input::Value(e.get(ck).unwrap())));
            inputs.push((cv, Input::Value(e.get(cv).unwrap())));
            inputs.push((pk, Input::from(&past[l].0)));
            inputs.push((pv, Input::from(&past[l].1)));
        }
        inputs.push((io::VOCAB_ROWS, Input::from(&all_rows)));
        let out = decoder.run(&inputs).unwrap();
        let presents = (0..layers)
            .map(|l| {
                (
                    out.f32(&io::present_self_k(l)).unwrap(),
                    out.f32(&io::present_self_v(l)).unwrap(),
                )
            })
            .collect::<Vec<_>>();
        (out.f32(io::LOGITS).unwrap(), presents)
    };
    let prefix = Array::from_shape_vec(IxDyn(&[1, 3]), vec![0i64, 1234, 58500]).unwrap();
    let (full, _) = step(&prefix, 0, &past);
    let mut steps = Vec::new();
    for t in 0..3 {
        let tok = prefix.slice(s![.., t..t + 1]).to_owned().into_dyn();
        let (logits, presents) = step(&tok, t as i64, &past);
        past = presents;
        steps.push(logits);
    }
    Outputs {
        encoder_out: e.f32(io::ENCODER_OUT).unwrap(),
        full,
        steps,
    }
}

/// `max|a − b| / max|b|`.
fn rel_err(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    diff / b.iter().map(|y| y.abs()).fold(0f32, f32::max)
}

#[test]
fn exported_graphs_run_and_cached_decoding_equals_a_full_pass() {
    let o = run_bundle(tiny_caption_bundle());
    assert_eq!(o.full.shape(), &[1, 3, 59457]);
    assert!(o.full.iter().all(|v| v.is_finite()));
    let spread = o.full.iter().fold(0f32, |a, v| a.max(v.abs()));
    assert!(spread > 1e-3, "logits are all ~0: {spread}");
    assert!(o.encoder_out.iter().all(|v| v.is_finite()));
    for (t, step) in o.steps.iter().enumerate() {
        assert_eq!(step.shape(), &[1, 1, 59457]);
        let reference = o.full.slice(s![.., t..t + 1, ..]).to_owned().into_dyn();
        let err = rel_err(step, &reference);
        eprintln!("cached step {t}: max|Δ|/max|ref| = {err:.3e}");
        assert!(err <= 1e-5, "cached step {t} differs: {err:.3e}");
    }
    // Positions matter: the three rows are not copies of each other.
    let row = |t: usize| o.full.slice(s![0, t, ..]).to_owned();
    assert_ne!(row(0), row(1));
    assert_ne!(row(1), row(2));
}

#[test]
fn external_data_is_the_default_and_inline_weights_give_identical_outputs() {
    let dir = scratch();
    let out = dir.path().join("ext");
    export(tiny_fp32(), "caption", &out, &[]).ok();
    let m = Manifest::load(&out).unwrap();
    for (name, spec) in &m.graphs {
        let data = spec.external_data.as_deref().expect("external data file");
        assert_eq!(data, format!("{name}.onnx.data"));
        assert!(out.join(data).is_file());
        assert!(m.files.contains_key(data), "{data} not hashed");
    }
    assert_eq!(m.files.len(), 6);
    // The weights left the protobuf: the decoder .onnx is small, its .data holds the bulk.
    assert!(m.files["decoder.onnx"].bytes < 200_000);
    assert!(m.files["decoder.onnx.data"].bytes > 5_000_000);
    unival(["inspect".as_ref(), out.as_os_str()]).ok();

    let inline_dir = dir.path().join("inline");
    export(tiny_fp32(), "caption", &inline_dir, &["--inline-weights"]).ok();
    let m = Manifest::load(&inline_dir).unwrap();
    assert!(m.graphs.values().all(|g| g.external_data.is_none()));
    assert_eq!(m.files.len(), 3);
    // The flag scripts already pass still works and changes nothing.
    let flagged = dir.path().join("flagged");
    export(tiny_fp32(), "caption", &flagged, &["--external-data"]).ok();
    assert_eq!(Manifest::load(&flagged).unwrap().files.len(), 6);

    let inline = run_bundle(&inline_dir);
    let external = run_bundle(&out);
    assert_eq!(inline.encoder_out, external.encoder_out);
    assert_eq!(inline.full, external.full);
    assert_eq!(inline.steps, external.steps);
}

/// Copies a bundle directory (flat) into `to`.
fn copy_bundle(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn inspect_detects_a_flipped_byte() {
    let dir = scratch();
    let b = dir.path().join("b");
    copy_bundle(tiny_caption_bundle(), &b);
    let target = b.join("encoder.onnx");
    let mut bytes = std::fs::read(&target).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&target, &bytes).unwrap();
    for json in [false, true] {
        let mut args = vec!["inspect".as_ref(), b.as_os_str()];
        if json {
            args.push("--json".as_ref());
        }
        let run = unival(args);
        assert_clean_failure(&run, "encoder.onnx", &["sha256", "does not match"]);
        assert!(!run.stderr.contains("decoder.onnx"), "{}", run.stderr);
    }
}

#[test]
fn inspect_reports_a_deleted_file() {
    let dir = scratch();
    let b = dir.path().join("b");
    copy_bundle(tiny_caption_bundle(), &b);
    std::fs::remove_file(b.join("image_encoder.onnx")).unwrap();
    let run = unival(["inspect".as_ref(), b.as_os_str()]);
    assert_clean_failure(&run, "image_encoder.onnx", &["missing"]);

    std::fs::remove_file(b.join("manifest.json")).unwrap();
    let run = unival(["inspect".as_ref(), b.as_os_str()]);
    assert_clean_failure(&run, "manifest.json", &[]);
}

/// Runs `export` on `ckpt` and applies the one-line failure contract to it.
fn export_fails(ckpt: &Path, needles: &[&str]) {
    let dir = scratch();
    let out = dir.path().join("bundle");
    let run = export(ckpt, "caption", &out, &[]);
    assert_clean_failure(&run, &name_of(ckpt), needles);
    assert!(!out.join("manifest.json").exists());
}

#[test]
fn truncated_checkpoint_fails_cleanly() {
    let dir = scratch();
    let p = dir.path().join("truncated.pt");
    let bytes = std::fs::read(tiny_fp32()).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    export_fails(&p, &["not a torch zip checkpoint"]);
}

#[test]
fn garbage_empty_and_missing_files_fail_cleanly() {
    let dir = scratch();
    let garbage = dir.path().join("garbage.pt");
    std::fs::write(
        &garbage,
        pattern(&[4096], 3)
            .iter()
            .map(|v| v.to_bits() as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    export_fails(&garbage, &["not a torch zip checkpoint"]);
    let empty = dir.path().join("empty.pt");
    std::fs::write(&empty, b"").unwrap();
    export_fails(&empty, &["not a torch zip checkpoint"]);
    let missing = dir.path().join("missing.pt");
    export_fails(&missing, &["No such file"]);
}

#[test]
fn zip_without_data_pkl_fails_cleanly() {
    let dir = scratch();
    let p = dir.path().join("nodata.pt");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
    z.start_file("archive/version", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(b"3\n").unwrap();
    z.finish().unwrap();
    export_fails(&p, &["data.pkl"]);
}

/// `module.name(command)` as pickle opcodes: GLOBAL; BINUNICODE; TUPLE1; REDUCE.
fn reduce_call(module: &str, name: &str, command: &str) -> Vec<u8> {
    let mut pkl = vec![b'c'];
    pkl.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    pkl.push(b'X');
    pkl.extend_from_slice(&(command.len() as u32).to_le_bytes());
    pkl.extend_from_slice(command.as_bytes());
    pkl.extend_from_slice(b"\x85R");
    pkl
}

#[test]
fn pickle_calling_os_system_is_refused_and_never_executed() {
    let dir = scratch();
    let marker = dir.path().join("pwned");
    let command = format!("touch {}", marker.display());
    for (module, name) in [("os", "system"), ("posix", "system")] {
        // The call as the whole pickle: PROTO 2, call, STOP.
        let top_level = [&[0x80, 2][..], &reduce_call(module, name, &command), b"."].concat();
        // The call as the state dict: {'model': call} (EMPTY_DICT, key, call, SETITEM).
        let mut as_model = vec![0x80, 2, b'}', b'X', 5, 0, 0, 0];
        as_model.extend_from_slice(b"model");
        as_model.extend_from_slice(&reduce_call(module, name, &command));
        as_model.extend_from_slice(b"s.");
        for (what, pkl, needle) in [
            ("top", top_level, "top-level object is not a dict"),
            ("model", as_model, "no 'model' state dict"),
        ] {
            let p = dir.path().join(format!("{module}_{name}_{what}.pt"));
            let mut w = TorchZipWriter::create(&p, "archive").unwrap();
            w.write_pickle_bytes(&pkl).unwrap();
            w.finish("0").unwrap();
            export_fails(&p, &["not a UnIVAL", needle]);
            assert!(!marker.exists(), "the pickle's command ran");
        }
    }
}

#[test]
fn unknown_task_fails_cleanly() {
    let dir = scratch();
    let run = export(tiny_fp32(), "captioning", &dir.path().join("b"), &[]);
    assert_clean_failure(&run, "captioning", &["unknown task", "snli_ve"]);
}

#[test]
fn ema_on_a_checkpoint_without_ema_fails_cleanly() {
    let dir = scratch();
    let run = export(tiny_fp32(), "vqa", &dir.path().join("b"), &["--ema"]);
    assert_clean_failure(
        &run,
        &name_of(tiny_fp32()),
        &["EMA", "no extra_state['ema']"],
    );
}

/// Rewrites the tiny fp32 checkpoint with its state dict passed through `tweak`: the pickle is
/// rebuilt from the synth key set (`arch::enumerate`), the storage records are copied from the
/// real file (record `i` holds entry `i`: fp32, no EMA, tied embeddings stored as copies).
fn rewrite_tiny(out: &Path, tweak: impl FnOnce(&mut Vec<(String, PyObj)>)) {
    let opts = SynthOptions::default();
    let specs = arch::enumerate(&synth::arch_spec(&opts).unwrap());
    let mut entries: Vec<(String, PyObj)> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let dtype = if s.init.is_integer() {
                StorageType::I64
            } else {
                StorageType::F32
            };
            let meta = TensorMeta::contiguous(i.to_string(), dtype, &s.shape);
            (s.name.clone(), PyObj::Tensor(meta))
        })
        .collect();
    tweak(&mut entries);
    let top = PyObj::dict([
        (
            "cfg",
            PyObj::dict([
                ("model", PyObj::Namespace(synth::model_namespace(&opts))),
                ("task", PyObj::dict([("_name", PyObj::str("caption"))])),
            ]),
        ),
        ("model", PyObj::OrderedDict(entries)),
    ]);
    let mut src = zip::ZipArchive::new(std::fs::File::open(tiny_fp32()).unwrap()).unwrap();
    let mut w = TorchZipWriter::create(out, "archive").unwrap();
    w.write_pickle(&top).unwrap();
    for (i, s) in specs.iter().enumerate() {
        let mut record = src.by_name(&format!("archive/data/{i}")).unwrap();
        let mut bytes = Vec::new();
        record.read_to_end(&mut bytes).unwrap();
        let elem = if s.init.is_integer() { 8 } else { 4 };
        assert_eq!(
            bytes.len(),
            s.shape.iter().product::<usize>() * elem,
            "{}",
            s.name
        );
        w.write_storage(&i.to_string(), |sink| sink.write_all(&bytes))
            .unwrap();
    }
    w.finish("0").unwrap();
}

#[test]
fn rewritten_checkpoint_control_exports() {
    // The rewrite itself is sound: untouched, it exports the same weights as the original.
    let dir = scratch();
    let p = dir.path().join("control.pt");
    rewrite_tiny(&p, |_| {});
    let out = dir.path().join("b");
    export(&p, "caption", &out, &[]).ok();
    let m = Manifest::load(&out).unwrap();
    let reference = Manifest::load(tiny_caption_bundle()).unwrap();
    assert_eq!(m.files["decoder.onnx"], reference.files["decoder.onnx"]);
}

#[test]
fn wrong_shaped_key_fails_cleanly() {
    let dir = scratch();
    let p = dir.path().join("wrong_shape.pt");
    let key = "decoder.layers.1.fc1.weight";
    rewrite_tiny(&p, |entries| {
        let (_, obj) = entries.iter_mut().find(|(k, _)| k == key).unwrap();
        let PyObj::Tensor(meta) = obj else {
            unreachable!()
        };
        assert_eq!(meta.shape, [64, 32]);
        *meta = TensorMeta::contiguous(meta.storage.clone(), StorageType::F32, &[32, 64]);
    });
    export_fails(&p, &[key, "[32, 64]", "[64, 32]"]);
}

#[test]
fn missing_key_fails_cleanly() {
    let dir = scratch();
    let p = dir.path().join("missing_key.pt");
    let key = "encoder.layers.0.self_attn.k_proj.bias";
    rewrite_tiny(&p, |entries| {
        let before = entries.len();
        entries.retain(|(k, _)| k != key);
        assert_eq!(entries.len(), before - 1);
    });
    export_fails(&p, &[key, "missing"]);
}

#[test]
fn output_path_that_is_a_file_fails_cleanly() {
    let dir = scratch();
    let out = dir.path().join("taken");
    std::fs::write(&out, b"not a directory").unwrap();
    let run = export(tiny_fp32(), "caption", &out, &[]);
    assert_clean_failure(&run, "taken", &["cannot write the bundle"]);
}
