//! NTXentLoss on the similarity matrix (PML's formula): for each positive pair `(i, j)`,
//! `l_ij = -log(e^{t_ij} / (e^{t_ij} + sum_{k in N_i} e^{t_ik}))` with `t = s / temperature`,
//! written `softplus(lse_{N_i}(t_i.) - t_ij)`; an anchor without negatives contributes 0.

use rayon::prelude::*;

use super::lanes::{finish_lse, max2, sum2};
use super::{KernelOutput, PairMatrix};
use crate::fused::FusedReduction;
use crate::fused::exp::exp;

/// The loss and `dl/ds` (left in `m.values`, times the returned scale).
pub(crate) fn ntxent(
    m: &mut PairMatrix<'_>,
    temperature: f32,
    reduction: FusedReduction,
) -> KernelOutput {
    let same = m.same_label_counts();
    let positives = m.positives_per_row(&same);
    if !m.pair_gate(&positives, &same) {
        return KernelOutput::zero(m.values);
    }
    let cols = m.cols;
    let inv_t = 1.0 / temperature;
    let (row_labels, col_labels) = (m.row_labels, m.col_labels);
    let diagonal: Vec<usize> = (0..m.rows).map(|i| m.diagonal(i)).collect();
    let per_row: Vec<(f64, usize)> = m
        .values
        .par_chunks_mut(cols)
        .enumerate()
        .map(|(i, row)| {
            let (yi, diag) = (row_labels[i], diagonal[i]);
            let kind = |j: usize| {
                let same_label = col_labels[j] == yi;
                (same_label && j != diag, !same_label)
            };
            if same[i] == cols {
                // No negative: every positive pair of this anchor is 0 (PML's has-negative mask).
                row.fill(0.0);
                return (0.0, 0);
            }
            let (_, nmax) = max2(row, |j, s| {
                let (_, neg) = kind(j);
                (0.0, if neg { s * inv_t } else { f32::NEG_INFINITY })
            });
            // Negatives become e^{t - max}; positives keep their similarity for now.
            let (_, sn) = sum2(row, |j, v| {
                let (_, neg) = kind(j);
                let e = exp(*v * inv_t - nmax);
                if neg {
                    *v = e;
                }
                (0.0, if neg { e } else { 0.0 })
            });
            let lse = finish_lse(nmax, sn, false);
            let (mut sum, mut nonzero, mut sigma_sum) = (0.0f64, 0usize, 0.0f64);
            for (j, v) in row.iter_mut().enumerate() {
                let (pos, neg) = kind(j);
                if pos {
                    let u = lse - (*v * inv_t) as f64;
                    let value = u.max(0.0) + (-u.abs()).exp().ln_1p();
                    let kept = reduction != FusedReduction::AvgNonZero || value > 0.0;
                    let sigma = if kept { 1.0 / (1.0 + (-u).exp()) } else { 0.0 };
                    sum += value;
                    nonzero += usize::from(value > 0.0);
                    sigma_sum += sigma;
                    *v = (-sigma * inv_t as f64) as f32;
                } else if !neg {
                    *v = 0.0;
                }
            }
            // d l / d t_ik = (sum of the anchor's sigmas) softmax_{N_i}(t)_k for a negative k.
            let coef = (sigma_sum * inv_t as f64 / sn as f64) as f32;
            for (j, v) in row.iter_mut().enumerate() {
                let (_, neg) = kind(j);
                if neg {
                    *v *= coef;
                }
            }
            (sum, nonzero)
        })
        .collect();
    let total: f64 = per_row.iter().map(|r| r.0).sum();
    let nonzero = per_row.iter().map(|r| r.1).sum::<usize>() as f64;
    let selected = positives.iter().sum::<usize>() as f64;
    let divisor = reduction.divisor(selected, nonzero);
    KernelOutput::new(total / divisor, 1.0 / divisor)
}
