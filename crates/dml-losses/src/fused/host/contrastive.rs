//! ContrastiveLoss on the L2 distances of normalized embeddings (Hadsell et al. 2006, PML's
//! formula): `[d_ij - pos_margin]+` over positive pairs and `[neg_margin - d_ij]+` over negative
//! pairs, each sub-loss reduced on its own, with `d_ij = sqrt(max(|x_i|^2 + |r_j|^2 - 2 s_ij, 0))`
//! as the composed implementation computes it for large batches.

use rayon::prelude::*;

use super::lanes::sum2;
use super::{KernelOutput, PairMatrix};
use crate::fused::FusedReduction;

/// The distance of an entry, as `Distance::matrix` computes it from a matrix product: the
/// clamped squared distance, then a square root that is 0 (with a zero gradient) at 0.
#[inline(always)]
fn distance(row_sq: f32, col_sq: f32, s: f32) -> f32 {
    let x = ((row_sq + col_sq) - 2.0 * s).max(0.0);
    if x > 1e-16 { x.sqrt() } else { 0.0 }
}

/// The loss and `dl/ds` (left in `m.values`; the returned scale is 1).
pub(crate) fn contrastive(
    m: &mut PairMatrix<'_>,
    pos_margin: f32,
    neg_margin: f32,
    reduction: FusedReduction,
) -> KernelOutput {
    let cols = m.cols;
    let (row_labels, col_labels) = (m.row_labels, m.col_labels);
    let (row_sq, col_sq) = (m.row_sq, m.col_sq);
    let diagonal: Vec<usize> = (0..m.rows).map(|i| m.diagonal(i)).collect();
    // Pass 1: the sums and the non-zero counts of both sub-losses, per row.
    let per_row: Vec<[f64; 4]> = m
        .values
        .par_chunks_mut(cols)
        .enumerate()
        .map(|(i, row)| {
            let (yi, diag, qi) = (row_labels[i], diagonal[i], row_sq[i]);
            let (pos_sum, neg_sum) = sum2(row, |j, v| {
                let same_label = col_labels[j] == yi;
                let d = distance(qi, col_sq[j], *v);
                let pos = if same_label && j != diag { (d - pos_margin).max(0.0) } else { 0.0 };
                let neg = if same_label { 0.0 } else { (neg_margin - d).max(0.0) };
                (pos, neg)
            });
            let (pos_nz, neg_nz) = sum2(row, |j, v| {
                let same_label = col_labels[j] == yi;
                let d = distance(qi, col_sq[j], *v);
                let pos = same_label && j != diag && d - pos_margin > 0.0;
                let neg = !same_label && neg_margin - d > 0.0;
                (f32::from(u8::from(pos)), f32::from(u8::from(neg)))
            });
            [pos_sum as f64, pos_nz as f64, neg_sum as f64, neg_nz as f64]
        })
        .collect();
    let total = |k: usize| per_row.iter().map(|r| r[k]).sum::<f64>();
    let same = m.same_label_counts();
    let pos_pairs = m.positives_per_row(&same).iter().sum::<usize>() as f64;
    let neg_pairs = same.iter().map(|&c| (cols - c) as f64).sum::<f64>();
    let pos_div = reduction.divisor(pos_pairs, total(1));
    let neg_div = reduction.divisor(neg_pairs, total(3));
    let loss = total(0) / pos_div + total(2) / neg_div;
    // Pass 2: d l / d s_ij = -(d l / d d_ij) / d_ij (d d / d s = -1 / d).
    let (gp, gn) = ((-1.0 / pos_div) as f32, (1.0 / neg_div) as f32);
    m.values.par_chunks_mut(cols).enumerate().for_each(|(i, row)| {
        let (yi, diag, qi) = (row_labels[i], diagonal[i], row_sq[i]);
        for (j, v) in row.iter_mut().enumerate() {
            let same_label = col_labels[j] == yi;
            let d = distance(qi, col_sq[j], *v);
            let pos = same_label && j != diag && d - pos_margin > 0.0;
            let neg = !same_label && neg_margin - d > 0.0;
            let g = if pos {
                gp
            } else if neg {
                gn
            } else {
                0.0
            };
            *v = if d > 0.0 { g / d } else { 0.0 };
        }
    });
    KernelOutput::new(loss, 1.0)
}
