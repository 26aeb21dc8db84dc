//! ContrastiveLoss on the L2 distances of normalized embeddings (Hadsell et al. 2006, PML's
//! formula): `[d_ij - pos_margin]+` over positive pairs and `[neg_margin - d_ij]+` over negative
//! pairs, each sub-loss reduced on its own, with `d_ij = sqrt(max(|x_i|^2 + |r_j|^2 - 2 s_ij, 0))`
//! as the composed implementation computes it for large batches.

use rayon::prelude::*;

use super::lanes::{Vectorized, map_aux, sum2_aux, vectorized};
use super::{KernelOutput, PairMatrix};
use crate::fused::FusedReduction;

/// The distance of an entry, as `Distance::matrix` computes it from a matrix product: the
/// clamped squared distance, then a square root that is 0 (with a zero gradient) at 0.
#[inline(always)]
fn distance(row_sq: f32, col_sq: f32, s: f32) -> f32 {
    let x = ((row_sq + col_sq) - 2.0 * s).max(0.0);
    if x > 1e-16 { x.sqrt() } else { 0.0 }
}

/// What an anchor's row shares with its passes.
#[derive(Clone, Copy)]
struct Anchor {
    label: i32,
    diag: usize,
    row_sq: f32,
    pos_margin: f32,
    neg_margin: f32,
}

/// Pass 1 over a row: the sums and non-zero counts of both sub-losses.
struct Sums<'a> {
    row: &'a mut [f32],
    labels: &'a [i32],
    col_sq: &'a [f32],
    anchor: Anchor,
}

impl Vectorized for Sums<'_> {
    type Output = [f64; 4];

    #[inline(always)]
    fn run(self) -> [f64; 4] {
        let Sums { row, labels, col_sq, anchor: a } = self;
        let (pos_sum, neg_sum) = sum2_aux(row, labels, col_sq, |j, v, z, r| {
            let same = z == a.label;
            let d = distance(a.row_sq, r, *v);
            let pos = if same & (j != a.diag) { (d - a.pos_margin).max(0.0) } else { 0.0 };
            let neg = if same { 0.0 } else { (a.neg_margin - d).max(0.0) };
            (pos, neg)
        });
        let (pos_nz, neg_nz) = sum2_aux(row, labels, col_sq, |j, v, z, r| {
            let same = z == a.label;
            let d = distance(a.row_sq, r, *v);
            let pos = same & (j != a.diag) & (d - a.pos_margin > 0.0);
            let neg = !same & (a.neg_margin - d > 0.0);
            (if pos { 1.0 } else { 0.0 }, if neg { 1.0 } else { 0.0 })
        });
        [pos_sum as f64, pos_nz as f64, neg_sum as f64, neg_nz as f64]
    }
}

/// Pass 2 over a row: `d l / d s_ij = -(d l / d d_ij) / d_ij` (`d d / d s = -1 / d`).
struct Gradient<'a> {
    row: &'a mut [f32],
    labels: &'a [i32],
    col_sq: &'a [f32],
    anchor: Anchor,
    pos_factor: f32,
    neg_factor: f32,
}

impl Vectorized for Gradient<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let Gradient { row, labels, col_sq, anchor: a, pos_factor, neg_factor } = self;
        map_aux(row, labels, col_sq, |j, v, z, r| {
            let same = z == a.label;
            let d = distance(a.row_sq, r, v);
            let pos = same & (j != a.diag) & (d - a.pos_margin > 0.0);
            let neg = !same & (a.neg_margin - d > 0.0);
            let g = if pos {
                pos_factor
            } else if neg {
                neg_factor
            } else {
                0.0
            };
            if d > 0.0 { g / d } else { 0.0 }
        });
    }
}

/// The loss and `dl/ds` (left in `m.values`; the returned scale is 1).
pub(crate) fn contrastive(
    m: &mut PairMatrix<'_>,
    pos_margin: f32,
    neg_margin: f32,
    reduction: FusedReduction,
) -> KernelOutput {
    let cols = m.cols;
    let (row_labels, col_labels, col_sq) = (m.row_labels, m.col_labels, m.col_sq);
    let (row_sq, same_set) = (m.row_sq, m.same_set);
    let anchor = |i: usize| Anchor {
        label: row_labels[i],
        diag: if same_set { i } else { usize::MAX },
        row_sq: row_sq[i],
        pos_margin,
        neg_margin,
    };
    let per_row: Vec<[f64; 4]> = m
        .values
        .par_chunks_mut(cols)
        .enumerate()
        .map(|(i, row)| vectorized(Sums { row, labels: col_labels, col_sq, anchor: anchor(i) }))
        .collect();
    let total = |k: usize| per_row.iter().map(|r| r[k]).sum::<f64>();
    let same = m.same_label_counts();
    let pos_pairs = m.positives_per_row(&same).iter().sum::<usize>() as f64;
    let neg_pairs = same.iter().map(|&c| (cols - c) as f64).sum::<f64>();
    let pos_div = reduction.divisor(pos_pairs, total(1));
    let neg_div = reduction.divisor(neg_pairs, total(3));
    let loss = total(0) / pos_div + total(2) / neg_div;
    let (pos_factor, neg_factor) = ((-1.0 / pos_div) as f32, (1.0 / neg_div) as f32);
    m.values.par_chunks_mut(cols).enumerate().for_each(|(i, row)| {
        vectorized(Gradient {
            row,
            labels: col_labels,
            col_sq,
            anchor: anchor(i),
            pos_factor,
            neg_factor,
        })
    });
    KernelOutput::new(loss, 1.0)
}
