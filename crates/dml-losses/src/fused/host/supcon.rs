//! SupConLoss on the similarity matrix (Khosla et al. 2020, PML's formula): with
//! `t = s / temperature` and `K_i` every entry other than the anchor itself,
//! `l_i = -(1 / |P_i|) sum_{j in P_i} (t_ij - lse_{K_i}(t_i.))`; 0 for an anchor without positives.

use rayon::prelude::*;

use super::lanes::{finish_lse, max2, sum2};
use super::{KernelOutput, PairMatrix};
use crate::fused::FusedReduction;
use crate::fused::exp::exp;

/// The loss and `dl/ds` (left in `m.values`, times the returned scale).
pub(crate) fn supcon(
    m: &mut PairMatrix<'_>,
    temperature: f32,
    reduction: FusedReduction,
) -> KernelOutput {
    let same = m.same_label_counts();
    let positives = m.positives_per_row(&same);
    let any_pos = positives.iter().any(|&p| p > 0);
    let any_neg = same.iter().any(|&c| c < m.cols);
    if !(m.pair_gate(&positives, &same) && any_pos && any_neg) {
        return KernelOutput::zero(m.values);
    }
    let cols = m.cols;
    let inv_t = 1.0 / temperature;
    let (row_labels, col_labels) = (m.row_labels, m.col_labels);
    let diagonal: Vec<usize> = (0..m.rows).map(|i| m.diagonal(i)).collect();
    let per_row: Vec<f64> = m
        .values
        .par_chunks_mut(cols)
        .enumerate()
        .map(|(i, row)| {
            let (yi, diag) = (row_labels[i], diagonal[i]);
            let npos = positives[i];
            if npos == 0 {
                row.fill(0.0);
                return 0.0;
            }
            let (tmax, _) =
                max2(row, |j, s| (if j != diag { s * inv_t } else { f32::NEG_INFINITY }, 0.0));
            // Every kept entry becomes e^{t - max}; the positives' t are summed on the way.
            let (se, pos_t) = sum2(row, |j, v| {
                let keep = j != diag;
                let t = *v * inv_t;
                let pos = keep && col_labels[j] == yi;
                let e = if keep { exp(t - tmax) } else { 0.0 };
                *v = e;
                (e, if pos { t } else { 0.0 })
            });
            let lse = finish_lse(tmax, se, false);
            let value = -(pos_t as f64 - npos as f64 * lse) / npos as f64;
            if reduction == FusedReduction::AvgNonZero && value <= 0.0 {
                row.fill(0.0);
                return value;
            }
            // d l / d t_ij = softmax_{K_i}(t)_j - [j in P_i] / |P_i|.
            let (inv_se, inv_p) = (1.0 / se, 1.0 / npos as f32);
            for (j, v) in row.iter_mut().enumerate() {
                let pos = j != diag && col_labels[j] == yi;
                *v = (*v * inv_se - if pos { inv_p } else { 0.0 }) * inv_t;
            }
            value
        })
        .collect();
    let total: f64 = per_row.iter().sum();
    let nonzero = per_row.iter().filter(|&&v| v > 0.0).count() as f64;
    let divisor = reduction.divisor(m.rows as f64, nonzero);
    KernelOutput::new(total / divisor, 1.0 / divisor)
}
