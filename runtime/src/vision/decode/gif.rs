//! GIF first frame as Pillow 10.0's `GifImagePlugin` reads it, then `convert("RGB")`:
//! - the canvas is the logical screen, grown to cover the first frame if it sticks out;
//! - the canvas starts filled with the frame's transparent index when it has one, else index 0;
//! - every frame pixel is written, transparent ones included (Pillow keeps the index and only
//!   records `info["transparency"]`, which `convert("RGB")` ignores);
//! - the frame's palette is its local table, else the global one; a table that is the identity
//!   grey ramp (entry i = (i, i, i)) counts as none, and without a palette Pillow's mode is `L`:
//!   the index is the grey value;
//! - palette entries past the end of a short table are Pillow's default grey ramp;
//! - frame data that ends early leaves the rest of the canvas as it was filled.

use super::Decoded;

/// The canvas size and a decoder positioned at the first frame, or Pillow's refusal.
pub(super) struct GifFrame<'a> {
    decoder: gif::Decoder<&'a [u8]>,
    /// Canvas size (logical screen grown to the frame).
    pub width: u32,
    pub height: u32,
}

/// A copy of `data` with a grey-ramp global table inserted when the file has none.
///
/// The `gif` crate refuses a frame without any colour table; Pillow reads it as mode `L`, which
/// is exactly what an identity grey table gives under [`palette_needed`]. `None` when the file
/// already has a global table (or is too short to have a screen descriptor).
pub(super) fn with_grey_table(data: &[u8]) -> Option<Vec<u8>> {
    const SCREEN_END: usize = 13;
    let flags = *data.get(10)?;
    if flags & 0x80 != 0 || data.len() < SCREEN_END {
        return None;
    }
    let mut patched = Vec::with_capacity(data.len() + 768);
    patched.extend_from_slice(&data[..10]);
    patched.push(flags | 0x87); // global table present, 2^(7+1) = 256 entries
    patched.extend_from_slice(&data[11..SCREEN_END]);
    patched.extend((0..=255u8).flat_map(|i| [i, i, i]));
    patched.extend_from_slice(&data[SCREEN_END..]);
    Some(patched)
}

/// Reads the header and the first frame's descriptor.
pub(super) fn open(data: &[u8]) -> Result<GifFrame<'_>, String> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    options.allow_unknown_blocks(true);
    let mut decoder = options.read_info(data).map_err(|e| e.to_string())?;
    let (screen_w, screen_h) = (u32::from(decoder.width()), u32::from(decoder.height()));
    let frame = decoder
        .next_frame_info()
        .map_err(|e| e.to_string())?
        .ok_or("no image in the file")?;
    let width = screen_w.max(u32::from(frame.left) + u32::from(frame.width));
    let height = screen_h.max(u32::from(frame.top) + u32::from(frame.height));
    Ok(GifFrame {
        decoder,
        width,
        height,
    })
}

/// Pillow's `_is_palette_needed`: a table that is exactly the grey ramp is no palette.
fn palette_needed(table: &[u8]) -> bool {
    table
        .chunks(3)
        .enumerate()
        .any(|(i, c)| c.iter().any(|&v| usize::from(v) != i))
}

/// Decodes the first frame onto the canvas; the caller has checked the canvas size.
pub(super) fn decode(mut gif: GifFrame<'_>) -> Decoded {
    let (width, height) = (gif.width as usize, gif.height as usize);
    let Some(frame) = gif.decoder.current_frame_info() else {
        return Decoded {
            width: gif.width,
            height: gif.height,
            rgb: vec![0; width * height * 3],
            warning: None,
        };
    };
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
    let interlaced = frame.interlaced;
    let local = frame.palette.clone();
    let fill = frame.transparent.unwrap_or(0);
    let table: Option<Vec<u8>> = local
        .or_else(|| gif.decoder.global_palette().map(<[u8]>::to_vec))
        .filter(|t| palette_needed(t));
    let mut indices = vec![fill; width * height];
    let mut row = vec![0u8; fw];
    let mut complete = true;
    for n in 0..fh {
        match gif.decoder.fill_buffer(&mut row) {
            Ok(true) => {}
            _ => {
                complete = false;
                break;
            }
        }
        let y = top + frame_row(n, fh, interlaced);
        let start = y * width + left;
        indices[start..start + fw].copy_from_slice(&row);
    }
    let colour = |i: u8| -> [u8; 3] {
        let k = usize::from(i) * 3;
        match table.as_ref().and_then(|t| t.get(k..k + 3)) {
            Some(c) => [c[0], c[1], c[2]],
            None => [i, i, i],
        }
    };
    Decoded {
        width: gif.width,
        height: gif.height,
        rgb: indices.into_iter().flat_map(colour).collect(),
        warning: (!complete).then(|| {
            "GIF frame data ends early; decoded as far as it goes, the rest filled as Pillow fills it"
                .to_string()
        }),
    }
}

/// Row of the frame that the `n`-th stored row lands on (GIF interlacing: every 8th row from 0,
/// every 8th from 4, every 4th from 2, every 2nd from 1).
fn frame_row(n: usize, height: usize, interlaced: bool) -> usize {
    if !interlaced {
        return n;
    }
    let mut n = n;
    for (start, step) in [(0, 8), (4, 8), (2, 4), (1, 2)] {
        let rows = height.saturating_sub(start).div_ceil(step);
        if n < rows {
            return start + n * step;
        }
        n -= rows;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interlaced_rows_land_in_pass_order() {
        let order: Vec<usize> = (0..10).map(|n| frame_row(n, 10, true)).collect();
        assert_eq!(order, [0, 8, 4, 2, 6, 1, 3, 5, 7, 9]);
        assert_eq!(frame_row(3, 10, false), 3);
    }

    #[test]
    fn grey_ramp_is_no_palette() {
        assert!(!palette_needed(&[0, 0, 0, 1, 1, 1]));
        assert!(palette_needed(&[0, 0, 0, 1, 1, 2]));
    }
}
