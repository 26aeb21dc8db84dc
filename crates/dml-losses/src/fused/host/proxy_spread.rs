//! AMLoss's proxy term (Wang et al. 2022, the LDM repository's formula) on the proxies' own
//! cosine similarities: `weight / C * sum_c log(1 + sum_{k != c} e^{s_ck - m_c + delta})`,
//! which pushes the proxies apart by at least their class's learned margin.

use rayon::prelude::*;

use super::lanes::{finish_lse, max2, sum2};
use super::{KernelOutput, PairMatrix};
use crate::fused::exp::exp;

/// The loss and `dl/ds` (left in `m.values`; the returned scale is 1), and `dl/dm_c`.
pub(crate) fn proxy_spread(
    m: &mut PairMatrix<'_>,
    class_margins: &[f32],
    delta: f32,
    weight: f32,
) -> KernelOutput {
    let classes = m.rows;
    let per_row = weight as f64 / classes as f64;
    let rows: Vec<(f64, f32)> = m
        .values
        .par_chunks_mut(m.cols)
        .enumerate()
        .map(|(c, row)| {
            let offset = delta - class_margins[c];
            let (max, _) =
                max2(row, |k, s| (if k != c { s + offset } else { f32::NEG_INFINITY }, 0.0));
            let shift = max.max(0.0);
            let (sum, _) = sum2(row, |k, v| {
                let e = if k != c { exp(*v + offset - shift) } else { 0.0 };
                *v = e;
                (e, 0.0)
            });
            let value = finish_lse(shift, sum, true);
            // d/ds_ck = weight / C * e_ck / Z_c, d/dm_c = -(the row's sum of those).
            let z = (-(shift as f64)).exp() + sum as f64;
            let factor = (per_row / z) as f32;
            for v in row.iter_mut() {
                *v *= factor;
            }
            (value * per_row, -(per_row * sum as f64 / z) as f32)
        })
        .collect();
    KernelOutput {
        loss: rows.iter().map(|r| r.0).sum(),
        scale: 1.0,
        margin_grad: rows.iter().map(|r| r.1).collect(),
    }
}
