//! Row-wise passes around the kernels: reference norms, column scaling, symmetrizing a
//! gradient, and the norm's backward pass.

use rayon::prelude::*;

use crate::ops::NORMALIZE_EPS;

/// `1 / max(|r_j|, 1e-12)` for each row of a `[m, d]` matrix (as `l2_normalize`), and whether
/// the norm was clamped (a row whose norm carries no gradient).
pub(crate) fn inverse_norms(r: &[f32], d: usize) -> (Vec<f32>, Vec<bool>) {
    let eps = NORMALIZE_EPS as f32;
    r.par_chunks(d.max(1))
        .map(|row| {
            let sq: f32 = row.iter().map(|v| v * v).sum();
            let clamped = sq < eps * eps;
            (1.0 / sq.max(eps * eps).sqrt(), clamped)
        })
        .unzip()
}

/// Multiplies column `j` of a `[rows, cols]` matrix by `scale[j] * factor`.
pub(crate) fn scale_columns(values: &mut [f32], cols: usize, scale: &[f32], factor: f32) {
    values.par_chunks_mut(cols).for_each(|row| {
        for (v, &s) in row.iter_mut().zip(scale) {
            *v *= s * factor;
        }
    });
}

/// Replaces a square `[n, n]` matrix `G` by `(G + G^T) * factor`: in the same set an embedding
/// is both a row and a column of `S = X X^T`, and `dX = (G + G^T) X` takes one matrix product.
pub(crate) fn symmetrize(values: &mut [f32], n: usize, factor: f32) {
    const TILE: usize = 64;
    for bi in (0..n).step_by(TILE) {
        for bj in (bi..n).step_by(TILE) {
            for i in bi..(bi + TILE).min(n) {
                let start = if bi == bj { i } else { bj };
                for j in start..(bj + TILE).min(n) {
                    let sum = (values[i * n + j] + values[j * n + i]) * factor;
                    values[i * n + j] = sum;
                    values[j * n + i] = sum;
                }
            }
        }
    }
}

/// The backward pass of `r^_j = r_j / |r_j|` applied to a gradient `a_j` of the unnormalized
/// product `G^ X` (`G^` already divided by the norms): `a_j - (a_j . r_j) r_j / |r_j|^2`, the
/// radial part removed; rows whose norm was clamped keep `a_j`.
pub(crate) fn remove_radial(a: &mut [f32], r: &[f32], inverse: &[f32], clamped: &[bool], d: usize) {
    a.par_chunks_mut(d.max(1)).zip(r.par_chunks(d.max(1))).enumerate().for_each(|(j, (aj, rj))| {
        if clamped[j] {
            return;
        }
        let dot: f32 = aj.iter().zip(rj).map(|(x, y)| x * y).sum();
        let k = dot * inverse[j] * inverse[j];
        for (x, &y) in aj.iter_mut().zip(rj) {
            *x -= k * y;
        }
    });
}

/// Multiplies every entry by `factor`.
pub(crate) fn scale(values: &mut [f32], factor: f32) {
    if factor != 1.0 {
        values.par_iter_mut().for_each(|v| *v *= factor);
    }
}
