//! Run-length encoded BMP pixels (RLE8, RLE4) exactly as Pillow 10.0's Python `BmpRleDecoder`
//! expands them, including its quirks, then handed to its raw decoder like `set_as_raw` does.
//!
//! The stream is a flat list of pixel values filled until it holds `width × height`:
//! - `n v` (n > 0): n copies of v (RLE4: its two nibbles alternating), clipped at the row's end;
//! - `0 0` end of line: zeros up to the next multiple of the width;
//! - `0 1` end of bitmap: stop;
//! - `0 2`: a delta, for which Pillow reads two bytes, then reads **two more** and uses those as
//!   (right, up): `right + up × width` zeros; fewer than two more bytes is an error;
//! - `0 n` (n ≥ 3): n literal values (RLE4: `n / 2` bytes, so an odd count loses its last
//!   pixel), not clipped, then the file position is aligned to an even **absolute** offset.
//!
//! A stream that stops before `width × height` values is refused ("not enough image data").

use super::header::Layout;
use super::BmpError;

/// The file seen as Pillow's file object: short reads at the end, seeks past it allowed.
struct Stream<'a> {
    data: &'a [u8],
    pos: u64,
}

impl<'a> Stream<'a> {
    fn read(&mut self, n: u64) -> &'a [u8] {
        let len = self.data.len() as u64;
        let start = self.pos.min(len);
        let end = self.pos.saturating_add(n).min(len).max(start);
        self.pos = self.pos.max(end);
        // Both bounds are within the slice, so they fit in usize.
        &self.data[start as usize..end as usize]
    }

    fn byte(&mut self) -> Option<u8> {
        self.read(1).first().copied()
    }
}

/// The decoded values: a fixed canvas and the logical length of Pillow's growing byte string.
struct Values {
    buf: Vec<u8>,
    len: u64,
}

impl Values {
    fn push(&mut self, value: u8) {
        if let Some(slot) = usize::try_from(self.len)
            .ok()
            .and_then(|i| self.buf.get_mut(i))
        {
            *slot = value;
        }
        self.len += 1;
    }

    fn push_zeros(&mut self, n: u64) {
        self.len += n; // the canvas starts zeroed
    }
}

/// Expands the stream at `layout.data_offset` into `width × height` values in stored row order.
pub(super) fn expand(data: &[u8], layout: &Layout, nibbles: bool) -> Result<Vec<u8>, BmpError> {
    let width = u64::from(layout.width);
    let total = width * u64::from(layout.height);
    let mut buf = Vec::new();
    let size = usize::try_from(total)
        .map_err(|_| BmpError::Corrupt(format!("{total} pixels do not fit in memory")))?;
    buf.try_reserve_exact(size)
        .map_err(|_| BmpError::Corrupt(format!("cannot allocate {total} pixels")))?;
    buf.resize(size, 0);
    let mut out = Values { buf, len: 0 };
    let mut stream = Stream {
        data,
        pos: layout.data_offset,
    };
    let mut x: u64 = 0;
    while out.len < total {
        let (Some(count), Some(value)) = (stream.byte(), stream.byte()) else {
            break;
        };
        if count > 0 {
            let run = u64::from(count).min(width.saturating_sub(x));
            for i in 0..run {
                out.push(match (nibbles, i % 2) {
                    (false, _) => value,
                    (true, 0) => value >> 4,
                    (true, _) => value & 0x0F,
                });
            }
            x += run;
            continue;
        }
        match value {
            0 => {
                out.push_zeros((width - out.len % width) % width);
                x = 0;
            }
            1 => break,
            2 => {
                if stream.read(2).len() < 2 {
                    break;
                }
                let &[right, up] = stream.read(2) else {
                    return Err(BmpError::Corrupt(
                        "RLE delta cut short by the end of the file".into(),
                    ));
                };
                out.push_zeros(u64::from(right) + u64::from(up) * width);
                x = out.len % width;
            }
            literal => {
                let wanted = if nibbles { literal / 2 } else { literal };
                let bytes = stream.read(u64::from(wanted));
                for &b in bytes {
                    if nibbles {
                        out.push(b >> 4);
                        out.push(b & 0x0F);
                    } else {
                        out.push(b);
                    }
                }
                if bytes.len() < usize::from(wanted) {
                    break;
                }
                x += u64::from(literal);
                if !stream.pos.is_multiple_of(2) {
                    stream.pos += 1;
                }
            }
        }
    }
    if out.len < total {
        return Err(BmpError::Corrupt(format!(
            "run-length data ends after {} of {total} pixels (Pillow: not enough image data)",
            out.len
        )));
    }
    Ok(out.buf)
}
