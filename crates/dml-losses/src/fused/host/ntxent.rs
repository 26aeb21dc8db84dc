//! NTXentLoss on the similarity matrix (PML's formula): for each positive pair `(i, j)`,
//! `l_ij = -log(e^{t_ij} / (e^{t_ij} + sum_{k in N_i} e^{t_ik}))` with `t = s / temperature`,
//! written `softplus(lse_{N_i}(t_i.) - t_ij)`; an anchor without negatives contributes 0.

use rayon::prelude::*;

use super::lanes::{Vectorized, finish_lse, map, max2, sum2, vectorized};
use super::{KernelOutput, PairMatrix};
use crate::fused::FusedReduction;
use crate::fused::exp::exp;

/// One anchor's row: the sum of its positive pairs' losses and how many are non-zero, and
/// `dl/ds` written over its similarities.
struct Row<'a> {
    row: &'a mut [f32],
    labels: &'a [i32],
    label: i32,
    diag: usize,
    inv_t: f32,
    avg_non_zero: bool,
}

impl Vectorized for Row<'_> {
    type Output = (f64, usize);

    #[inline(always)]
    fn run(self) -> (f64, usize) {
        let Row { row, labels, label, diag, inv_t, avg_non_zero } = self;
        let (_, nmax) = max2(row, labels, |_, s, z| {
            (0.0, if z != label { s * inv_t } else { f32::NEG_INFINITY })
        });
        // Negatives become e^{t - max}; positives keep their similarity for now.
        let (_, sn) = sum2(row, labels, |_, v, z| {
            let neg = z != label;
            let e = exp(*v * inv_t - nmax);
            *v = if neg { e } else { *v };
            (0.0, if neg { e } else { 0.0 })
        });
        let lse = finish_lse(nmax, sn, false);
        let (mut sum, mut nonzero, mut sigma_sum) = (0.0f64, 0usize, 0.0f64);
        let n = row.len().min(labels.len());
        for (j, (v, &z)) in row[..n].iter_mut().zip(&labels[..n]).enumerate() {
            if z == label && j != diag {
                let u = lse - (*v * inv_t) as f64;
                let value = u.max(0.0) + (-u.abs()).exp().ln_1p();
                let kept = !avg_non_zero || value > 0.0;
                let sigma = if kept { 1.0 / (1.0 + (-u).exp()) } else { 0.0 };
                sum += value;
                nonzero += usize::from(value > 0.0);
                sigma_sum += sigma;
                *v = (-sigma * inv_t as f64) as f32;
            }
        }
        // d l / d t_ik = (sum of the anchor's sigmas) softmax_{N_i}(t)_k for a negative k; the
        // anchor itself gets 0.
        let coef = (sigma_sum * inv_t as f64 / sn as f64) as f32;
        map(row, labels, |j, v, z| {
            if z != label {
                v * coef
            } else if j != diag {
                v
            } else {
                0.0
            }
        });
        (sum, nonzero)
    }
}

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
    let (row_labels, col_labels, same_set) = (m.row_labels, m.col_labels, m.same_set);
    let per_row: Vec<(f64, usize)> = m
        .values
        .par_chunks_mut(cols)
        .enumerate()
        .map(|(i, row)| {
            if same[i] == cols {
                // No negative: every positive pair of this anchor is 0 (PML's has-negative mask).
                row.fill(0.0);
                return (0.0, 0);
            }
            vectorized(Row {
                row,
                labels: col_labels,
                label: row_labels[i],
                diag: if same_set { i } else { usize::MAX },
                inv_t: 1.0 / temperature,
                avg_non_zero: reduction == FusedReduction::AvgNonZero,
            })
        })
        .collect();
    let total: f64 = per_row.iter().map(|r| r.0).sum();
    let nonzero = per_row.iter().map(|r| r.1).sum::<usize>() as f64;
    let selected = positives.iter().sum::<usize>() as f64;
    let divisor = reduction.divisor(selected, nonzero);
    KernelOutput::new(total / divisor, 1.0 / divisor)
}
