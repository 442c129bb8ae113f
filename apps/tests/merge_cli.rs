//! `unival merge` semantics on synthesised checkpoints (two random inits of the tiny preset):
//! λ = 1 gives the first model byte for byte, 0.5·θ + 0.5·θ gives θ back, fp16 results equal
//! PyTorch's arithmetic computed independently here (f32 product, fp16 rounding, f32 sum, fp16
//! rounding), the metadata is the first checkpoint's, a `.safetensors` output is read alone by
//! the exporter, a merged bundle captions exactly like a bundle exported from an interpolation
//! written by hand, and checkpoints of different architectures are refused.

mod common;

use common::{assert_clean_failure, export, name_of, scratch, unival};
use half::f16;
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};
use unival_export::checkpoint::{Checkpoint, StorageType, WeightsChoice};
use unival_export::synth::{self, StoreDType, SynthOptions};

/// Writes a tiny synthetic checkpoint with `seed` into `dir`.
fn synth_ckpt(dir: &Path, seed: u64, dtype: StoreDType, ema: bool) -> PathBuf {
    let out = dir.join(format!("s{seed}_{dtype:?}_{ema}.pt"));
    let opts = SynthOptions {
        seed,
        dtype,
        with_ema: ema,
        ..SynthOptions::default()
    };
    synth::write(&opts, &out).unwrap();
    out
}

fn merge(inputs: &[&Path], weights: &str, out: &Path, extra: &[&str]) -> common::Run {
    let mut args: Vec<&std::ffi::OsStr> = vec!["merge".as_ref()];
    args.extend(inputs.iter().map(|p| p.as_os_str()));
    args.extend([
        "--weights".as_ref(),
        weights.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    unival(args)
}

fn open(path: &Path, choice: WeightsChoice) -> Checkpoint {
    Checkpoint::open(path, choice).unwrap()
}

/// Row-major bytes of every entry, by key.
fn bytes_of(ck: &Checkpoint, key: &str) -> Vec<u8> {
    let t = ck.weights.get(key).unwrap();
    match t.dtype() {
        StorageType::F32 => t
            .to_f32()
            .unwrap()
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        StorageType::F16 => t
            .to_f32()
            .unwrap()
            .iter()
            .flat_map(|x| f16::from_f32(*x).to_le_bytes())
            .collect(),
        _ => t
            .to_i64()
            .unwrap()
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
    }
}

fn assert_same_weights(a: &Checkpoint, b: &Checkpoint) {
    assert_eq!(
        a.weights.keys().collect::<Vec<_>>(),
        b.weights.keys().collect::<Vec<_>>()
    );
    for key in a.weights.keys() {
        let (ta, tb) = (a.weights.get(key).unwrap(), b.weights.get(key).unwrap());
        assert_eq!(ta.dtype(), tb.dtype(), "{key}");
        assert_eq!(ta.shape(), tb.shape(), "{key}");
        assert!(bytes_of(a, key) == bytes_of(b, key), "{key} differs");
    }
}

#[test]
fn lambda_one_gives_the_first_model_exactly_with_its_metadata() {
    let dir = scratch();
    let a = synth_ckpt(dir.path(), 7, StoreDType::F32, true);
    let b = synth_ckpt(dir.path(), 8, StoreDType::F32, true);
    let out = dir.path().join("merged.pt");
    let run = merge(&[&a, &b], "1,0", &out, &["--ema"]).ok();
    assert!(
        run.stderr.contains("merged 2 checkpoints"),
        "{}",
        run.stderr
    );
    for choice in [WeightsChoice::Model, WeightsChoice::Ema] {
        let (ca, cm) = (open(&a, choice), open(&out, choice));
        assert_same_weights(&ca, &cm);
        assert_eq!(ca.model_args, cm.model_args);
        assert_eq!(ca.task_cfg, cm.task_cfg);
        assert_eq!(ca.generation_cfg, cm.generation_cfg);
    }
    // The two seeds really differ, so the test would notice the second model leaking in.
    let (ca, cb) = (
        open(&a, WeightsChoice::Model),
        open(&b, WeightsChoice::Model),
    );
    let key = "encoder.layers.0.fc1.weight";
    assert_ne!(bytes_of(&ca, key), bytes_of(&cb, key));
}

#[test]
fn half_of_two_copies_gives_the_model_back_and_no_stale_ema() {
    let dir = scratch();
    let a = synth_ckpt(dir.path(), 7, StoreDType::F32, true);
    let out = dir.path().join("merged.pt");
    merge(&[&a, &a], "0.5,0.5", &out, &[]).ok();
    let merged = open(&out, WeightsChoice::Auto);
    assert!(
        !merged.has_ema,
        "without --ema the first model's EMA must not be carried over"
    );
    assert_same_weights(&open(&a, WeightsChoice::Model), &merged);
}

/// PyTorch's `avg = θa * λa; avg += λb * θb` on fp16 storages, written independently of the
/// merge code.
fn torch_fp16(a: f32, b: f32, la: f64, lb: f64) -> u16 {
    let pa = f16::from_f32(a * la as f32);
    let pb = f16::from_f32(b * lb as f32);
    f16::from_f32(pa.to_f32() + pb.to_f32()).to_bits()
}

#[test]
fn fp16_merge_is_bit_exact_for_model_and_ema() {
    let dir = scratch();
    let a = synth_ckpt(dir.path(), 7, StoreDType::F16, true);
    let b = synth_ckpt(dir.path(), 8, StoreDType::F16, true);
    let out = dir.path().join("merged.pt");
    let (la, lb) = (0.3, 0.7); // not fp16 numbers: the products round from f32
    merge(&[&a, &b], "0.3,0.7", &out, &["--ema"]).ok();
    let mut checked = 0usize;
    for choice in [WeightsChoice::Model, WeightsChoice::Ema] {
        let (ca, cb, cm) = (open(&a, choice), open(&b, choice), open(&out, choice));
        for (key, tm) in cm.weights.iter() {
            let (ta, tb) = (ca.weights.get(key).unwrap(), cb.weights.get(key).unwrap());
            assert_eq!(tm.dtype(), ta.dtype(), "{key}");
            if tm.dtype() != StorageType::F16 {
                assert_eq!(
                    tm.to_i64().unwrap(),
                    ta.to_i64().unwrap(),
                    "{key}: tables kept"
                );
                continue;
            }
            let (va, vb, vm) = (
                ta.to_f32().unwrap(),
                tb.to_f32().unwrap(),
                tm.to_f32().unwrap(),
            );
            for i in 0..vm.len() {
                let want = torch_fp16(va[i], vb[i], la, lb);
                assert_eq!(f16::from_f32(vm[i]).to_bits(), want, "{key}[{i}]");
                checked += 1;
            }
        }
    }
    assert!(checked > 100_000, "{checked}");
}

#[test]
fn safetensors_output_carries_its_config_and_equals_the_torch_output() {
    let dir = scratch();
    let a = synth_ckpt(dir.path(), 7, StoreDType::F32, false);
    let b = synth_ckpt(dir.path(), 8, StoreDType::F32, false);
    let pt = dir.path().join("merged.pt");
    let st = dir.path().join("merged.safetensors");
    merge(&[&a, &b], "0.25,0.75", &pt, &[]).ok();
    merge(&[&a, &b], "0.25,0.75", &st, &[]).ok();
    std::fs::remove_file(dir.path().join("merged.json")).unwrap();
    let (cp, cs) = (
        open(&pt, WeightsChoice::Auto),
        open(&st, WeightsChoice::Auto),
    );
    assert_same_weights(&cp, &cs);
    assert_eq!(cp.model_args, cs.model_args);
    assert_eq!(cp.task_cfg, cs.task_cfg);
    assert_eq!(cp.generation_cfg, cs.generation_cfg);
}

/// Writes `Σ λ·θ` of fp32 checkpoints as a safetensors file + config, by hand.
fn hand_interpolation(a: &Path, b: &Path, la: f32, lb: f32, out: &Path) {
    let (ca, cb) = (open(a, WeightsChoice::Model), open(b, WeightsChoice::Model));
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (key, ta) in ca.weights.iter() {
        let tb = cb.weights.get(key).unwrap();
        let start = data.len();
        let dtype = if ta.dtype() == StorageType::F32 {
            let (va, vb) = (ta.to_f32().unwrap(), tb.to_f32().unwrap());
            data.extend(
                va.iter()
                    .zip(&vb)
                    .flat_map(|(x, y)| (x * la + y * lb).to_le_bytes()),
            );
            "F32"
        } else {
            data.extend(ta.to_i64().unwrap().iter().flat_map(|x| x.to_le_bytes()));
            "I64"
        };
        header.insert(
            key.to_string(),
            serde_json::json!({"dtype": dtype, "shape": ta.shape(), "data_offsets": [start, data.len()]}),
        );
    }
    let head = serde_json::to_vec(&header).unwrap();
    let mut file = (head.len() as u64).to_le_bytes().to_vec();
    file.extend(head);
    file.extend(data);
    std::fs::write(out, file).unwrap();
    let config = serde_json::json!({"model": ca.model_args, "task": ca.task_cfg,
                                    "generation": ca.generation_cfg});
    std::fs::write(out.with_extension("json"), config.to_string()).unwrap();
}

#[test]
fn merged_bundle_captions_like_a_bundle_of_a_hand_made_interpolation() {
    let dir = scratch();
    let a = synth_ckpt(dir.path(), 7, StoreDType::F32, false);
    let b = synth_ckpt(dir.path(), 8, StoreDType::F32, false);
    let merged = dir.path().join("merged.pt");
    merge(&[&a, &b], "0.5,0.5", &merged, &[]).ok();
    let hand = dir.path().join("hand.safetensors");
    hand_interpolation(&a, &b, 0.5, 0.5, &hand);
    let image = dir.path().join("gradient.png");
    RgbImage::from_fn(320, 240, |x, y| {
        Rgb([(x * 255 / 320) as u8, (y * 255 / 240) as u8, 90])
    })
    .save(&image)
    .unwrap();
    let caption = |ckpt: &Path, name: &str| {
        let bundle = dir.path().join(name);
        export(ckpt, "caption", &bundle, &[]).ok();
        let run = unival([
            "caption".as_ref(),
            image.as_os_str(),
            "--json".as_ref(),
            "--model".as_ref(),
            bundle.as_os_str(),
        ])
        .ok();
        let mut v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        v.as_object_mut().unwrap().remove("timings_ms");
        v
    };
    let (from_merge, from_hand) = (caption(&merged, "m"), caption(&hand, "h"));
    assert!(
        from_merge["tokens"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{from_merge}"
    );
    assert_eq!(from_merge, from_hand);
    // And the interpolation is not simply one of the two models.
    assert_ne!(from_merge, caption(&a, "a"));
}

#[test]
fn checkpoints_of_different_architectures_are_refused() {
    let dir = scratch();
    let a = synth_ckpt(dir.path(), 7, StoreDType::F32, false);
    let other = dir.path().join("three_stage.pt");
    let opts = SynthOptions {
        image_encoder: "resnet".into(),
        ..SynthOptions::default()
    };
    synth::write(&opts, &other).unwrap();
    let out = dir.path().join("merged.pt");
    let run = merge(&[&a, &other], "0.5,0.5", &out, &[]);
    assert_clean_failure(&run, &name_of(&other), &["architecture", "key '"]);
    assert!(!out.exists());
    let run = merge(&[&a, &a], "0.5", &out, &[]);
    assert_clean_failure(&run, "--weights", &["1 weight(s) for 2 checkpoints"]);
    let run = merge(&[&a, &a], "0.5,0.5", &dir.path().join("merged.bin"), &[]);
    assert_clean_failure(&run, "merged.bin", &[".pt or .safetensors"]);
}
