//! Metadata of a merged `.pt`: everything but the merged weights is the first checkpoint's
//! (tensors inside the metadata keep their values), `last_optimizer_state` is left out, and
//! EMA is merged or left out.

use super::*;
use crate::checkpoint::writer::{PyObj, TensorMeta, TorchZipWriter};
use crate::checkpoint::{Checkpoint, Node, RawCheckpoint, StorageType, WeightsChoice};
use crate::synth::{self, SynthOptions};

/// A small checkpoint whose `extra_state['metrics']` holds a tensor, with `w` = `values`.
fn write_small(path: &Path, values: [f32; 4], with_ema: bool) {
    let tensor =
        |key: &str, n: usize| PyObj::Tensor(TensorMeta::contiguous(key, StorageType::F32, &[n]));
    let mut extra = vec![
        ("metrics", PyObj::dict([("loss", tensor("m", 2))])),
        ("note", PyObj::Bytes(b"\x00\xffraw".to_vec())),
        ("big", PyObj::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 1])),
    ];
    if with_ema {
        extra.push((
            "ema",
            PyObj::OrderedDict(vec![("w".into(), tensor("e", 4))]),
        ));
    }
    let top = PyObj::dict([
        (
            "cfg",
            PyObj::dict([(
                "model",
                PyObj::Namespace(vec![("encoder_layers".into(), PyObj::Int(2))]),
            )]),
        ),
        (
            "model",
            PyObj::OrderedDict(vec![("w".into(), tensor("w", 4))]),
        ),
        (
            "last_optimizer_state",
            PyObj::dict([("state", tensor("o", 2))]),
        ),
        ("extra_state", PyObj::dict(extra)),
    ]);
    let mut zw = TorchZipWriter::create(path, "archive").unwrap();
    zw.write_pickle(&top).unwrap();
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    for (key, data) in [
        ("w", f32s(&values)),
        ("m", f32s(&[1.5, -2.5])),
        ("o", f32s(&[9.0, 9.0])),
        ("e", f32s(&values.map(|x| x * 2.0))),
    ] {
        zw.write_storage(key, |out| out.write_all(&data)).unwrap();
    }
    zw.finish("0").unwrap();
}

fn top_json(path: &Path) -> serde_json::Value {
    let raw = RawCheckpoint::open(path).unwrap();
    raw.heap.to_json(&raw.root).unwrap()
}

fn run(inputs: Vec<PathBuf>, weights: Vec<f64>, out: &Path, ema: bool) -> MergeReport {
    let opts = MergeOptions {
        inputs,
        weights,
        out: out.to_path_buf(),
        ema,
    };
    merge(&opts, &mut |_, _, _| {}).unwrap()
}

#[test]
fn metadata_tensors_bytes_and_namespace_are_copied() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.pt"), dir.path().join("b.pt"));
    write_small(&a, [1.0, 2.0, 3.0, 4.0], true);
    write_small(&b, [3.0, 2.0, 1.0, 0.0], true);
    let out = dir.path().join("m.pt");
    let report = run(vec![a.clone(), b], vec![0.5, 0.5], &out, true);
    assert_eq!(report.dropped, vec!["last_optimizer_state".to_string()]);
    let (ja, jm) = (top_json(&a), top_json(&out));
    assert_eq!(ja["cfg"], jm["cfg"]);
    assert_eq!(ja["extra_state"]["note"], jm["extra_state"]["note"]);
    assert_eq!(ja["extra_state"]["big"], jm["extra_state"]["big"]);
    assert!(jm.get("last_optimizer_state").is_none());
    let model = Checkpoint::open(&out, WeightsChoice::Model).unwrap();
    assert_eq!(
        model.weights.get("w").unwrap().to_f32().unwrap(),
        vec![2.0; 4]
    );
    let ema = Checkpoint::open(&out, WeightsChoice::Ema).unwrap();
    assert_eq!(
        ema.weights.get("w").unwrap().to_f32().unwrap(),
        vec![4.0; 4]
    );
    // The metrics tensor points at a copied storage holding the original values.
    let raw = RawCheckpoint::open(&out).unwrap();
    let top = raw.heap.dict(&raw.root).unwrap();
    let extra = raw.heap.dict(top.get("extra_state").unwrap()).unwrap();
    let metrics = raw.heap.dict(extra.get("metrics").unwrap()).unwrap();
    let Some(Node::Tensor(t)) = raw.heap.node(metrics.get("loss").unwrap()) else {
        panic!("metrics.loss is not a tensor")
    };
    let storage = raw
        .zip
        .storage(&t.storage.key, StorageType::F32, 2)
        .unwrap();
    assert_eq!(
        storage.as_bytes(),
        &[1.5f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat()[..]
    );
}

#[test]
fn synth_metadata_survives_and_ema_is_left_out_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.pt");
    let opts = SynthOptions {
        with_ema: true,
        ..SynthOptions::default()
    };
    synth::write(&opts, &a).unwrap();
    let out = dir.path().join("m.pt");
    let report = run(vec![a.clone(), a.clone()], vec![0.5, 0.5], &out, false);
    assert_eq!(report.dropped, vec!["extra_state.ema".to_string()]);
    let (mut ja, mut jm) = (top_json(&a), top_json(&out));
    for j in [&mut ja, &mut jm] {
        let o = j.as_object_mut().unwrap();
        o.remove("model");
        o["extra_state"].as_object_mut().unwrap().remove("ema");
    }
    assert_eq!(ja, jm);
}

#[test]
fn weights_and_output_names_are_checked_before_reading() {
    let opts = |weights: Vec<f64>, out: &str| MergeOptions {
        inputs: vec![PathBuf::from("a.pt"), PathBuf::from("b.pt")],
        weights,
        out: PathBuf::from(out),
        ema: false,
    };
    let err = |o: MergeOptions| merge(&o, &mut |_, _, _| {}).unwrap_err().to_string();
    assert!(err(opts(vec![0.5], "m.pt")).contains("1 weight(s) for 2"));
    assert!(err(opts(vec![0.5, f64::NAN], "m.pt")).contains("weight #2"));
    assert!(err(opts(vec![0.5, 0.5], "m.onnx")).contains(".pt or .safetensors"));
}

#[test]
fn a_safetensors_first_input_gives_a_pt_with_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.pt");
    synth::write(&SynthOptions::default(), &a).unwrap();
    let st = dir.path().join("a.safetensors");
    run(vec![a.clone(), a.clone()], vec![1.0, 0.0], &st, false);
    let pt = dir.path().join("back.pt");
    run(vec![st.clone(), a.clone()], vec![1.0, 0.0], &pt, false);
    let (ca, cb) = (
        Checkpoint::open(&a, WeightsChoice::Model).unwrap(),
        Checkpoint::open(&pt, WeightsChoice::Model).unwrap(),
    );
    assert_eq!(ca.model_args, cb.model_args);
    assert_eq!(ca.task_cfg, cb.task_cfg);
    for (key, t) in ca.weights.iter() {
        let u = cb.weights.get(key).unwrap();
        assert_eq!(t.shape(), u.shape(), "{key}");
        if t.dtype().is_float() {
            assert_eq!(t.to_f32().unwrap(), u.to_f32().unwrap(), "{key}");
        } else {
            assert_eq!(t.to_i64().unwrap(), u.to_i64().unwrap(), "{key}");
        }
    }
}
