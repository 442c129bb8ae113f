//! JPEG (and MPO, whose first frame starts at byte 0) decoded bit-exactly as Pillow 10.0 does:
//! Pillow's own header walk ([`super::jpeg_header`]) decides acceptance and size, then
//! libjpeg-turbo (the library inside Pillow) decodes with Pillow's settings through the C shim
//! `jpeg_shim.c`, and the result is converted to RGB with Pillow's `convert("RGB")` rules:
//! `L` replicated, `RGB` as is, `CMYK` read with Adobe's inverted polarity (`CMYK;I`) then
//! `r = 255 − k' − c'·(255 − k')/255` (Pillow's `cmyk2rgb`, integer rounding included).
//!
//! Rows the decoder never reached (truncated or broken data) keep the value of Pillow's fresh
//! image memory: zero, i.e. black for `L`/`RGB` and white for `CMYK`.

use super::jpeg_header::{self, JpegHeader};
use super::Decoded;
use std::ffi::{c_char, c_int, CStr};

const SHIM_COMPLETE: c_int = 0;
const SHIM_SUSPENDED: c_int = 1;

extern "C" {
    fn unival_jpeg_decode(
        data: *const u8,
        len: usize,
        out: *mut u8,
        width: u32,
        height: u32,
        components: c_int,
        rows_done: *mut u32,
        damaged: *mut c_int,
        message: *mut c_char,
        message_len: usize,
    ) -> c_int;
}

/// Pillow's header view, or its reason for refusing the file.
pub(super) fn header(data: &[u8]) -> Result<JpegHeader, String> {
    jpeg_header::parse(data)
}

/// Decodes the pixels of a file whose header [`header`] accepted; the caller has checked the
/// size against the pixel budget.
pub(super) fn decode(data: &[u8], head: &JpegHeader) -> Decoded {
    let components = usize::from(head.layers);
    let row_bytes = head.width as usize * components;
    // Pillow's fresh memory is zero in its own storage; for CMYK that storage is inverted.
    let fresh = if head.layers == 4 { 0xFF } else { 0 };
    let mut raw = vec![fresh; row_bytes * head.height as usize];
    // The file followed by the EOI marker Pillow appends at end of file (see jpeg_shim.c).
    let mut input = Vec::with_capacity(data.len() + 2);
    input.extend_from_slice(data);
    input.extend_from_slice(&[0xFF, 0xD9]);
    let mut rows_done = 0u32;
    let mut damaged: c_int = 0;
    let mut message = [0 as c_char; 200];
    // SAFETY: `raw` holds exactly `height` rows of `width * components` bytes, the size the shim
    // writes; `input` holds `data.len() + 2` bytes as the shim requires; `message` is valid for
    // its length; the shim keeps no pointer.
    let status = unsafe {
        unival_jpeg_decode(
            input.as_ptr(),
            data.len(),
            raw.as_mut_ptr(),
            head.width,
            head.height,
            c_int::from(head.layers),
            &mut rows_done,
            &mut damaged,
            message.as_mut_ptr(),
            message.len(),
        )
    };
    let warning = if status == SHIM_COMPLETE || status == SHIM_SUSPENDED {
        (rows_done < head.height || damaged != 0).then(|| {
            format!(
                "JPEG data is truncated or damaged ({rows_done} of {} rows decoded); decoded as \
                 far as it goes, the rest filled as Pillow fills it",
                head.height
            )
        })
    } else {
        // SAFETY: the shim always NUL-terminates `message` within its length.
        let text = unsafe { CStr::from_ptr(message.as_ptr()) }.to_string_lossy();
        Some(format!(
            "libjpeg stopped after {rows_done} of {} rows ({text}); the rest is filled as \
             Pillow fills it",
            head.height
        ))
    };
    let rgb = match head.layers {
        1 => raw.iter().flat_map(|&v| [v, v, v]).collect(),
        3 => raw,
        _ => raw.chunks_exact(4).flat_map(cmyk_inverted_to_rgb).collect(),
    };
    Decoded {
        width: head.width,
        height: head.height,
        rgb,
        warning,
    }
}

/// Pillow's `CMYK;I` unpacking (bitwise inversion) followed by its `cmyk2rgb`.
fn cmyk_inverted_to_rgb(px: &[u8]) -> [u8; 3] {
    let k = u32::from(!px[3]);
    let nk = 255 - k;
    let channel = |c: u8| {
        let t = u32::from(!c) * nk + 128;
        let scaled = ((t >> 8) + t) >> 8;
        // `nk - scaled` is never negative (scaled ≤ nk), so Pillow's clip is a no-op here.
        u8::try_from(nk.saturating_sub(scaled)).unwrap_or(u8::MAX)
    };
    [channel(px[0]), channel(px[1]), channel(px[2])]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_conversion_matches_pillow_formula() {
        // Stored bytes are inverted (Adobe): 255 means no ink.
        assert_eq!(cmyk_inverted_to_rgb(&[255, 255, 255, 255]), [255, 255, 255]);
        assert_eq!(cmyk_inverted_to_rgb(&[0, 0, 0, 0]), [0, 0, 0]);
        assert_eq!(cmyk_inverted_to_rgb(&[0, 255, 128, 255]), [0, 255, 128]);
        // Fresh image memory (all zero in Pillow's CMYK storage, i.e. 255 here) is white.
        assert_eq!(cmyk_inverted_to_rgb(&[255; 4]), [255; 3]);
    }
}
