//! Errors of image loading and preprocessing. Every file-related variant names the file.

use std::path::PathBuf;

/// What went wrong while loading or preprocessing an image.
///
/// `file` is the path given by the caller, or `<memory>` for [`super::load_rgb_from_bytes`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VisionError {
    /// The file does not exist.
    #[error("image file {file} does not exist")]
    NotFound { file: PathBuf },
    /// The file exists but could not be opened or read.
    #[error("cannot read image file {file}: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file has zero bytes.
    #[error("image file {file} is empty")]
    Empty { file: PathBuf },
    /// The content is not one of the supported formats (PNG, JPEG, WebP, BMP, GIF), or uses a
    /// feature or pixel type of that format that is not supported.
    #[error(
        "image file {file}: unsupported format ({detail}); supported: PNG, JPEG, WebP, BMP, GIF"
    )]
    Unsupported { file: PathBuf, detail: String },
    /// The content claims a supported format but is corrupt or truncated.
    #[error("image file {file} is corrupt or truncated: {detail}")]
    Corrupt { file: PathBuf, detail: String },
    /// The header announces more pixels than the configured budget
    /// ([`super::ImageOptions::max_pixels`]); nothing was decoded.
    #[error(
        "image file {file} is {width}x{height} = {pixels} pixels, above the limit of {max_pixels} \
         pixels (raise ImageOptions::max_pixels to allow it)"
    )]
    TooLarge {
        file: PathBuf,
        width: u32,
        height: u32,
        pixels: u64,
        max_pixels: u64,
    },
    /// A resize from or to a size with a zero dimension.
    #[error("cannot resize a {}x{} image to {}x{}", from.0, from.1, to.0, to.1)]
    InvalidResize { from: (u32, u32), to: (u32, u32) },
    /// Normalisation with a non-positive or non-finite standard deviation.
    #[error("invalid normalisation std {std:?} (every channel must be finite and > 0)")]
    InvalidStd { std: [f32; 3] },
}
