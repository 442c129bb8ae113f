//! Host-side output projection for constrained steps: `logit[id] = hidden · E[id]` (spec §2.10:
//! the output projection is the tied token embedding `E [vocab, dim]`, no bias) for the few ids
//! an answer trie allows (§6.3), instead of the full `[dim, vocab]` product in the graph.
//!
//! The rows of `E` are read from the decoder graph itself (its `embed_rows` output, one
//! `Gather`) the first time an id is needed and kept for the rest of the decoder's life, so
//! no second copy of the 180 MB table is ever held.

use std::collections::HashMap;

/// Rows of the output projection fetched so far, `dim` floats each.
#[derive(Debug, Default)]
pub(super) struct ProjectionRows {
    dim: usize,
    /// Token id → start of its row in `data`.
    index: HashMap<i64, usize>,
    data: Vec<f32>,
}

impl ProjectionRows {
    /// An empty cache of `dim`-wide rows.
    pub(super) fn new(dim: usize) -> Self {
        ProjectionRows {
            dim,
            index: HashMap::new(),
            data: Vec::new(),
        }
    }

    /// The ids among `wanted` (each row's allowed ids) with no row yet, deduplicated, in first
    /// appearance order.
    pub(super) fn missing(&self, wanted: &[&[i64]]) -> Vec<i64> {
        let mut out: Vec<i64> = Vec::new();
        for &id in wanted.iter().flat_map(|ids| ids.iter()) {
            if !self.index.contains_key(&id) && !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }

    /// Stores `rows` (`ids.len() × dim`, row-major) as the rows of `ids`. Returns false (and
    /// stores nothing) when the sizes disagree.
    pub(super) fn insert(&mut self, ids: &[i64], rows: &[f32]) -> bool {
        if rows.len() != ids.len() * self.dim {
            return false;
        }
        for (&id, row) in ids.iter().zip(rows.chunks_exact(self.dim)) {
            if self.index.contains_key(&id) {
                continue;
            }
            self.index.insert(id, self.data.len());
            self.data.extend_from_slice(row);
        }
        true
    }

    /// Fills `out` (`vocab` wide, −inf everywhere first) with `hidden · E[id]` at every id of
    /// `allowed`. Returns the first id that has no row (nothing is written past it then) or
    /// that is outside `out`.
    pub(super) fn logits_into(
        &self,
        hidden: &[f32],
        allowed: &[i64],
        out: &mut [f32],
    ) -> Result<(), i64> {
        out.fill(f32::NEG_INFINITY);
        for &id in allowed {
            let start = *self.index.get(&id).ok_or(id)?;
            let slot = usize::try_from(id)
                .ok()
                .and_then(|i| out.get_mut(i))
                .ok_or(id)?;
            *slot = dot(hidden, &self.data[start..start + self.dim]);
        }
        Ok(())
    }
}

/// `Σ a[i]·b[i]` in f32 over sixteen lanes (vectorises without intrinsics), lanes combined in
/// order; agrees with ONNX Runtime's GEMM to f32 rounding, not bit for bit.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] += x[j] * y[j];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_a_plain_sum_including_the_tail() {
        let a: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32 * 0.11).cos()).collect();
        let want: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (*x as f64) * (*y as f64))
            .sum();
        assert!((dot(&a, &b) as f64 - want).abs() < 1e-5);
    }

    #[test]
    fn only_allowed_ids_get_logits_and_missing_rows_are_reported() {
        let mut rows = ProjectionRows::new(2);
        assert_eq!(rows.missing(&[&[3, 1], &[1, 4]]), vec![3, 1, 4]);
        assert!(rows.insert(&[3, 1], &[1.0, 2.0, -1.0, 0.5]));
        assert!(!rows.insert(&[4], &[1.0]), "size mismatch is refused");
        assert_eq!(rows.missing(&[&[3, 1], &[1, 4]]), vec![4]);
        let mut out = vec![0.0; 5];
        rows.logits_into(&[2.0, 1.0], &[1, 3], &mut out).unwrap();
        let ninf = f32::NEG_INFINITY;
        assert_eq!(out, vec![ninf, -1.5, ninf, 4.0, ninf]);
        assert_eq!(rows.logits_into(&[2.0, 1.0], &[4], &mut out), Err(4));
        assert!(rows.insert(&[7], &[1.0, 1.0]));
        assert_eq!(rows.logits_into(&[2.0, 1.0], &[7], &mut out), Err(7));
    }
}
