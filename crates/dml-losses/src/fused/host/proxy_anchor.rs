//! ProxyAnchorLoss on the cosine similarities of embeddings to class proxies (Kim et al. 2020,
//! PML's formula): for each class `c`, `log(1 + sum_{i: y_i = c} e^{alpha (delta - s_ic)})` over
//! its positives, divided by the number of classes in the batch, plus
//! `log(1 + sum_{i: y_i != c} e^{alpha (s_ic + delta)})` over its negatives, divided by the
//! number of classes; with separate positive and negative scales and per-class positive margins
//! `m_c` (in place of `delta`), the embedding part of AMLoss. Each row has one positive column
//! (its label), handled on its own; the negatives are reduced per column in three passes
//! (column maxima, shifted exponentials and their column sums, gradient).

use rayon::prelude::*;

use super::lanes::{Vectorized, finish_lse, vectorized};
use super::{KernelOutput, PairMatrix};
use crate::fused::exp::exp;

/// Rows per rayon task of the column reductions (each task keeps one partial per column).
const ROWS_PER_TASK: usize = 64;

/// The scales and margins of [`proxy_anchor`].
pub(crate) struct ProxyLogits<'a> {
    pub alpha_pos: f32,
    pub alpha_neg: f32,
    /// `m_c`: one per class, or one for all.
    pub pos_margins: &'a [f32],
    pub neg_margin: f32,
}

impl ProxyLogits<'_> {
    fn pos_margin(&self, class: usize) -> f32 {
        if self.pos_margins.len() == 1 { self.pos_margins[0] } else { self.pos_margins[class] }
    }
}

/// The loss and `dl/ds` (left in `m.values`; the returned scale is 1), and `dl/dm_c`.
pub(crate) fn proxy_anchor(m: &mut PairMatrix<'_>, logits: &ProxyLogits<'_>) -> KernelOutput {
    let (alpha, margin) = (logits.alpha_neg, logits.neg_margin);
    let (rows, classes) = (m.rows, m.cols);
    let labels: Vec<usize> = m.row_labels.iter().map(|&y| y as usize).collect();
    let mut per_class = vec![0usize; classes];
    for &y in &labels {
        per_class[y] += 1;
    }
    let with_pos = per_class.iter().filter(|&&c| c > 0).count().max(1) as f64;
    let positive_sim: Vec<f32> = (0..rows).map(|i| m.values[i * classes + labels[i]]).collect();

    // Pass 1: the largest negative similarity of each column (the row's own class masked).
    let col_max = m
        .values
        .par_chunks_mut(ROWS_PER_TASK * classes)
        .enumerate()
        .fold(
            || vec![f32::NEG_INFINITY; classes],
            |mut acc, (task, block)| {
                let labels = &labels[task * ROWS_PER_TASK..];
                vectorized(ColumnMax { acc: &mut acc, block, labels, classes });
                acc
            },
        )
        .reduce(|| vec![f32::NEG_INFINITY; classes], max_into);
    // Shift of each column: the largest negative logit, or 0 (the `1 +` term) if larger.
    let shift: Vec<f32> = col_max.iter().map(|&s| (alpha * (s + margin)).max(0.0)).collect();
    let offset: Vec<f32> = shift.iter().map(|&m| alpha * margin - m).collect();

    // Pass 2: every negative entry becomes e^{alpha (s + delta) - shift}; column sums.
    let col_sum = m
        .values
        .par_chunks_mut(ROWS_PER_TASK * classes)
        .enumerate()
        .fold(
            || vec![0f32; classes],
            |mut acc, (task, block)| {
                let labels = &labels[task * ROWS_PER_TASK..];
                vectorized(ColumnExpSum {
                    acc: &mut acc,
                    block,
                    labels,
                    classes,
                    alpha,
                    offset: &offset,
                });
                acc
            },
        )
        .reduce(|| vec![0f32; classes], sum_into);

    // The negative sub-loss and its per-column gradient factor.
    let mut neg_loss = 0.0f64;
    let mut neg_factor = vec![0f32; classes];
    for c in 0..classes {
        if per_class[c] < rows {
            let z = (-(shift[c] as f64)).exp() + col_sum[c] as f64;
            neg_loss += shift[c] as f64 + z.ln();
            neg_factor[c] = (alpha as f64 / (classes as f64 * z)) as f32;
        }
    }
    // The positive sub-loss: one logit per row, reduced per class on the host.
    let alpha_pos = logits.alpha_pos;
    let pos_logit: Vec<f32> = positive_sim
        .iter()
        .zip(&labels)
        .map(|(&s, &y)| alpha_pos * (logits.pos_margin(y) - s))
        .collect();
    let mut pos_max = vec![0f32; classes];
    for (i, &a) in pos_logit.iter().enumerate() {
        pos_max[labels[i]] = pos_max[labels[i]].max(a);
    }
    let mut pos_sum = vec![0f64; classes];
    for (i, &a) in pos_logit.iter().enumerate() {
        pos_sum[labels[i]] += ((a - pos_max[labels[i]]) as f64).exp();
    }
    let mut pos_loss = 0.0f64;
    let mut pos_norm = vec![0f64; classes];
    for c in 0..classes {
        if per_class[c] > 0 {
            pos_loss += finish_lse(pos_max[c], pos_sum[c] as f32, true);
            pos_norm[c] = (-(pos_max[c] as f64)).exp() + pos_sum[c];
        }
    }

    // d l / d a_i = e^{a_i - max} / (|P+| Z+_c) for the positive logit a_i of row i.
    let pos_weight: Vec<f64> = (0..rows)
        .map(|i| {
            let y = labels[i];
            ((pos_logit[i] - pos_max[y]) as f64).exp() / (with_pos * pos_norm[y])
        })
        .collect();
    // d l / d m_c = alpha_pos * the sum of its positives' weights.
    let mut margin_grad = vec![0f32; if logits.pos_margins.len() == 1 { 1 } else { classes }];
    for (i, &w) in pos_weight.iter().enumerate() {
        let slot = if margin_grad.len() == 1 { 0 } else { labels[i] };
        margin_grad[slot] += (alpha_pos as f64 * w) as f32;
    }
    // Pass 3: the gradient. d/ds_ic = alpha e_ic / (C Z_c) for a negative entry and
    // -alpha_pos e^{a_i - max} / (|P+| Z+_c) at the row's own class.
    m.values.par_chunks_mut(classes).enumerate().for_each(|(i, row)| {
        vectorized(ScaleColumns { row, factors: &neg_factor });
        row[labels[i]] = (-(alpha_pos as f64) * pos_weight[i]) as f32;
    });
    KernelOutput { loss: pos_loss / with_pos + neg_loss / classes as f64, scale: 1.0, margin_grad }
}

/// Pass 1 over a block of rows: the column maxima, each row's own class left out.
struct ColumnMax<'a> {
    acc: &'a mut [f32],
    block: &'a mut [f32],
    labels: &'a [usize],
    classes: usize,
}

impl Vectorized for ColumnMax<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let ColumnMax { acc, block, labels, classes } = self;
        for (row, &y) in block.chunks_exact_mut(classes).zip(labels) {
            let saved = std::mem::replace(&mut row[y], f32::NEG_INFINITY);
            let n = acc.len().min(row.len());
            for (a, &s) in acc[..n].iter_mut().zip(&row[..n]) {
                *a = if s > *a { s } else { *a };
            }
            row[y] = saved;
        }
    }
}

/// Pass 2 over a block of rows: each negative entry replaced by its shifted exponential, added
/// to its column's sum; the row's own class set to 0.
struct ColumnExpSum<'a> {
    acc: &'a mut [f32],
    block: &'a mut [f32],
    labels: &'a [usize],
    classes: usize,
    alpha: f32,
    offset: &'a [f32],
}

impl Vectorized for ColumnExpSum<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let ColumnExpSum { acc, block, labels, classes, alpha, offset } = self;
        for (row, &y) in block.chunks_exact_mut(classes).zip(labels) {
            row[y] = f32::NEG_INFINITY;
            let n = acc.len().min(row.len()).min(offset.len());
            let (acc, row, offset) = (&mut acc[..n], &mut row[..n], &offset[..n]);
            for ((a, v), &o) in acc.iter_mut().zip(row.iter_mut()).zip(offset) {
                let e = exp(alpha * *v + o);
                *v = e;
                *a += e;
            }
            acc[y] -= row[y];
            row[y] = 0.0;
        }
    }
}

/// Pass 3 over a row: each entry times its column's factor.
struct ScaleColumns<'a> {
    row: &'a mut [f32],
    factors: &'a [f32],
}

impl Vectorized for ScaleColumns<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let n = self.row.len().min(self.factors.len());
        for (v, &f) in self.row[..n].iter_mut().zip(&self.factors[..n]) {
            *v *= f;
        }
    }
}

fn max_into(mut a: Vec<f32>, b: Vec<f32>) -> Vec<f32> {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.max(y);
    }
    a
}

fn sum_into(mut a: Vec<f32>, b: Vec<f32>) -> Vec<f32> {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}
