//! The JPEG header walk of Pillow 10.0's `JpegImagePlugin._open`, which decides whether Pillow
//! accepts a JPEG at all and which size and mode it gives it.
//!
//! Pillow parses the markers itself before libjpeg sees a byte; libjpeg's own complaints later
//! only stop the pixel decode (the original sets `LOAD_TRUNCATED_IMAGES`), so the accept/refuse
//! decision and the image size are this walk's. Rules reproduced:
//! - markers are read from just after `FF D8 FF`; bytes that are not `FF` are skipped one at a
//!   time, `FF FF` is padding, `FF 00` is skipped, and a marker outside Pillow's table
//!   (`FF 01`–`FF BF`) is refused ("no marker found");
//! - segments announce their length; a segment running past the end of the file is refused, as is
//!   reaching the end of the file before the first start-of-scan;
//! - a frame header (any SOFn or DHP) sets the size and the layer count; precision other than
//!   8 bits and layer counts other than 1, 3 or 4 are refused; a quantisation table shorter than
//!   its precision needs is refused; `JFIF` and `Adobe` segments too short for the fields Pillow
//!   reads are refused;
//! - the first start-of-scan ends the walk; the last frame header before it wins.

/// What Pillow learns from the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JpegHeader {
    pub width: u32,
    pub height: u32,
    /// Components in the frame: 1 (Pillow mode `L`), 3 (`RGB`) or 4 (`CMYK`).
    pub layers: u8,
    /// The TIFF payload of the first `Exif\0` APP1 segment (after its 6-byte tag).
    pub exif: Option<Vec<u8>>,
}

/// Reads Pillow's view of the header, or the reason Pillow refuses the file.
pub(super) fn parse(data: &[u8]) -> Result<JpegHeader, String> {
    if !data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err("not a JPEG file".into());
    }
    let mut walk = Walk {
        data,
        pos: 3,
        frame: None,
        exif: None,
    };
    walk.run()?;
    let (width, height, layers) = walk
        .frame
        .ok_or_else(|| "no frame header before the first scan".to_string())?;
    if width == 0 || height == 0 {
        return Err(format!("frame size {width}x{height}"));
    }
    Ok(JpegHeader {
        width,
        height,
        layers,
        exif: walk.exif,
    })
}

const EOF: &str = "file ends before the first scan";

/// Markers Pillow's table maps to the frame-header handler (SOF0–SOF15 except DHT/JPG/DAC, and
/// DHP).
fn is_frame(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xDE)
}

/// Markers Pillow's table knows and skips without reading a length (SOI, EOI, RSTn, JPG, JPGn).
fn is_bare(marker: u8) -> bool {
    matches!(marker, 0xC8 | 0xD0..=0xD9 | 0xF0..=0xFD)
}

struct Walk<'a> {
    data: &'a [u8],
    pos: usize,
    frame: Option<(u32, u32, u8)>,
    exif: Option<Vec<u8>>,
}

impl<'a> Walk<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.data.get(self.pos).ok_or(EOF)?;
        self.pos += 1;
        Ok(b)
    }

    /// A segment's payload: its 2-byte length minus 2 (a length under 2 reads nothing).
    fn segment(&mut self) -> Result<&'a [u8], String> {
        let len = u16::from_be_bytes([self.byte()?, self.byte()?]);
        let n = usize::from(len.saturating_sub(2));
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end =
            end.ok_or_else(|| format!("segment of {n} bytes runs past the end of the file"))?;
        let data: &'a [u8] = self.data;
        let s = &data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn run(&mut self) -> Result<(), String> {
        // `prefix` holds the marker's first byte once read (Pillow's `s = b"\xFF"`).
        let mut prefix = 0xFFu8;
        loop {
            if prefix != 0xFF {
                prefix = self.byte()?;
                continue;
            }
            let marker = self.byte()?;
            match marker {
                0xFF => continue, // padding: the second FF starts the next marker
                0x00 => {}
                0xDA => {
                    self.segment()?;
                    return Ok(());
                }
                m if is_frame(m) => self.frame()?,
                0xDB => self.quantisation()?,
                0xE0..=0xEF => self.application(marker)?,
                0xC4 | 0xCC | 0xDC | 0xDD | 0xDF | 0xFE => {
                    self.segment()?;
                }
                m if is_bare(m) => {}
                m => return Err(format!("no marker found (FF {m:02X})")),
            }
            prefix = self.byte()?;
        }
    }

    fn frame(&mut self) -> Result<(), String> {
        let s = self.segment()?;
        if s.len() < 6 {
            return Err(format!("frame header of {} bytes", s.len()));
        }
        let height = u32::from(u16::from_be_bytes([s[1], s[2]]));
        let width = u32::from(u16::from_be_bytes([s[3], s[4]]));
        let (bits, layers) = (s[0], s[5]);
        if bits != 8 {
            return Err(format!("cannot handle {bits}-bit layers"));
        }
        if !matches!(layers, 1 | 3 | 4) {
            return Err(format!("cannot handle {layers}-layer images"));
        }
        self.frame = Some((width, height, layers));
        Ok(())
    }

    fn quantisation(&mut self) -> Result<(), String> {
        let mut s = self.segment()?;
        while let Some(&v) = s.first() {
            let precision = if v / 16 == 0 { 1 } else { 2 };
            let table = 1 + precision * 64;
            if s.len() < table {
                return Err("bad quantization table marker".into());
            }
            s = &s[table..];
        }
        Ok(())
    }

    fn application(&mut self, marker: u8) -> Result<(), String> {
        let s = self.segment()?;
        let too_short = |what: &str| Err(format!("{what} segment of {} bytes", s.len()));
        if marker == 0xE0 && s.starts_with(b"JFIF") && s.len() < 7 {
            return too_short("JFIF");
        }
        if marker == 0xEE && s.starts_with(b"Adobe") && s.len() < 7 {
            return too_short("Adobe");
        }
        if marker == 0xE1 && s.starts_with(b"Exif\0") && self.exif.is_none() {
            self.exif = Some(s.get(6..).unwrap_or_default().to_vec());
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sof(bits: u8, h: u16, w: u16, layers: u8) -> Vec<u8> {
        let mut s = vec![0xFF, 0xC0, 0, 8 + 3 * layers, bits];
        s.extend(h.to_be_bytes());
        s.extend(w.to_be_bytes());
        s.push(layers);
        for i in 0..layers {
            s.extend([i + 1, 0x11, 0]);
        }
        s
    }

    fn file(parts: &[&[u8]]) -> Vec<u8> {
        let mut f = vec![0xFF, 0xD8];
        for p in parts {
            f.extend_from_slice(p);
        }
        f
    }

    const SOS: &[u8] = &[0xFF, 0xDA, 0, 2];

    #[test]
    fn size_and_layers_come_from_the_last_frame_header_before_the_scan() {
        let f = file(&[&sof(8, 2, 3, 1), &sof(8, 5, 7, 3), SOS]);
        let h = parse(&f).unwrap();
        assert_eq!((h.width, h.height, h.layers), (7, 5, 3));
    }

    #[test]
    fn refusals_match_pillow() {
        assert!(parse(&file(&[&sof(12, 2, 3, 3), SOS]))
            .unwrap_err()
            .contains("12-bit"));
        assert!(parse(&file(&[&sof(8, 2, 3, 2), SOS]))
            .unwrap_err()
            .contains("2-layer"));
        assert!(parse(&file(&[&sof(8, 2, 3, 3)])).is_err());
        assert!(parse(&file(&[&[0xFF, 0x02], SOS]))
            .unwrap_err()
            .contains("no marker"));
        assert!(parse(&file(&[&[0xFF, 0xEE, 0, 6, b'A', b'd', b'o', b'b'], SOS])).is_err());
        assert!(parse(&file(&[&sof(8, 0, 3, 3), SOS])).is_err());
    }

    #[test]
    fn padding_junk_and_bare_markers_are_skipped() {
        let f = file(&[
            &[0xFF, 0xFF, 0xE0, 0, 2, 0x12, 0x34, 0xFF, 0x00],
            &sof(8, 1, 1, 1),
            SOS,
        ]);
        assert_eq!(parse(&f).unwrap().width, 1);
    }
}
