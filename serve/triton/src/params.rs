//! Request parameters → run settings: fairseq's generation flags (as the CLI names them, with
//! `_` for `-`) and the media segment, validated and bounded so no client can make the server
//! allocate without limit.

use unival_runtime::generate::SearchOverrides;

/// A parameter value as Triton hands it over (HTTP JSON numbers arrive as INT or DOUBLE).
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Str(String),
    Int(i64),
    Bool(bool),
    Double(f64),
}

/// What one request asks for besides its inputs: requests with equal settings share a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub search: SearchOverrides,
    /// Segment start, seconds (video and audio).
    pub start: Option<f64>,
    /// Segment end, seconds (video and audio).
    pub end: Option<f64>,
}

/// Largest accepted beam, a server limit (the original evaluates with 5).
pub const MAX_BEAM: usize = 32;
/// Largest accepted `max_len_b`, `min_len`: a server limit well above every task's default.
pub const MAX_LEN: usize = 1024;

/// Parameters Triton's front ends or clients set for themselves; ignored here.
const RESERVED: [&str; 9] = [
    "sequence_id",
    "sequence_start",
    "sequence_end",
    "priority",
    "timeout",
    "binary_data_output",
    "binary_data",
    "binary_data_size",
    "headers",
];

/// The parameters this backend understands.
pub const KNOWN: [&str; 11] = [
    "beam",
    "max_len_a",
    "max_len_b",
    "min_len",
    "no_repeat_ngram_size",
    "unnormalized",
    "lenpen",
    "temperature",
    "nbest",
    "start",
    "end",
];

/// The settings `params` ask for; the first bad one fails with a message naming it.
pub fn settings(params: &[(String, ParamValue)]) -> Result<Settings, String> {
    let mut s = Settings::default();
    for (key, value) in params {
        if RESERVED.contains(&key.as_str()) || key.starts_with("triton_") {
            continue;
        }
        let o = &mut s.search;
        match key.as_str() {
            "beam" => o.beam = Some(count(key, value, 1, MAX_BEAM)?),
            "max_len_a" => o.max_len_a = Some(real(key, value, 0.0, 16.0)?),
            "max_len_b" => o.max_len_b = Some(count(key, value, 0, MAX_LEN)?),
            "min_len" => o.min_len = Some(count(key, value, 0, MAX_LEN)?),
            "no_repeat_ngram_size" => o.no_repeat_ngram_size = Some(count(key, value, 0, 16)?),
            "unnormalized" => o.unnormalized = Some(flag(key, value)?),
            "lenpen" => o.lenpen = Some(real(key, value, -16.0, 16.0)?),
            "temperature" => o.temperature = Some(real(key, value, 1e-6, 1e6)?),
            "nbest" => o.nbest = Some(count(key, value, 1, MAX_BEAM)?),
            "start" => s.start = Some(real(key, value, 0.0, 1e9)?),
            "end" => s.end = Some(real(key, value, 0.0, 1e9)?),
            _ => {
                return Err(format!(
                    "unknown parameter `{key}` (expected one of: {})",
                    KNOWN.join(", ")
                ))
            }
        }
    }
    Ok(s)
}

/// A whole number in `lo..=hi` (an INT, or a STRING holding one).
fn count(key: &str, v: &ParamValue, lo: usize, hi: usize) -> Result<usize, String> {
    let n = match v {
        ParamValue::Int(n) => Some(*n),
        ParamValue::Str(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    n.and_then(|n| usize::try_from(n).ok())
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| {
            format!("parameter `{key}` must be a whole number from {lo} to {hi}, got {v:?}")
        })
}

/// A finite number in `lo..=hi` (DOUBLE, INT, or a STRING holding one).
fn real(key: &str, v: &ParamValue, lo: f64, hi: f64) -> Result<f64, String> {
    let x = match v {
        ParamValue::Double(x) => Some(*x),
        ParamValue::Int(n) => Some(*n as f64),
        ParamValue::Str(s) => s.trim().parse::<f64>().ok(),
        ParamValue::Bool(_) => None,
    };
    x.filter(|x| x.is_finite() && (lo..=hi).contains(x))
        .ok_or_else(|| format!("parameter `{key}` must be a number from {lo} to {hi}, got {v:?}"))
}

/// A boolean (BOOL, INT 0/1, or STRING `true`/`false`).
fn flag(key: &str, v: &ParamValue) -> Result<bool, String> {
    match v {
        ParamValue::Bool(b) => Ok(*b),
        ParamValue::Int(0) => Ok(false),
        ParamValue::Int(1) => Ok(true),
        ParamValue::Str(s) if s == "true" => Ok(true),
        ParamValue::Str(s) if s == "false" => Ok(false),
        _ => Err(format!(
            "parameter `{key}` must be true or false, got {v:?}"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(key: &str, v: ParamValue) -> (String, ParamValue) {
        (key.to_string(), v)
    }

    #[test]
    fn generation_flags_and_segments_are_read() {
        let s = settings(&[
            p("beam", ParamValue::Int(3)),
            p("max_len_b", ParamValue::Str("9".into())),
            p("lenpen", ParamValue::Int(2)),
            p("unnormalized", ParamValue::Bool(false)),
            p("nbest", ParamValue::Int(2)),
            p("start", ParamValue::Double(1.5)),
            p("sequence_id", ParamValue::Int(4)),
            p("triton_enable_empty_final_response", ParamValue::Bool(true)),
        ])
        .unwrap();
        assert_eq!(s.search.beam, Some(3));
        assert_eq!(s.search.max_len_b, Some(9));
        assert_eq!(s.search.lenpen, Some(2.0));
        assert_eq!(s.search.unnormalized, Some(false));
        assert_eq!(s.search.nbest, Some(2));
        assert_eq!(s.start, Some(1.5));
        assert_eq!(s.end, None);
        assert_eq!(settings(&[]).unwrap(), Settings::default());
    }

    #[test]
    fn bad_values_and_unknown_keys_are_named() {
        let err = |k: &str, v| settings(&[p(k, v)]).unwrap_err();
        assert!(err("beam", ParamValue::Int(0)).contains("`beam`"));
        assert!(err("beam", ParamValue::Int(100_000)).contains("1 to 32"));
        assert!(err("beam", ParamValue::Double(2.5)).contains("whole number"));
        assert!(err("temperature", ParamValue::Double(f64::NAN)).contains("`temperature`"));
        assert!(err("unnormalized", ParamValue::Int(2)).contains("true or false"));
        let e = err("beams", ParamValue::Int(2));
        assert!(
            e.contains("unknown parameter `beams`") && e.contains("nbest"),
            "{e}"
        );
    }
}
