//! BatchHardMiner's selection on the similarity matrix: per anchor, the positive that is
//! farthest and the negative that is closest (Hermans et al. 2017), ranked by the same distance
//! values the composed miner computes, ties going to the first index as its `argmax`/`argmin`.
//! One vectorized pass finds the extreme values, a second the first entry that reaches them.

use rayon::prelude::*;

use super::PairMatrix;
use super::lanes::{LANES, Vectorized, vectorized};
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

/// One anchor's row: the index of its hardest positive and hardest negative, if any.
struct Row<'a> {
    row: &'a [f32],
    labels: &'a [i32],
    col_sq: &'a [f32],
    kind: HardestKind,
    label: i32,
    diag: usize,
    row_sq: f32,
}

impl Vectorized for Row<'_> {
    type Output = (Option<usize>, Option<usize>);

    #[inline(always)]
    fn run(self) -> (Option<usize>, Option<usize>) {
        let Row { row, labels, col_sq, kind, label, diag, row_sq } = self;
        let n = row.len().min(labels.len()).min(col_sq.len());
        let (row, labels, col_sq) = (&row[..n], &labels[..n], &col_sq[..n]);
        // Pass 1: the farthest positive and the closest negative distance (lane-wise).
        let mut far = [f32::NEG_INFINITY; LANES];
        let mut near = [f32::INFINITY; LANES];
        let mut base = 0;
        let chunks = row.chunks_exact(LANES).zip(labels.chunks_exact(LANES));
        for ((rv, lv), cv) in chunks.zip(col_sq.chunks_exact(LANES)) {
            for k in 0..LANES {
                let d = farness(kind, row_sq, cv[k], rv[k]);
                let same = lv[k] == label;
                let pos = same & (base + k != diag);
                far[k] = if pos & (d > far[k]) { d } else { far[k] };
                near[k] = if !same & (d < near[k]) { d } else { near[k] };
            }
            base += LANES;
        }
        for j in base..n {
            let d = farness(kind, row_sq, col_sq[j], row[j]);
            let same = labels[j] == label;
            if same && j != diag && d > far[0] {
                far[0] = d;
            }
            if !same && d < near[0] {
                near[0] = d;
            }
        }
        let far = far.iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
        let near = near.iter().fold(f32::INFINITY, |m, &x| if x < m { x } else { m });
        // Pass 2: the first entries that reach them.
        let mut positive = None;
        let mut negative = None;
        for j in 0..n {
            if positive.is_some() && negative.is_some() {
                break;
            }
            let same = labels[j] == label;
            if same && j == diag {
                continue;
            }
            let d = farness(kind, row_sq, col_sq[j], row[j]);
            if same && positive.is_none() && d == far {
                positive = Some(j);
            } else if !same && negative.is_none() && d == near {
                negative = Some(j);
            }
        }
        (positive, negative)
    }
}

/// Per anchor: the hardest positive's index, the hardest negative's index (0 when there is
/// none) and whether both exist.
pub(crate) fn hardest_per_anchor(
    m: &PairMatrix<'_>,
    kind: HardestKind,
) -> (Vec<i64>, Vec<i64>, Vec<f32>) {
    let cols = m.cols;
    let zeros;
    let col_sq = if m.col_sq.len() == cols {
        m.col_sq
    } else {
        zeros = vec![0f32; cols];
        &zeros
    };
    let picks: Vec<(i64, i64, f32)> = m
        .values
        .par_chunks(cols)
        .enumerate()
        .map(|(i, row)| {
            let (pos, neg) = vectorized(Row {
                row,
                labels: m.col_labels,
                col_sq,
                kind,
                label: m.row_labels[i],
                diag: m.diagonal(i),
                row_sq: m.row_sq.get(i).copied().unwrap_or(0.0),
            });
            let valid = if pos.is_some() && neg.is_some() { 1.0 } else { 0.0 };
            (pos.unwrap_or(0) as i64, neg.unwrap_or(0) as i64, valid)
        })
        .collect();
    let positive = picks.iter().map(|p| p.0).collect();
    let negative = picks.iter().map(|p| p.1).collect();
    let valid = picks.iter().map(|p| p.2).collect();
    (positive, negative, valid)
}
