//! The APNG checks Pillow 10.0's `PngImagePlugin` makes while opening a PNG and loading its
//! first frame, which the `png` crate does not make: frame-control (`fcTL`) and frame-data
//! (`fdAT`) sequence numbers must count up from 0, and a frame must fit in the image.
//!
//! Pillow reads chunks up to the first `IDAT` when opening (`acTL`, `fcTL` checked there), then,
//! after the image data, every chunk up to `IEND`, or up to the next `fcTL` when the file is
//! animated (more than one frame, counting a default image that is not the first frame). Each
//! `fdAT` met on the way is checked against the last sequence number, none before the first
//! `fcTL`. Malformed chunk headers end the walk, as they end Pillow's.

/// Pillow's reason for refusing `png`; `Ok` when these checks pass (also for plain PNGs).
pub(super) fn check_frame_sequence(png: &[u8]) -> Result<(), &'static str> {
    let (Some(image_w), Some(image_h)) = (be32(png, 16), be32(png, 20)) else {
        return Ok(());
    };
    let mut state = Sequence {
        last: None,
        image: (u64::from(image_w), u64::from(image_h)),
    };
    let mut frames: Option<u32> = None;
    let mut frame_before_idat = false;
    let mut chunks = Chunks { png, pos: 8 };
    // Opening: up to the first image data.
    loop {
        let Some((kind, body)) = chunks.next() else {
            return Ok(());
        };
        match kind {
            b"IDAT" => break,
            b"IEND" => return Ok(()),
            b"acTL" if body.len() >= 8 => {
                frames = match (frames, be32(body, 0).unwrap_or(0)) {
                    (Some(_), _) => None,
                    (None, n) if n == 0 || n > 0x8000_0000 => None,
                    (None, n) => Some(n),
                };
            }
            b"fcTL" => {
                state.frame_control(body)?;
                frame_before_idat |= body.len() >= 26;
            }
            b"fdAT" => {
                state.frame_data(body)?;
                break;
            }
            _ => {}
        }
    }
    let default_image = frames.is_some() && !frame_before_idat;
    let animated = frames.map_or(1, u64::from) + u64::from(default_image) > 1;
    // Loading the first frame: the image data, then the chunks after it.
    for (kind, body) in chunks {
        match kind {
            b"IEND" => break,
            b"fcTL" if animated => break,
            b"fcTL" => state.frame_control(body)?,
            b"fdAT" => state.frame_data(body)?,
            _ => {}
        }
    }
    Ok(())
}

const SEQUENCE_ERROR: &str = "APNG contains frame sequence errors";

/// Pillow's `_seq_num` and the image size frames must fit in.
struct Sequence {
    last: Option<u32>,
    image: (u64, u64),
}

impl Sequence {
    /// `chunk_fcTL` (short chunks are skipped, as under `LOAD_TRUNCATED_IMAGES`).
    fn frame_control(&mut self, body: &[u8]) -> Result<(), &'static str> {
        let Some(seq) = be32(body, 0).filter(|_| body.len() >= 26) else {
            return Ok(());
        };
        let in_order = match self.last {
            None => seq == 0,
            Some(last) => u64::from(last) + 1 == u64::from(seq),
        };
        if !in_order {
            return Err(SEQUENCE_ERROR);
        }
        self.last = Some(seq);
        let [w, h, x, y] = [4, 8, 12, 16].map(|at| be32(body, at).map_or(0, u64::from));
        if x + w > self.image.0 || y + h > self.image.1 {
            return Err("APNG contains invalid frames");
        }
        Ok(())
    }

    /// `chunk_fdAT`: the sequence number must follow the last one, and there must be one.
    fn frame_data(&mut self, body: &[u8]) -> Result<(), &'static str> {
        let Some(seq) = be32(body, 0) else {
            return Ok(());
        };
        match self.last {
            Some(last) if u64::from(last) + 1 == u64::from(seq) => {
                self.last = Some(seq);
                Ok(())
            }
            _ => Err(SEQUENCE_ERROR),
        }
    }
}

/// PNG chunks after the signature: (type, data), ending at a malformed header or the file's end.
struct Chunks<'a> {
    png: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = (&'a [u8; 4], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let len = usize::try_from(be32(self.png, self.pos)?).ok()?;
        let kind: &[u8; 4] = self.png.get(self.pos + 4..self.pos + 8)?.try_into().ok()?;
        if !kind.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
            return None;
        }
        let start = self.pos + 8;
        let end = start.checked_add(len)?.min(self.png.len());
        self.pos = start.checked_add(len)?.checked_add(4)?;
        Some((kind, &self.png[start..end]))
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
        [&len[..], kind, body, &[0; 4]].concat() // CRC is not looked at
    }

    fn png(chunks: &[Vec<u8>]) -> Vec<u8> {
        let ihdr = [
            &4u32.to_be_bytes()[..],
            &4u32.to_be_bytes(),
            &[8, 2, 0, 0, 0],
        ]
        .concat();
        [b"\x89PNG\r\n\x1a\n".to_vec(), chunk(b"IHDR", &ihdr)]
            .into_iter()
            .chain(chunks.iter().cloned())
            .collect::<Vec<_>>()
            .concat()
    }

    fn fctl(seq: u32, w: u32, x: u32) -> Vec<u8> {
        let fields = [seq, w, 4, x, 0];
        let body: Vec<u8> = fields
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .chain([0; 6])
            .collect();
        chunk(b"fcTL", &body)
    }

    fn actl(frames: u32) -> Vec<u8> {
        chunk(
            b"acTL",
            &[frames.to_be_bytes(), 0u32.to_be_bytes()].concat(),
        )
    }

    #[test]
    fn frame_data_before_any_frame_control_is_refused() {
        let idat = chunk(b"IDAT", &[1, 2]);
        let fdat = chunk(b"fdAT", &0u32.to_be_bytes());
        let file = png(&[actl(1), idat.clone(), fdat, chunk(b"IEND", &[])]);
        assert_eq!(check_frame_sequence(&file), Err(SEQUENCE_ERROR));
        // In order (fcTL 0 before the image data, fdAT 1 after) it passes.
        let fdat1 = chunk(b"fdAT", &1u32.to_be_bytes());
        let file = png(&[actl(1), fctl(0, 4, 0), idat.clone(), fdat1]);
        assert_eq!(check_frame_sequence(&file), Ok(()));
        // An animated file stops at the next frame's fcTL: its errors belong to later frames.
        let file = png(&[actl(2), fctl(0, 4, 0), idat.clone(), fctl(7, 4, 0)]);
        assert_eq!(check_frame_sequence(&file), Ok(()));
        // A frame sticking out of the image is refused; plain PNGs pass.
        let file = png(&[actl(1), fctl(0, 4, 1), idat.clone()]);
        assert!(check_frame_sequence(&file).is_err());
        assert_eq!(check_frame_sequence(&png(&[idat])), Ok(()));
    }
}
