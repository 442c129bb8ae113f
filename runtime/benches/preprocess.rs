//! Image preprocessing (docs/model.md §5 intro): a 640×480 RGB image resized (Pillow-exact bicubic)
//! to 480×480 and normalised into the `[1, 3, 480, 480]` tensor; and the same from PNG bytes.

use criterion::{criterion_group, criterion_main, Criterion};
use image::RgbImage;
use std::hint::black_box;
use unival_runtime::vision::{load_rgb_from_bytes, resize_bicubic, to_tensor, ImageOptions};

/// A 640×480 image with detail in every channel (a flat one would flatter the resize).
fn picture() -> RgbImage {
    RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x * 7 + y * 3) as u8, (x ^ y) as u8, ((x * y) >> 4) as u8])
    })
}

fn preprocess(c: &mut Criterion) {
    let img = picture();
    let (mean, std) = ([0.5f32; 3], [0.5f32; 3]);
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap_or_default();
    let opts = ImageOptions::default();
    let mut group = c.benchmark_group("preprocess");
    group.bench_function("resize_640x480_to_480_and_tensor", |b| {
        b.iter(|| {
            let r = resize_bicubic(black_box(&img), 480, 480).map(|r| to_tensor(&r, mean, std));
            black_box(r.is_ok())
        })
    });
    group.bench_function("png_decode_resize_tensor_640x480", |b| {
        b.iter(|| {
            let r = load_rgb_from_bytes(black_box(&png), &opts)
                .and_then(|rgb| resize_bicubic(&rgb, 480, 480))
                .and_then(|r| to_tensor(&r, mean, std));
            black_box(r.is_ok())
        })
    });
    group.finish();
}

criterion_group!(benches, preprocess);
criterion_main!(benches);
