//! MultiSimilarityLoss on the similarity matrix (Wang et al. 2019, PML's formula):
//! `l_i = log(1 + sum_{P_i} e^{alpha (base - s_ij)}) / alpha + log(1 + sum_{N_i} e^{beta (s_ij - base)}) / beta`.

use rayon::prelude::*;

use super::lanes::{finish_lse, max2, sum2};
use super::{KernelOutput, PairMatrix};
use crate::fused::FusedReduction;
use crate::fused::exp::exp;

/// The loss and `dl/ds` (left in `m.values`, times the returned scale).
pub(crate) fn multi_similarity(
    m: &mut PairMatrix<'_>,
    alpha: f32,
    beta: f32,
    base: f32,
    reduction: FusedReduction,
) -> KernelOutput {
    let same = m.same_label_counts();
    let positives = m.positives_per_row(&same);
    if !m.pair_gate(&positives, &same) {
        return KernelOutput::zero(m.values);
    }
    let cols = m.cols;
    let (row_labels, col_labels) = (m.row_labels, m.col_labels);
    let diagonal: Vec<usize> = (0..m.rows).map(|i| m.diagonal(i)).collect();
    let per_row: Vec<f64> = m
        .values
        .par_chunks_mut(cols)
        .enumerate()
        .map(|(i, row)| {
            let (yi, diag) = (row_labels[i], diagonal[i]);
            let has_pos = positives[i] > 0;
            let has_neg = same[i] < cols;
            let kind = |j: usize| {
                let same_label = col_labels[j] == yi;
                (same_label && j != diag, !same_label)
            };
            let (pmax, nmax) = max2(row, |j, s| {
                let (pos, neg) = kind(j);
                let a = if pos { alpha * (base - s) } else { f32::NEG_INFINITY };
                let b = if neg { beta * (s - base) } else { f32::NEG_INFINITY };
                (a, b)
            });
            let (mp, mn) = (pmax.max(0.0), nmax.max(0.0));
            // Each entry becomes its shifted exponential (0 off the masks).
            let (sp, sn) = sum2(row, |j, v| {
                let (pos, neg) = kind(j);
                let arg = if pos { alpha * (base - *v) - mp } else { beta * (*v - base) - mn };
                let e = if pos || neg { exp(arg) } else { 0.0 };
                *v = e;
                (if pos { e } else { 0.0 }, if neg { e } else { 0.0 })
            });
            let lp = if has_pos { finish_lse(mp, sp, true) / alpha as f64 } else { 0.0 };
            let ln = if has_neg { finish_lse(mn, sn, true) / beta as f64 } else { 0.0 };
            let value = lp + ln;
            let keep = reduction != FusedReduction::AvgNonZero || value > 0.0;
            // d lp / d s_ij = -e_ij / Z_p, d ln / d s_ij = e_ij / Z_n.
            let gp = if keep && has_pos { -1.0 / ((-mp).exp() + sp) } else { 0.0 };
            let gn = if keep && has_neg { 1.0 / ((-mn).exp() + sn) } else { 0.0 };
            for (j, v) in row.iter_mut().enumerate() {
                let (pos, _) = kind(j);
                *v *= if pos { gp } else { gn };
            }
            value
        })
        .collect();
    let total: f64 = per_row.iter().sum();
    let nonzero = per_row.iter().filter(|&&v| v > 0.0).count() as f64;
    let divisor = reduction.divisor(m.rows as f64, nonzero);
    KernelOutput::new(total / divisor, 1.0 / divisor)
}
