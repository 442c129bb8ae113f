//! `candidate,reference_1,…,reference_N` CSV files (RFC 4180 quoting; the first row is a header;
//! empty reference cells are ignored). The candidate column is the one named `candidate` or
//! `caption_predicted` (aac-metrics), else the first; reference columns are those named
//! `reference…`/`ref…` or `caption_<n>`, else all the others (so aac-metrics' extra
//! `mult_captions_predicted_*` columns are not taken as references). Items are numbered from 1.

use crate::{CaptionItem, MetricsError};
use std::path::Path;

/// Splits CSV text into rows of fields (quoted fields may hold commas, quotes and newlines).
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut line = 1usize;
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => in_quotes = false,
            (true, c) => {
                line += usize::from(c == '\n');
                field.push(c);
            }
            (false, '"') if field.is_empty() => in_quotes = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                line += 1;
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!("unterminated quoted field (line {line})"));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Caption items of a `candidate,reference_1…` CSV file.
pub fn read_caption_csv(path: &Path) -> Result<Vec<CaptionItem>, MetricsError> {
    let text = super::read_text(path)?;
    let rows = parse_csv(text.trim_start_matches('\u{feff}'))
        .map_err(|m| MetricsError::format(path, m))?;
    let mut rows = rows
        .into_iter()
        .filter(|r| !(r.len() == 1 && r[0].is_empty()));
    let header = rows
        .next()
        .ok_or_else(|| MetricsError::format(path, "empty CSV file"))?;
    let (candidate_col, reference_cols) = columns(&header).ok_or_else(|| {
        MetricsError::format(
            path,
            "the header needs a candidate column and at least one reference column",
        )
    })?;
    rows.enumerate()
        .map(|(i, row)| {
            if row.len() != header.len() {
                return Err(MetricsError::format(
                    path,
                    format!(
                        "row {} has {} fields, the header {}",
                        i + 2,
                        row.len(),
                        header.len()
                    ),
                ));
            }
            let candidate = row[candidate_col].clone();
            let references: Vec<String> = reference_cols
                .iter()
                .map(|&c| row[c].clone())
                .filter(|r| !r.is_empty())
                .collect();
            if references.is_empty() {
                return Err(MetricsError::format(
                    path,
                    format!("row {} has no reference", i + 2),
                ));
            }
            Ok(CaptionItem {
                id: (i + 1).to_string(),
                candidate,
                references,
            })
        })
        .collect()
}

/// The candidate column and the reference columns of a header (see the module doc).
fn columns(header: &[String]) -> Option<(usize, Vec<usize>)> {
    let names: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    let candidate = names
        .iter()
        .position(|n| n == "candidate" || n == "caption_predicted")
        .unwrap_or(0);
    let is_reference = |n: &str| {
        n.starts_with("ref")
            || n.strip_prefix("caption_")
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
    };
    let mut refs: Vec<usize> = (0..names.len())
        .filter(|&i| i != candidate && is_reference(&names[i]))
        .collect();
    if refs.is_empty() {
        refs = (0..names.len()).filter(|&i| i != candidate).collect();
    }
    (!refs.is_empty()).then_some((candidate, refs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields() {
        let rows =
            parse_csv("a,b\n\"x, y\",\"he said \"\"hi\"\"\"\r\nz,\"multi\nline\"\n").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], vec!["x, y", "he said \"hi\""]);
        assert_eq!(rows[2], vec!["z", "multi\nline"]);
        assert!(parse_csv("a,\"b\n").is_err());
    }

    #[test]
    fn column_selection() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let aac = h(&[
            "caption_predicted",
            "caption_1",
            "caption_2",
            "mult_captions_predicted_1",
        ]);
        assert_eq!(columns(&aac), Some((0, vec![1, 2])));
        assert_eq!(columns(&h(&["pred", "a", "b"])), Some((0, vec![1, 2])));
        assert_eq!(columns(&h(&["only"])), None);
    }
}
