//! Quantised bundles end to end: a tiny synthetic checkpoint exported as int8 and int4
//! captions images, and `unival compare` against its fp32 bundle reports logit errors under
//! stated bounds (measured: int8 ≈ 1.3e-2, int4 ≈ 0.2 relative, with random weights).

mod common;

use common::{export, scratch, tiny_caption_bundle, tiny_fp32, unival};
use image::{Rgb, RgbImage};
use std::path::Path;

/// Bound on ‖Δ logits‖/‖fp32 logits‖ for the int8 tiny bundle (measured ≈ 1.3e-2).
const INT8_BOUND: f64 = 3e-2;
/// Bound for int4 (measured ≈ 0.2: 4-bit codes of Gaussian weights err by ≈ 9 % rms each).
const INT4_BOUND: f64 = 0.4;

/// Writes a few varied images (noise, gradient, checkerboard; several sizes) into `dir`.
fn write_images(dir: &Path) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state & 0xff) as u8
    };
    let noise = RgbImage::from_fn(97, 61, |_, _| Rgb([rand(), rand(), rand()]));
    noise.save(dir.join("noise.png")).unwrap();
    let gradient = RgbImage::from_fn(320, 240, |x, y| {
        Rgb([(x * 255 / 320) as u8, (y * 255 / 240) as u8, 128])
    });
    gradient.save(dir.join("gradient.png")).unwrap();
    let checker = RgbImage::from_fn(480, 480, |x, y| {
        if (x / 24 + y / 24) % 2 == 0 {
            Rgb([250, 240, 10])
        } else {
            Rgb([10, 20, 200])
        }
    });
    checker.save(dir.join("checker.bmp")).unwrap();
}

fn compare_json(a: &Path, b: &Path, images: &Path, out: &Path) -> serde_json::Value {
    let run = unival([
        "compare".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--images".as_ref(),
        images.as_os_str(),
        "--beam".as_ref(),
        "2".as_ref(),
        "--json".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
    .ok();
    let printed: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert_eq!(printed, written);
    printed
}

#[test]
fn quantised_bundles_caption_and_stay_close_to_fp32() {
    let dir = scratch();
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    write_images(&images);
    let fp32 = tiny_caption_bundle();
    for (precision, bound) in [("int8", INT8_BOUND), ("int4", INT4_BOUND)] {
        let bundle = dir.path().join(precision);
        export(tiny_fp32(), "caption", &bundle, &["--precision", precision]).ok();
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["precision"], precision);

        let cap = unival([
            "caption".as_ref(),
            "--model".as_ref(),
            bundle.as_os_str(),
            "--json".as_ref(),
            images.join("gradient.png").as_os_str(),
        ])
        .ok();
        let out: serde_json::Value = serde_json::from_str(cap.stdout.trim()).unwrap();
        assert!(!out["tokens"].as_array().unwrap().is_empty(), "{out}");

        let report = compare_json(
            fp32,
            &bundle,
            &images,
            &dir.path().join(format!("{precision}.json")),
        );
        let agg = &report["aggregate"];
        eprintln!("{precision}: {agg}");
        assert_eq!(agg["images"], 3);
        assert_eq!(report["per_image"].as_array().unwrap().len(), 3);
        let rel = agg["logit_rel_error"].as_f64().unwrap();
        assert!(rel > 0.0 && rel < bound, "{precision}: logit error {rel}");
        let enc = agg["encoder_out_rel_error"].as_f64().unwrap();
        assert!(enc > 0.0 && enc < bound, "{precision}: encoder error {enc}");
        let top1 = agg["top1_agreement"].as_f64().unwrap();
        assert!(top1 > 0.5 && top1 <= 1.0, "{precision}: top-1 {top1}");
        assert!(agg["kl_mean"].as_f64().unwrap() <= agg["kl_max"].as_f64().unwrap());
        assert!(report["note"].as_str().unwrap().contains("unverified"));
    }
}

#[test]
fn a_bundle_compared_with_itself_agrees_exactly() {
    let dir = scratch();
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    write_images(&images);
    let fp32 = tiny_caption_bundle();
    let report = compare_json(fp32, fp32, &images, &dir.path().join("self.json"));
    let agg = &report["aggregate"];
    assert_eq!(agg["logit_rel_error"].as_f64().unwrap(), 0.0);
    assert_eq!(agg["kl_max"].as_f64().unwrap(), 0.0);
    assert_eq!(agg["top1_agreement"].as_f64().unwrap(), 1.0);
    assert_eq!(agg["caption_equality_rate"].as_f64().unwrap(), 1.0);
}
