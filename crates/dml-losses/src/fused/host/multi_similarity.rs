//! MultiSimilarityLoss on the similarity matrix (Wang et al. 2019, PML's formula):
//! `l_i = log(1 + sum_{P_i} e^{alpha (base - s_ij)}) / alpha + log(1 + sum_{N_i} e^{beta (s_ij - base)}) / beta`.

use rayon::prelude::*;

use super::lanes::{Vectorized, finish_lse, map, max2, sum2, vectorized};
use super::{KernelOutput, PairMatrix};
use crate::fused::FusedReduction;
use crate::fused::exp::exp;

/// One anchor's row: its loss, and `dl/ds` written over its similarities.
struct Row<'a> {
    row: &'a mut [f32],
    labels: &'a [i32],
    label: i32,
    diag: usize,
    has_pos: bool,
    has_neg: bool,
    alpha: f32,
    beta: f32,
    base: f32,
    avg_non_zero: bool,
}

impl Vectorized for Row<'_> {
    type Output = f64;

    #[inline(always)]
    fn run(self) -> f64 {
        let Row { row, labels, label, diag, has_pos, has_neg, alpha, beta, base, avg_non_zero } =
            self;
        let (pmax, nmax) = max2(row, labels, |j, s, z| {
            let same = z == label;
            let pos = same & (j != diag);
            let a = if pos { alpha * (base - s) } else { f32::NEG_INFINITY };
            let b = if same { f32::NEG_INFINITY } else { beta * (s - base) };
            (a, b)
        });
        let (mp, mn) = (pmax.max(0.0), nmax.max(0.0));
        // Each entry becomes its shifted exponential (0 off the masks).
        let (sp, sn) = sum2(row, labels, |j, v, z| {
            let same = z == label;
            let pos = same & (j != diag);
            let arg = if pos { alpha * (base - *v) - mp } else { beta * (*v - base) - mn };
            let e = exp(arg);
            let e = if pos | !same { e } else { 0.0 };
            *v = e;
            (if pos { e } else { 0.0 }, if same { 0.0 } else { e })
        });
        let lp = if has_pos { finish_lse(mp, sp, true) / alpha as f64 } else { 0.0 };
        let ln = if has_neg { finish_lse(mn, sn, true) / beta as f64 } else { 0.0 };
        let value = lp + ln;
        let keep = !avg_non_zero || value > 0.0;
        // d lp / d s_ij = -e_ij / Z_p, d ln / d s_ij = e_ij / Z_n.
        let gp = if keep && has_pos { -1.0 / ((-mp).exp() + sp) } else { 0.0 };
        let gn = if keep && has_neg { 1.0 / ((-mn).exp() + sn) } else { 0.0 };
        map(row, labels, |j, v, z| v * if (z == label) & (j != diag) { gp } else { gn });
        value
    }
}

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
    let (row_labels, col_labels, same_set) = (m.row_labels, m.col_labels, m.same_set);
    let per_row: Vec<f64> = m
        .values
        .par_chunks_mut(cols)
        .enumerate()
        .map(|(i, row)| {
            vectorized(Row {
                row,
                labels: col_labels,
                label: row_labels[i],
                diag: if same_set { i } else { usize::MAX },
                has_pos: positives[i] > 0,
                has_neg: same[i] < cols,
                alpha,
                beta,
                base,
                avg_non_zero: reduction == FusedReduction::AvgNonZero,
            })
        })
        .collect();
    let total: f64 = per_row.iter().sum();
    let nonzero = per_row.iter().filter(|&&v| v > 0.0).count() as f64;
    let divisor = reduction.divisor(m.rows as f64, nonzero);
    KernelOutput::new(total / divisor, 1.0 / divisor)
}
