//! Malformed inputs: each must give a clear, typed error naming the file, never a panic, and
//! nothing in a pickle is ever executed.

use std::io::Write;

use super::writer::{pickle, PyObj, TensorMeta, TorchZipWriter};
use super::*;
use rand::{Rng, SeedableRng};

/// A minimal valid checkpoint: one f32 tensor `w` [2,3] and a namespace.
fn top(extra: Vec<(&str, PyObj)>, w: TensorMeta) -> PyObj {
    let mut entries = vec![
        (
            "model",
            PyObj::OrderedDict(vec![("w".into(), PyObj::Tensor(w))]),
        ),
        (
            "cfg",
            PyObj::dict([(
                "model",
                PyObj::Namespace(vec![("encoder_embed_dim".into(), PyObj::Int(8))]),
            )]),
        ),
    ];
    entries.extend(extra);
    PyObj::dict(entries)
}

fn write_ckpt(path: &Path, data_pkl: &[u8], storage_elems: usize) {
    let mut w = TorchZipWriter::create(path, "archive").unwrap();
    w.write_pickle_bytes(data_pkl).unwrap();
    w.write_storage("0", |out| {
        (0..storage_elems).try_for_each(|i| out.write_all(&(i as f32).to_le_bytes()))
    })
    .unwrap();
    w.finish("0").unwrap();
}

fn good_pickle() -> Vec<u8> {
    pickle(&top(
        vec![],
        TensorMeta::contiguous("0", StorageType::F32, &[2, 3]),
    ))
}

#[test]
fn garbage_and_empty_files_are_not_zip() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("g.pt", &b"definitely not a checkpoint, just text"[..]),
        ("e.pt", &b""[..]),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = Checkpoint::open(&p, WeightsChoice::Auto).unwrap_err();
        assert!(matches!(e, CheckpointError::NotZip { .. }), "{e}");
        assert!(e.to_string().contains(name), "{e}");
    }
    let e = Checkpoint::open(dir.path().join("absent.pt"), WeightsChoice::Auto).unwrap_err();
    assert!(matches!(e, CheckpointError::Io { .. }), "{e}");
}

#[test]
fn zip_without_data_pkl() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nodata.pt");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
    z.start_file("archive/version", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(b"3\n").unwrap();
    z.finish().unwrap();
    let e = Checkpoint::open(&p, WeightsChoice::Auto).unwrap_err();
    assert!(matches!(e, CheckpointError::NoDataPkl { .. }), "{e}");
}

#[test]
fn truncated_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("full.pt");
    write_ckpt(&p, &good_pickle(), 6);
    assert_eq!(
        Checkpoint::open(&p, WeightsChoice::Auto)
            .unwrap()
            .weights
            .get("w")
            .unwrap()
            .to_f32()
            .unwrap(),
        vec![0., 1., 2., 3., 4., 5.]
    );
    let bytes = std::fs::read(&p).unwrap();
    let cut = dir.path().join("cut.pt");
    for len in (0..bytes.len()).step_by(7) {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        assert!(
            Checkpoint::open(&cut, WeightsChoice::Auto).is_err(),
            "cut at {len}"
        );
    }
}

#[test]
fn storage_smaller_than_declared_or_viewed() {
    let dir = tempfile::tempdir().unwrap();
    // The pickle declares 6 elements but the record holds 4.
    let p = dir.path().join("short.pt");
    write_ckpt(&p, &good_pickle(), 4);
    let e = Checkpoint::open(&p, WeightsChoice::Auto).unwrap_err();
    assert!(matches!(e, CheckpointError::BadRecord { .. }), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    // A view reaching past its storage.
    let mut w = TensorMeta::contiguous("0", StorageType::F32, &[2, 3]);
    w.offset = 3;
    let p = dir.path().join("view.pt");
    write_ckpt(&p, &pickle(&top(vec![], w)), 6);
    let e = Checkpoint::open(&p, WeightsChoice::Auto).unwrap_err();
    assert!(
        matches!(
            e,
            CheckpointError::StorageTooSmall {
                needed: 9,
                available: 6,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn unknown_storage_class_is_unsupported_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let pkl = good_pickle();
    let needle = b"FloatStorage";
    let at = pkl.windows(needle.len()).position(|w| w == needle).unwrap();
    let mut bad = pkl[..at].to_vec();
    bad.extend_from_slice(b"QUInt8Storage");
    bad.extend_from_slice(&pkl[at + needle.len()..]);
    let p = dir.path().join("q.pt");
    write_ckpt(&p, &bad, 6);
    let e = Checkpoint::open(&p, WeightsChoice::Auto).unwrap_err();
    assert!(matches!(e, CheckpointError::UnsupportedDtype { .. }), "{e}");
    assert!(e.to_string().contains("QUInt8Storage"), "{e}");
}

/// `GLOBAL os system` + `REDUCE` (and `posix.system` via STACK_GLOBAL) come back as inert
/// objects; a marker file a real execution would create never appears.
#[test]
fn os_system_is_never_executed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let cmd = format!("touch {}", marker.display());
    let mut evil = b"cos\nsystem\nX".to_vec();
    evil.extend((cmd.len() as u32).to_le_bytes());
    evil.extend(cmd.as_bytes());
    evil.extend([0x85, b'R']);
    // Splice the call in as the value of key "x" of the top-level dict.
    let good = good_pickle();
    let mut pkl = good[..good.len() - 1].to_vec(); // drop STOP; top dict is on the stack
    pkl.extend([b'X', 1, 0, 0, 0, b'x']);
    pkl.extend(&evil);
    pkl.extend([b's', b'.']);
    let p = dir.path().join("evil.pt");
    write_ckpt(&p, &pkl, 6);
    let ck = Checkpoint::open(&p, WeightsChoice::Auto).unwrap();
    assert_eq!(ck.weights.len(), 1);
    assert!(!marker.exists());

    // The whole file being the call: not a checkpoint, still nothing executed.
    let mut only = vec![0x80, 2];
    only.extend(&evil);
    only.push(b'.');
    let p = dir.path().join("evil2.pt");
    write_ckpt(&p, &only, 6);
    let e = Checkpoint::open(&p, WeightsChoice::Auto).unwrap_err();
    assert!(matches!(e, CheckpointError::NotUnival { .. }), "{e}");
    assert!(!marker.exists());
}

#[test]
fn broken_pickle_reports_offset_and_opcode() {
    let dir = tempfile::tempdir().unwrap();
    let mut pkl = good_pickle();
    let at = pkl.len() - 1;
    pkl[at] = 0xff; // replace STOP by an unknown opcode
    let p = dir.path().join("op.pt");
    write_ckpt(&p, &pkl, 6);
    let e = Checkpoint::open(&p, WeightsChoice::Auto).unwrap_err();
    match &e {
        CheckpointError::Pickle { offset, opcode, .. } => {
            assert_eq!(*offset, at);
            assert_eq!(opcode, "0xff");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn missing_model_or_cfg_is_not_unival() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nomodel.pt");
    write_ckpt(&p, &pickle(&PyObj::dict([("cfg", PyObj::None)])), 6);
    let e = Checkpoint::open(&p, WeightsChoice::Auto).unwrap_err();
    assert!(e.to_string().contains("no 'model' state dict"), "{e}");
    let w = TensorMeta::contiguous("0", StorageType::F32, &[6]);
    let p = dir.path().join("nocfg.pt");
    let obj = PyObj::dict([(
        "model",
        PyObj::OrderedDict(vec![("w".into(), PyObj::Tensor(w))]),
    )]);
    write_ckpt(&p, &pickle(&obj), 6);
    let e = Checkpoint::open(&p, WeightsChoice::Auto).unwrap_err();
    assert!(e.to_string().contains("no cfg['model']"), "{e}");
}

/// Fuzz-style: random byte mutations of `data.pkl` inside a valid zip never panic.
#[test]
fn mutated_data_pkl_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let base = good_pickle();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let p = dir.path().join("m.pt");
    for _ in 0..300 {
        let mut pkl = base.clone();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..pkl.len());
            pkl[i] = rng.gen();
        }
        write_ckpt(&p, &pkl, 6);
        if let Ok(ck) = Checkpoint::open(&p, WeightsChoice::Auto) {
            for (_, t) in ck.weights.iter() {
                let _ = t.to_f32();
                let _ = t.to_i64();
            }
        }
    }
}

#[test]
fn safetensors_round_trip_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pt = dir.path().join("src.pt");
    let mut w = TensorMeta::contiguous("0", StorageType::F32, &[3, 2]);
    w.strides = vec![1, 3]; // transposed view: written contiguously by write_safetensors
    write_ckpt(&pt, &pickle(&top(vec![], w)), 6);
    let ck = Checkpoint::open(&pt, WeightsChoice::Auto).unwrap();
    let st = dir.path().join("m.safetensors");
    write_safetensors(&st, ck.weights.iter()).unwrap();
    std::fs::write(
        dir.path().join("m.json"),
        r#"{"model": {"encoder_embed_dim": 8}, "task": {"_name": "caption"}}"#,
    )
    .unwrap();
    let back = Checkpoint::open(&st, WeightsChoice::Auto).unwrap();
    assert_eq!(back.weights_source, WeightsSource::Model);
    assert_eq!(back.model_args["encoder_embed_dim"], 8);
    assert_eq!(back.task_cfg["_name"], "caption");
    assert!(back.generation_cfg.is_null());
    let t = back.weights.expect_shape("w", &[3, 2]).unwrap();
    assert!(t.is_contiguous());
    assert_eq!(t.to_f32().unwrap(), vec![0., 3., 1., 4., 2., 5.]);
    assert!(matches!(
        Checkpoint::open(&st, WeightsChoice::Ema).unwrap_err(),
        CheckpointError::NoEma { .. }
    ));
    // Truncated data section and a bad header.
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() - 4]).unwrap();
    let e = Checkpoint::open(&st, WeightsChoice::Auto).unwrap_err();
    assert!(matches!(e, CheckpointError::Safetensors { .. }), "{e}");
    std::fs::write(&st, [255u8; 12]).unwrap();
    assert!(Checkpoint::open(&st, WeightsChoice::Auto).is_err());
    std::fs::write(&st, &bytes).unwrap();
    std::fs::write(dir.path().join("m.json"), "{}").unwrap();
    let e = Checkpoint::open_safetensors(&st, dir.path().join("m.json"), WeightsChoice::Auto)
        .unwrap_err();
    assert!(e.to_string().contains("no \"model\" object"), "{e}");
}
