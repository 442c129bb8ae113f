//! A small `.npy` reader (format versions 1, 2 and 3) for the oracle arrays.
//!
//! Format: `\x93NUMPY`, major and minor version bytes, a little-endian header length (u16 for
//! v1, u32 for v2/v3), a Python-dict header (`descr`, `fortran_order`, `shape`), then the raw
//! data. Supported element types: `<f4`, `<f8` (read as f32), `<i8`, `<i4` (read as i64) and
//! `|b1`. C order only: a Fortran-order file is an error, never silently transposed.

use ndarray::ArrayD;
use std::path::{Path, PathBuf};

/// Why a `.npy` file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NpyError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Bad magic, version or header.
    #[error("{path}: not a .npy file ({reason})")]
    Format { path: PathBuf, reason: String },
    /// The element type is not one the requested reader accepts.
    #[error("{path}: element type `{descr}` cannot be read as {wanted}")]
    Dtype {
        path: PathBuf,
        descr: String,
        wanted: &'static str,
    },
    /// Column-major data.
    #[error("{path}: Fortran-order arrays are not supported (save with C order)")]
    FortranOrder { path: PathBuf },
    /// The data is shorter or longer than the shape says.
    #[error("{path}: shape {shape:?} needs {expected} data bytes, the file has {actual}")]
    Truncated {
        path: PathBuf,
        shape: Vec<usize>,
        expected: usize,
        actual: usize,
    },
    /// A bool byte other than 0 or 1.
    #[error("{path}: bool element {index} is {value}, not 0 or 1")]
    BadBool {
        path: PathBuf,
        index: usize,
        value: u8,
    },
}

/// The parsed header and the data bytes of a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    /// numpy type string, e.g. `<f4`.
    pub descr: String,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// Array shape; empty for a 0-d array.
    pub shape: Vec<usize>,
}

/// Splits a `.npy` file into its header and data bytes.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<(NpyHeader, usize), NpyError> {
    let format = |reason: &str| NpyError::Format {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format("no \\x93NUMPY magic"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(format("header length cut off"));
            }
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (n as usize, 12)
        }
        v => return Err(format(&format!("unknown format version {v}"))),
    };
    let end = start + header_len;
    let text = bytes
        .get(start..end)
        .ok_or_else(|| format("header cut off"))?;
    let text = std::str::from_utf8(text).map_err(|_| format("header is not UTF-8"))?;
    let descr = dict_value(text, "descr")
        .and_then(quoted)
        .ok_or_else(|| format("header has no 'descr'"))?;
    let fortran_order = match dict_value(text, "fortran_order") {
        Some(v) if v.starts_with("True") => true,
        Some(v) if v.starts_with("False") => false,
        _ => return Err(format("header has no 'fortran_order'")),
    };
    let shape = dict_value(text, "shape")
        .and_then(parse_shape)
        .ok_or_else(|| format("header has no readable 'shape'"))?;
    if fortran_order {
        return Err(NpyError::FortranOrder {
            path: path.to_path_buf(),
        });
    }
    Ok((
        NpyHeader {
            descr,
            fortran_order,
            shape,
        },
        end,
    ))
}

/// The text after `'key':` in the header dict.
fn dict_value<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    let at = text.find(&format!("'{key}'"))?;
    let rest = &text[at + key.len() + 2..];
    Some(rest.trim_start().strip_prefix(':')?.trim_start())
}

/// `'<f4', …` → `<f4`.
fn quoted(v: &str) -> Option<String> {
    let q = v.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = &v[1..];
    Some(inner[..inner.find(q)?].to_string())
}

/// `(1, 3, 480, 480), …` → `[1, 3, 480, 480]`; `()` → `[]`; `(5,)` → `[5]`.
fn parse_shape(v: &str) -> Option<Vec<usize>> {
    let inner = v.strip_prefix('(')?;
    let inner = &inner[..inner.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect()
}

struct Raw {
    path: PathBuf,
    header: NpyHeader,
    bytes: Vec<u8>,
    data_start: usize,
}

fn read_raw(path: &Path) -> Result<Raw, NpyError> {
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (header, data_start) = parse(path, &bytes)?;
    Ok(Raw {
        path: path.to_path_buf(),
        header,
        bytes,
        data_start,
    })
}

impl Raw {
    /// The data bytes, checked to hold exactly `shape` elements of `item` bytes.
    fn data(&self, item: usize) -> Result<&[u8], NpyError> {
        let count: usize = self.header.shape.iter().product();
        let data = &self.bytes[self.data_start..];
        if data.len() != count * item {
            return Err(NpyError::Truncated {
                path: self.path.clone(),
                shape: self.header.shape.clone(),
                expected: count * item,
                actual: data.len(),
            });
        }
        Ok(data)
    }

    fn wrong(&self, wanted: &'static str) -> NpyError {
        NpyError::Dtype {
            path: self.path.clone(),
            descr: self.header.descr.clone(),
            wanted,
        }
    }

    fn array<T>(&self, data: Vec<T>) -> Result<ArrayD<T>, NpyError> {
        ArrayD::from_shape_vec(self.header.shape.clone(), data).map_err(|e| NpyError::Format {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }
}

/// Reads an f32 array (`<f4`, or `<f8` rounded to f32).
pub fn read_f32(path: &Path) -> Result<ArrayD<f32>, NpyError> {
    let raw = read_raw(path)?;
    let data: Vec<f32> = match raw.header.descr.as_str() {
        "<f4" => raw
            .data(4)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        "<f8" => raw
            .data(8)?
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        _ => return Err(raw.wrong("f32")),
    };
    raw.array(data)
}

/// Reads an i64 array (`<i8`, or `<i4` widened).
pub fn read_i64(path: &Path) -> Result<ArrayD<i64>, NpyError> {
    let raw = read_raw(path)?;
    let data: Vec<i64> = match raw.header.descr.as_str() {
        "<i8" => raw
            .data(8)?
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        "<i4" => raw
            .data(4)?
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => return Err(raw.wrong("i64")),
    };
    raw.array(data)
}

/// Reads a bool array (`|b1`); a byte other than 0 or 1 is an error.
pub fn read_bool(path: &Path) -> Result<ArrayD<bool>, NpyError> {
    let raw = read_raw(path)?;
    if raw.header.descr != "|b1" {
        return Err(raw.wrong("bool"));
    }
    let data = raw
        .data(1)?
        .iter()
        .enumerate()
        .map(|(index, &b)| match b {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(NpyError::BadBool {
                path: raw.path.clone(),
                index,
                value,
            }),
        })
        .collect::<Result<Vec<bool>, NpyError>>()?;
    raw.array(data)
}

/// Reads only the header (element type and shape).
pub fn read_header(path: &Path) -> Result<NpyHeader, NpyError> {
    read_raw(path).map(|r| r.header)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a `.npy` file the way numpy does (header padded with spaces to 64 bytes).
    fn npy(version: u8, descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let dict = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        let pre = if version == 1 { 10 } else { 12 };
        let mut header = dict.into_bytes();
        while (pre + header.len() + 1) % 64 != 0 {
            header.push(b' ');
        }
        header.push(b'\n');
        let mut out = b"\x93NUMPY".to_vec();
        out.extend([version, 0]);
        if version == 1 {
            out.extend((header.len() as u16).to_le_bytes());
        } else {
            out.extend((header.len() as u32).to_le_bytes());
        }
        out.extend(header);
        out.extend(data);
        out
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_every_supported_type_and_version() {
        let tmp = tempfile::tempdir().unwrap();
        let f4: Vec<u8> = [1.5f32, -2.0, 3.25, 0.0, 7.0, 8.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let a = read_f32(&write(
            tmp.path(),
            "a.npy",
            &npy(1, "<f4", false, "(2, 3)", &f4),
        ))
        .unwrap();
        assert_eq!(a.shape(), [2, 3]);
        assert_eq!(a[[0, 2]], 3.25);
        assert_eq!(a[[1, 0]], 0.0);

        let f8: Vec<u8> = [0.1f64, 2.5].iter().flat_map(|x| x.to_le_bytes()).collect();
        let b = read_f32(&write(
            tmp.path(),
            "b.npy",
            &npy(2, "<f8", false, "(2,)", &f8),
        ))
        .unwrap();
        assert_eq!(b.as_slice().unwrap(), [0.1f32, 2.5]);

        let i8s: Vec<u8> = [-5i64, 59456]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let c = read_i64(&write(
            tmp.path(),
            "c.npy",
            &npy(3, "<i8", false, "(1, 2)", &i8s),
        ))
        .unwrap();
        assert_eq!(c.as_slice().unwrap(), [-5, 59456]);

        let d = read_bool(&write(
            tmp.path(),
            "d.npy",
            &npy(1, "|b1", false, "(3,)", &[1, 0, 1]),
        ))
        .unwrap();
        assert_eq!(d.as_slice().unwrap(), [true, false, true]);

        let s = read_i64(&write(
            tmp.path(),
            "s.npy",
            &npy(1, "<i8", false, "()", &7i64.to_le_bytes()),
        ))
        .unwrap();
        assert_eq!((s.ndim(), s.sum()), (0, 7));
    }

    #[test]
    fn rejects_bad_files_with_the_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let f4 = [0u8; 8];
        let fortran = write(tmp.path(), "f.npy", &npy(1, "<f4", true, "(1, 2)", &f4));
        assert!(matches!(
            read_f32(&fortran),
            Err(NpyError::FortranOrder { .. })
        ));
        let short = write(tmp.path(), "s.npy", &npy(1, "<f4", false, "(2, 2)", &f4));
        let err = read_f32(&short).unwrap_err();
        assert!(
            matches!(
                err,
                NpyError::Truncated {
                    expected: 16,
                    actual: 8,
                    ..
                }
            ),
            "{err}"
        );
        let wrong = write(tmp.path(), "w.npy", &npy(1, "<f4", false, "(2,)", &f4));
        assert!(matches!(read_i64(&wrong), Err(NpyError::Dtype { .. })));
        let big_endian = write(tmp.path(), "b.npy", &npy(1, ">f4", false, "(2,)", &f4));
        assert!(matches!(read_f32(&big_endian), Err(NpyError::Dtype { .. })));
        let junk = write(tmp.path(), "j.npy", b"PK\x03\x04 not numpy");
        assert!(matches!(read_f32(&junk), Err(NpyError::Format { .. })));
        let bad_bool = write(tmp.path(), "bb.npy", &npy(1, "|b1", false, "(2,)", &[0, 7]));
        assert!(matches!(
            read_bool(&bad_bool),
            Err(NpyError::BadBool {
                index: 1,
                value: 7,
                ..
            })
        ));
    }
}
