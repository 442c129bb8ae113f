//! Image bytes: the runtime's decoder entry point ([`load_rgb_from_bytes`], the same dispatch as
//! [`unival_runtime::vision::load_rgb`] on a file), then the model's resize and tensor.

use unival_runtime::vision::{load_rgb_from_bytes, resize_bicubic, to_tensor, ImageOptions};

/// Pixel budget for fuzzing: big enough for every real test image, small enough that a header
/// announcing a huge picture is refused instead of taking the fuzzer's memory.
const FUZZ_MAX_PIXELS: u64 = 1 << 22;

/// Decodes `data`; a decoded image must fit the budget, and resize + tensor must either work or
/// (only for an image with no pixels, which Pillow also opens, e.g. a GIF whose screen is 0 wide)
/// fail with an error.
pub fn run(data: &[u8]) {
    let exif_rotate = data.len() % 2 == 1;
    let opts = ImageOptions {
        exif_rotate,
        max_pixels: FUZZ_MAX_PIXELS,
    };
    let Ok(rgb) = load_rgb_from_bytes(data, &opts) else {
        return;
    };
    let pixels = u64::from(rgb.width()) * u64::from(rgb.height());
    assert!(pixels <= FUZZ_MAX_PIXELS, "decoded past the pixel budget");
    let Ok(small) = resize_bicubic(&rgb, 16, 16) else {
        assert_eq!(
            pixels,
            0,
            "resize refused a {}x{} image",
            rgb.width(),
            rgb.height()
        );
        return;
    };
    let tensor = to_tensor(&small, [0.5; 3], [0.5; 3]).expect("the tensor of a decoded image");
    assert!(
        tensor.iter().all(|v| v.is_finite()),
        "non-finite value in the image tensor"
    );
}
