//! BatchHardMiner's selection on the similarity matrix: per anchor, the positive that is
//! farthest and the negative that is closest (Hermans et al. 2017), ranked by the same distance
//! values the composed miner computes, ties going to the first index as its `argmax`/`argmin`.

use rayon::prelude::*;

use super::PairMatrix;
use crate::fused::HardestKind;

/// How far apart an entry is, larger meaning farther, computed as `Distance::matrix` does.
#[inline(always)]
fn farness(kind: HardestKind, row_sq: f32, col_sq: f32, s: f32) -> f32 {
    match kind {
        HardestKind::Similarity => -s,
        HardestKind::SquaredL2 => ((row_sq + col_sq) - 2.0 * s).max(0.0),
        HardestKind::L2 => {
            let x = ((row_sq + col_sq) - 2.0 * s).max(0.0);
            if x > 1e-16 { x.sqrt() } else { 0.0 }
        }
    }
}

/// Per anchor: the hardest positive's index, the hardest negative's index (0 when there is
/// none) and whether both exist.
pub(crate) fn hardest_per_anchor(
    m: &PairMatrix<'_>,
    kind: HardestKind,
) -> (Vec<i64>, Vec<i64>, Vec<f32>) {
    let cols = m.cols;
    let picks: Vec<(i64, i64, f32)> = m
        .values
        .par_chunks(cols)
        .enumerate()
        .map(|(i, row)| {
            let (yi, diag) = (m.row_labels[i], m.diagonal(i));
            let qi = m.row_sq.get(i).copied().unwrap_or(0.0);
            let (mut pos, mut pos_far) = (None, f32::NEG_INFINITY);
            let (mut neg, mut neg_far) = (None, f32::INFINITY);
            for (j, &s) in row.iter().enumerate() {
                let rj = m.col_sq.get(j).copied().unwrap_or(0.0);
                let far = farness(kind, qi, rj, s);
                if m.col_labels[j] == yi {
                    if j != diag && (pos.is_none() || far > pos_far) {
                        pos = Some(j);
                        pos_far = far;
                    }
                } else if neg.is_none() || far < neg_far {
                    neg = Some(j);
                    neg_far = far;
                }
            }
            let valid = if pos.is_some() && neg.is_some() { 1.0 } else { 0.0 };
            (pos.unwrap_or(0) as i64, neg.unwrap_or(0) as i64, valid)
        })
        .collect();
    let positive = picks.iter().map(|p| p.0).collect();
    let negative = picks.iter().map(|p| p.1).collect();
    let valid = picks.iter().map(|p| p.2).collect();
    (positive, negative, valid)
}
