//! Row-restricted decoder steps (issue 6, "constrained steps computing only the allowed rows of
//! the output projection"): which vocabulary rows a constrained step asks the graph for, and
//! how the graph's `[rows, k]` answer becomes the `[rows, vocab]` logits the search expects.
//!
//! Exactness: under a trie (docs/model.md §6.3) the search sets every id outside `allowed[r]` to
//! −inf
//! *before* log-softmax, so row `r` reads only its allowed entries and renormalises over them.
//! Asking the graph for the union of all rows' allowed ids therefore yields every entry the
//! search reads, each the same dot product `x_r · E[id]` as the full projection computes (up to
//! the summation order of the matrix kernel, ~1e-6 relative); the −inf written everywhere else
//! is never read. The result of the search is the same as with full logits.

use ndarray::{Array2, ArrayViewD};

/// The sorted, unique union of `allowed`, when a restricted step is worth it: `None` (run the
/// full projection) when it is empty, holds an id outside `0..vocab`, or covers more than half
/// of the vocabulary (gathering most of the table costs as much as the full product).
pub(super) fn rows_to_score(allowed: &[&[i64]], vocab: usize) -> Option<Vec<i64>> {
    let mut ids: Vec<i64> = allowed.iter().flat_map(|a| a.iter().copied()).collect();
    ids.sort_unstable();
    ids.dedup();
    let in_range = |t: &i64| usize::try_from(*t).is_ok_and(|t| t < vocab);
    let worth_it = !ids.is_empty() && ids.len() <= vocab / 2 && ids.iter().all(in_range);
    worth_it.then_some(ids)
}

/// Scatters restricted logits `[rows, 1, k]` (column `j` is id `ids[j]`) into `[rows, vocab]`
/// filled with −inf. Fails with a message when the shape does not match `rows` and `ids`.
pub(super) fn scatter_rows(
    logits: ArrayViewD<'_, f32>,
    ids: &[i64],
    rows: usize,
    vocab: usize,
) -> Result<Array2<f32>, String> {
    let k = ids.len();
    if logits.shape() != [rows, 1, k] {
        return Err(format!(
            "restricted logits have shape {:?}, expected [{rows}, 1, {k}]",
            logits.shape()
        ));
    }
    let mut out = Array2::from_elem((rows, vocab), f32::NEG_INFINITY);
    for (r, mut row) in out.outer_iter_mut().enumerate() {
        for (j, &id) in ids.iter().enumerate() {
            // `rows_to_score` kept only ids in `0..vocab`.
            if let Some(slot) = usize::try_from(id).ok().and_then(|i| row.get_mut(i)) {
                *slot = logits[[r, 0, j]];
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn the_union_is_sorted_unique_and_refused_when_not_worth_it() {
        let a: &[i64] = &[7, 3];
        let b: &[i64] = &[3, 9, 2];
        assert_eq!(rows_to_score(&[a, b], 20), Some(vec![2, 3, 7, 9]));
        // More than half the vocabulary: the full projection.
        assert_eq!(rows_to_score(&[a, b], 7), None);
        // Out of range or empty: the full projection (the search reports bad ids itself).
        assert_eq!(rows_to_score(&[&[-1, 2]], 20), None);
        assert_eq!(rows_to_score(&[&[2, 20]], 20), None);
        assert_eq!(rows_to_score(&[&[], &[]], 20), None);
    }

    #[test]
    fn scattered_logits_sit_at_their_ids_and_the_rest_is_neg_inf() {
        let ids = [1i64, 4];
        let l = Array3::from_shape_vec((2, 1, 2), vec![0.5, -1.0, 2.0, 3.0]).unwrap();
        let out = scatter_rows(l.view().into_dyn(), &ids, 2, 5).unwrap();
        let n = f32::NEG_INFINITY;
        assert_eq!(out.row(0).to_vec(), vec![n, 0.5, n, n, -1.0]);
        assert_eq!(out.row(1).to_vec(), vec![n, 2.0, n, n, 3.0]);
        let bad = scatter_rows(l.view().into_dyn(), &ids, 3, 5).unwrap_err();
        assert!(bad.contains("expected [3, 1, 2]"), "{bad}");
    }
}
