//! SupConLoss on the similarity matrix (Khosla et al. 2020, PML's formula): with
//! `t = s / temperature` and `K_i` every entry other than the anchor itself,
//! `l_i = -(1 / |P_i|) sum_{j in P_i} (t_ij - lse_{K_i}(t_i.))`; 0 for an anchor without positives.

use rayon::prelude::*;

use super::lanes::{Vectorized, finish_lse, map, max2, sum2, vectorized};
use super::{KernelOutput, PairMatrix};
use crate::fused::FusedReduction;
use crate::fused::exp::exp;

/// One anchor's row (with at least one positive): its loss, and `dl/ds` written over its
/// similarities.
struct Row<'a> {
    row: &'a mut [f32],
    labels: &'a [i32],
    label: i32,
    diag: usize,
    positives: usize,
    inv_t: f32,
    avg_non_zero: bool,
}

impl Vectorized for Row<'_> {
    type Output = f64;

    #[inline(always)]
    fn run(self) -> f64 {
        let Row { row, labels, label, diag, positives, inv_t, avg_non_zero } = self;
        let (tmax, _) = max2(row, labels, |j, s, _| {
            (if j != diag { s * inv_t } else { f32::NEG_INFINITY }, 0.0)
        });
        // Every kept entry becomes e^{t - max}; the positives' t are summed on the way.
        let (se, pos_t) = sum2(row, labels, |j, v, z| {
            let keep = j != diag;
            let t = *v * inv_t;
            let e = if keep { exp(t - tmax) } else { 0.0 };
            *v = e;
            (e, if keep & (z == label) { t } else { 0.0 })
        });
        let lse = finish_lse(tmax, se, false);
        let value = -(pos_t as f64 - positives as f64 * lse) / positives as f64;
        if avg_non_zero && value <= 0.0 {
            row.fill(0.0);
            return value;
        }
        // d l / d t_ij = softmax_{K_i}(t)_j - [j in P_i] / |P_i|.
        let (inv_se, inv_p) = (1.0 / se, 1.0 / positives as f32);
        map(row, labels, |j, v, z| {
            let pos = (j != diag) & (z == label);
            (v * inv_se - if pos { inv_p } else { 0.0 }) * inv_t
        });
        value
    }
}

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
    let (row_labels, col_labels, same_set) = (m.row_labels, m.col_labels, m.same_set);
    let per_row: Vec<f64> = m
        .values
        .par_chunks_mut(cols)
        .enumerate()
        .map(|(i, row)| {
            if positives[i] == 0 {
                row.fill(0.0);
                return 0.0;
            }
            vectorized(Row {
                row,
                labels: col_labels,
                label: row_labels[i],
                diag: if same_set { i } else { usize::MAX },
                positives: positives[i],
                inv_t: 1.0 / temperature,
                avg_non_zero: reduction == FusedReduction::AvgNonZero,
            })
        })
        .collect();
    let total: f64 = per_row.iter().sum();
    let nonzero = per_row.iter().filter(|&&v| v > 0.0).count() as f64;
    let divisor = reduction.divisor(m.rows as f64, nonzero);
    KernelOutput::new(total / divisor, 1.0 / divisor)
}
