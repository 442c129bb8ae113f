//! Unit tests of the decoding entry points (format dispatch, Pillow conversions, limits, errors).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::vision::test_support::{pattern, png};

fn opts() -> ImageOptions {
    ImageOptions::default()
}

fn first_row(img: &RgbImage) -> Vec<[u8; 3]> {
    (0..img.width()).map(|x| img.get_pixel(x, 0).0).collect()
}

fn reds(img: &RgbImage) -> Vec<u8> {
    first_row(img).iter().map(|p| p[0]).collect()
}

fn be16(values: &[u16], channels: usize, extra: u16) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| {
            let mut px = vec![v; channels];
            if extra != 0 {
                px.push(extra);
            }
            px.into_iter()
                .flat_map(u16::to_be_bytes)
                .collect::<Vec<u8>>()
        })
        .collect()
}

/// Expected values below were printed by Pillow 13.0.0 for the same bytes:
/// `np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGB"))`.
#[test]
fn sixteen_bit_modes_convert_like_pillow() {
    let vals = [0u16, 100, 255, 256, 1000, 32768, 65535];
    let w = vals.len() as u32;
    // Grey 16 → Pillow mode I;16 → RGB clips at 255.
    let g16 = png(w, 1, 16, 0, &[be16(&vals, 1, 0)], None, None);
    let img = load_rgb_from_bytes(&g16, &opts()).unwrap();
    assert_eq!(reds(&img), [0, 100, 255, 255, 255, 255, 255]);
    assert!(first_row(&img).iter().all(|p| p[0] == p[1] && p[1] == p[2]));
    // RGB 16 → high byte.
    let rgb16 = png(w, 1, 16, 2, &[be16(&vals, 3, 0)], None, None);
    let img = load_rgb_from_bytes(&rgb16, &opts()).unwrap();
    assert_eq!(reds(&img), [0, 0, 0, 1, 3, 128, 255]);
    // Grey+alpha 16 → Pillow RGBA via LA;16B → high byte, alpha dropped.
    let la16 = png(w, 1, 16, 4, &[be16(&vals, 1, 1234)], None, None);
    let img = load_rgb_from_bytes(&la16, &opts()).unwrap();
    assert_eq!(reds(&img), [0, 0, 0, 1, 3, 128, 255]);
    // RGBA 16 → high byte, alpha dropped.
    let rgba16 = png(w, 1, 16, 6, &[be16(&vals, 3, 7)], None, None);
    let img = load_rgb_from_bytes(&rgba16, &opts()).unwrap();
    assert_eq!(reds(&img), [0, 0, 0, 1, 3, 128, 255]);
}

#[test]
fn low_bit_depth_grey_palette_and_transparency_convert_like_pillow() {
    let g1 = png(8, 1, 1, 0, &[vec![0b1010_0110]], None, None);
    assert_eq!(
        reds(&load_rgb_from_bytes(&g1, &opts()).unwrap()),
        [255, 0, 255, 0, 0, 255, 255, 0]
    );
    let g2 = png(4, 1, 2, 0, &[vec![0b0001_1011]], None, None);
    assert_eq!(
        reds(&load_rgb_from_bytes(&g2, &opts()).unwrap()),
        [0, 85, 170, 255]
    );
    let g4 = png(2, 1, 4, 0, &[vec![0x1f]], None, None);
    assert_eq!(reds(&load_rgb_from_bytes(&g4, &opts()).unwrap()), [17, 255]);
    // Grey + tRNS: value kept, not composited.
    let gt = png(2, 1, 8, 0, &[vec![7, 9]], None, Some(&[0, 7]));
    assert_eq!(reds(&load_rgb_from_bytes(&gt, &opts()).unwrap()), [7, 9]);
    // RGB + tRNS.
    let rt = png(
        2,
        1,
        8,
        2,
        &[vec![7, 9, 11, 1, 2, 3]],
        None,
        Some(&[0, 7, 0, 9, 0, 11]),
    );
    assert_eq!(
        first_row(&load_rgb_from_bytes(&rt, &opts()).unwrap()),
        [[7, 9, 11], [1, 2, 3]]
    );
    // Palette + tRNS (index 0 fully transparent): palette colours, alpha ignored.
    let plte = [10, 20, 30, 40, 50, 60];
    let pt = png(2, 1, 8, 3, &[vec![0, 1]], Some(&plte), Some(&[0]));
    assert_eq!(
        first_row(&load_rgb_from_bytes(&pt, &opts()).unwrap()),
        [[10, 20, 30], [40, 50, 60]]
    );
    // 2-bit palette.
    let p2 = png(3, 1, 2, 3, &[vec![0b0001_0000]], Some(&plte), None);
    assert_eq!(
        first_row(&load_rgb_from_bytes(&p2, &opts()).unwrap()),
        [[10, 20, 30], [40, 50, 60], [10, 20, 30]]
    );
}

#[test]
fn eight_bit_grey_la_rgba_drop_alpha_without_compositing() {
    let l8 = png(3, 1, 8, 0, &[vec![0, 128, 255]], None, None);
    assert_eq!(
        first_row(&load_rgb_from_bytes(&l8, &opts()).unwrap()),
        [[0; 3], [128; 3], [255; 3]]
    );
    let la8 = png(2, 1, 8, 4, &[vec![77, 0, 200, 255]], None, None);
    assert_eq!(
        first_row(&load_rgb_from_bytes(&la8, &opts()).unwrap()),
        [[77; 3], [200; 3]]
    );
    let rgba = png(
        2,
        1,
        8,
        6,
        &[vec![1, 2, 3, 0, 250, 251, 252, 9]],
        None,
        None,
    );
    assert_eq!(
        first_row(&load_rgb_from_bytes(&rgba, &opts()).unwrap()),
        [[1, 2, 3], [250, 251, 252]]
    );
}

#[test]
fn bmp_gif_and_webp_decode_losslessly() {
    let src = pattern(13, 7);
    for format in [
        image::ImageFormat::Bmp,
        image::ImageFormat::Png,
        image::ImageFormat::WebP,
    ] {
        let mut bytes = Vec::new();
        src.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
        assert_eq!(
            load_rgb_from_bytes(&bytes, &opts()).unwrap(),
            src,
            "{format:?}"
        );
    }
    // GIF: a 2-colour image survives the palette quantisation exactly.
    let two = RgbImage::from_fn(5, 3, |x, _| {
        image::Rgb(if x % 2 == 0 { [255, 0, 0] } else { [0, 0, 255] })
    });
    let mut bytes = Vec::new();
    two.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Gif)
        .unwrap();
    assert_eq!(load_rgb_from_bytes(&bytes, &opts()).unwrap(), two);
}

#[test]
fn jpeg_decodes_exactly_as_pillow() {
    // `demo_crop16.jpg` and Pillow's decode of it (`.pillow.rgb`), see testdata/README.md.
    let ours = load_rgb_from_bytes(include_bytes!("../testdata/demo_crop16.jpg"), &opts()).unwrap();
    assert_eq!(ours.dimensions(), (16, 16));
    assert_eq!(
        ours.as_raw().as_slice(),
        include_bytes!("../testdata/demo_crop16.pillow.rgb").as_slice()
    );
}

#[test]
fn exif_orientation_is_ignored_by_default_and_applied_on_request() {
    // 4x2: red left half, blue right half; EXIF orientation 6 (display rotated 90° clockwise).
    let bytes = include_bytes!("../testdata/exif_orient6.jpg");
    let raw = load_rgb_from_bytes(bytes, &opts()).unwrap();
    assert_eq!(raw.dimensions(), (4, 2));
    assert!(raw.get_pixel(0, 0).0[0] > 200 && raw.get_pixel(3, 0).0[2] > 200);
    let rotate = ImageOptions {
        exif_rotate: true,
        ..opts()
    };
    let rotated = load_rgb_from_bytes(bytes, &rotate).unwrap();
    assert_eq!(rotated.dimensions(), (2, 4));
    assert_eq!(rotated, image::imageops::rotate90(&raw));
    // After a clockwise turn the red (left) half is on top.
    assert!(rotated.get_pixel(0, 0).0[0] > 200 && rotated.get_pixel(0, 3).0[2] > 200);
}

#[test]
fn oversized_header_is_refused_before_decoding() {
    // A 58-byte PNG announcing 20000x20000 RGB, with an empty IDAT: only the header is real.
    let bytes = png(20_000, 20_000, 8, 2, &[], None, None);
    assert!(bytes.len() < 100);
    match load_rgb_from_bytes(&bytes, &opts()) {
        Err(VisionError::TooLarge {
            width: 20_000,
            height: 20_000,
            pixels,
            max_pixels,
            ..
        }) => {
            assert_eq!(pixels, 400_000_000);
            assert_eq!(max_pixels, DEFAULT_MAX_PIXELS);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // A small budget applies to small images too; an image within budget decodes.
    let small = png(3, 2, 8, 0, &[vec![1, 2, 3], vec![4, 5, 6]], None, None);
    let tight = ImageOptions {
        max_pixels: 5,
        ..opts()
    };
    assert!(matches!(
        load_rgb_from_bytes(&small, &tight),
        Err(VisionError::TooLarge { pixels: 6, .. })
    ));
    let exact = ImageOptions {
        max_pixels: 6,
        ..opts()
    };
    assert_eq!(
        load_rgb_from_bytes(&small, &exact).unwrap().dimensions(),
        (3, 2)
    );
}

#[test]
fn bad_files_give_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let err = load_rgb(&missing, &opts()).unwrap_err();
    assert!(matches!(err, VisionError::NotFound { .. }));
    assert!(err.to_string().contains("missing.png"), "{err}");

    let empty = dir.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        load_rgb(&empty, &opts()),
        Err(VisionError::Empty { .. })
    ));

    let text = dir.path().join("notes.png");
    std::fs::write(&text, b"this is plain text, not an image\n").unwrap();
    let err = load_rgb(&text, &opts()).unwrap_err();
    assert!(matches!(err, VisionError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.png"), "{err}");

    let good = png(16, 16, 8, 2, &vec![vec![9u8; 48]; 16], None, None);
    let truncated = dir.path().join("truncated.png");
    std::fs::write(&truncated, &good[..good.len() - 40]).unwrap();
    let err = load_rgb(&truncated, &opts()).unwrap_err();
    assert!(matches!(err, VisionError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated.png"), "{err}");

    let mut garbled = good.clone();
    garbled[8 + 8 + 4] ^= 0xFF; // inside IHDR data: CRC mismatch / bad header
    let corrupt = dir.path().join("corrupt.png");
    std::fs::write(&corrupt, &garbled).unwrap();
    assert!(matches!(
        load_rgb(&corrupt, &opts()),
        Err(VisionError::Corrupt { .. })
    ));

    let jpeg_head = dir.path().join("head.jpg");
    std::fs::write(
        &jpeg_head,
        &include_bytes!("../testdata/exif_orient6.jpg")[..200],
    )
    .unwrap();
    assert!(matches!(
        load_rgb(&jpeg_head, &opts()),
        Err(VisionError::Corrupt { .. })
    ));

    let ok = dir.path().join("ok.png");
    std::fs::write(&ok, &good).unwrap();
    assert_eq!(
        load_rgb(&ok, &opts()).unwrap(),
        RgbImage::from_pixel(16, 16, image::Rgb([9; 3]))
    );
}
