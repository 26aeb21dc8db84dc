//! AMLoss's proxy term (Wang et al. 2022, the LDM repository's formula) on the proxies' own
//! cosine similarities: `weight / C * sum_c log(1 + sum_{k != c} e^{s_ck - m_c + delta})`,
//! which pushes the proxies apart by at least their class's learned margin.

use rayon::prelude::*;

use super::lanes::{Vectorized, finish_lse, map, max2, sum2, vectorized};
use super::{KernelOutput, PairMatrix};
use crate::fused::exp::exp;

/// One class's row: its term and `d/dm_c`, and `dl/ds` written over its similarities.
struct Row<'a> {
    row: &'a mut [f32],
    /// The column labels (only their count matters: one per class).
    columns: &'a [i32],
    class: usize,
    offset: f32,
    per_row: f64,
}

impl Vectorized for Row<'_> {
    type Output = (f64, f32);

    #[inline(always)]
    fn run(self) -> (f64, f32) {
        let Row { row, columns, class, offset, per_row } = self;
        let (max, _) = max2(row, columns, |k, s, _| {
            (if k != class { s + offset } else { f32::NEG_INFINITY }, 0.0)
        });
        let shift = max.max(0.0);
        let (sum, _) = sum2(row, columns, |k, v, _| {
            let e = if k != class { exp(*v + offset - shift) } else { 0.0 };
            *v = e;
            (e, 0.0)
        });
        let value = finish_lse(shift, sum, true);
        // d/ds_ck = weight / C * e_ck / Z_c, d/dm_c = -(the row's sum of those).
        let z = (-(shift as f64)).exp() + sum as f64;
        let factor = (per_row / z) as f32;
        map(row, columns, |_, v, _| v * factor);
        (value * per_row, -(per_row * sum as f64 / z) as f32)
    }
}

/// The loss and `dl/ds` (left in `m.values`; the returned scale is 1), and `dl/dm_c`.
pub(crate) fn proxy_spread(
    m: &mut PairMatrix<'_>,
    class_margins: &[f32],
    delta: f32,
    weight: f32,
) -> KernelOutput {
    let per_row = weight as f64 / m.rows as f64;
    let columns = m.col_labels;
    let rows: Vec<(f64, f32)> = m
        .values
        .par_chunks_mut(m.cols)
        .enumerate()
        .map(|(c, row)| {
            vectorized(Row { row, columns, class: c, offset: delta - class_margins[c], per_row })
        })
        .collect();
    KernelOutput {
        loss: rows.iter().map(|r| r.0).sum(),
        scale: 1.0,
        margin_grad: rows.iter().map(|r| r.1).collect(),
    }
}
