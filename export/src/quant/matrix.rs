//! Matrix layout numerics shared by the float and quantised weight paths.

/// The transpose of a row-major `rows × cols` matrix, copied in 32×32 tiles so that both the
/// reads and the writes stay in cache (a plain double loop strides through one of them).
pub fn transpose_matrix<T: Copy + Default>(m: &[T], rows: usize, cols: usize) -> Vec<T> {
    const TILE: usize = 32;
    let mut t = vec![T::default(); rows * cols];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    t[c * rows + r] = m[r * cols + c];
                }
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::transpose_matrix;

    #[test]
    fn tiled_transpose_matches_the_definition_on_ragged_shapes() {
        for (rows, cols) in [(1, 1), (3, 70), (33, 31), (64, 65)] {
            let m: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
            let t = transpose_matrix(&m, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], m[r * cols + c], "{rows}x{cols} at {r},{c}");
                }
            }
        }
    }
}
