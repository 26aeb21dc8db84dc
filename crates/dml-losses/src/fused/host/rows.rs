//! Row-wise passes around the kernels: reference norms, column scaling, symmetrizing a
//! gradient, and the norm's backward pass.

use rayon::prelude::*;

use super::lanes::{Vectorized, dot, vectorized};
use crate::ops::NORMALIZE_EPS;

/// `1 / max(|r_j|, 1e-12)` for each row of a `[m, d]` matrix (as `l2_normalize`), and whether
/// the norm was clamped (a row whose norm carries no gradient).
pub(crate) fn inverse_norms(r: &[f32], d: usize) -> (Vec<f32>, Vec<bool>) {
    let eps = NORMALIZE_EPS as f32;
    r.par_chunks(d.max(1))
        .map(|row| {
            let sq = vectorized(Dot(row, row));
            let clamped = sq < eps * eps;
            (1.0 / sq.max(eps * eps).sqrt(), clamped)
        })
        .unzip()
}

/// `|r_j|^2` for each row of a `[m, d]` matrix.
pub(crate) fn squared_norms(r: &[f32], d: usize) -> Vec<f32> {
    r.par_chunks(d.max(1)).map(|row| vectorized(Dot(row, row))).collect()
}

struct Dot<'a>(&'a [f32], &'a [f32]);

impl Vectorized for Dot<'_> {
    type Output = f32;

    #[inline(always)]
    fn run(self) -> f32 {
        dot(self.0, self.1)
    }
}

/// A row times a per-column factor and a constant.
struct ScaleRow<'a> {
    row: &'a mut [f32],
    scale: &'a [f32],
    factor: f32,
}

impl Vectorized for ScaleRow<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let n = self.row.len().min(self.scale.len());
        for (v, &s) in self.row[..n].iter_mut().zip(&self.scale[..n]) {
            *v *= s * self.factor;
        }
    }
}

/// Multiplies column `j` of a `[rows, cols]` matrix by `scale[j] * factor`.
pub(crate) fn scale_columns(values: &mut [f32], cols: usize, scale: &[f32], factor: f32) {
    values.par_chunks_mut(cols).for_each(|row| vectorized(ScaleRow { row, scale, factor }));
}

/// Rows per rayon task of [`symmetrized`].
const TILE: usize = 32;

/// `(G + G^T) * factor` for a square `[n, n]` matrix `G`, as a new matrix: in the same set an
/// embedding is both a row and a column of `S = X X^T`, and `dX = (G + G^T) X` takes one matrix
/// product. Tiles of rows in parallel; each reads its rows of `G` and the same columns of `G`.
pub(crate) fn symmetrized(values: &[f32], n: usize, factor: f32) -> Vec<f32> {
    let mut out = vec![0f32; n * n];
    out.par_chunks_mut(TILE * n).enumerate().for_each(|(t, block)| {
        let first = t * TILE;
        let rows = block.len() / n.max(1);
        for (r, out_row) in block.chunks_exact_mut(n).enumerate() {
            out_row.copy_from_slice(&values[(first + r) * n..(first + r + 1) * n]);
        }
        // Add the transpose, reading G row by row (contiguous) for this tile's columns.
        for (k, g_row) in values.chunks_exact(n).enumerate() {
            let column = &g_row[first..first + rows];
            for (r, &g) in column.iter().enumerate() {
                block[r * n + k] += g;
            }
        }
        if factor != 1.0 {
            for v in block.iter_mut() {
                *v *= factor;
            }
        }
    });
    out
}

/// The backward pass of `r^_j = r_j / |r_j|` for one row (see [`remove_radial`]).
struct Radial<'a> {
    a: &'a mut [f32],
    r: &'a [f32],
    inverse: f32,
}

impl Vectorized for Radial<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let k = dot(self.a, self.r) * self.inverse * self.inverse;
        let n = self.a.len().min(self.r.len());
        for (x, &y) in self.a[..n].iter_mut().zip(&self.r[..n]) {
            *x -= k * y;
        }
    }
}

/// The backward pass of `r^_j = r_j / |r_j|` applied to a gradient `a_j` of the unnormalized
/// product `G^ X` (`G^` already divided by the norms): `a_j - (a_j . r_j) r_j / |r_j|^2`, the
/// radial part removed; rows whose norm was clamped keep `a_j`.
pub(crate) fn remove_radial(a: &mut [f32], r: &[f32], inverse: &[f32], clamped: &[bool], d: usize) {
    a.par_chunks_mut(d.max(1)).zip(r.par_chunks(d.max(1))).enumerate().for_each(|(j, (aj, rj))| {
        if !clamped[j] {
            vectorized(Radial { a: aj, r: rj, inverse: inverse[j] });
        }
    });
}

/// Multiplies every entry by `factor`.
pub(crate) fn scale(values: &mut [f32], factor: f32) {
    if factor != 1.0 {
        values.par_iter_mut().for_each(|v| *v *= factor);
    }
}
