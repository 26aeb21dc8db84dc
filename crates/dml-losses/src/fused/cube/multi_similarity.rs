//! MultiSimilarityLoss as CubeCL kernels, the same formula as the host kernel
//! (`host/multi_similarity.rs`): per anchor `i`,
//! `l_i = log(1 + sum_{P_i} e^{alpha (base - s_ij)}) / alpha + log(1 + sum_{N_i} e^{beta (s_ij - base)}) / beta`.
//!
//! The kernels read the transposed similarity matrix `T = R X^T` (`[m, n]`: column `i` is anchor
//! `i`'s similarities), so that the units of one anchor each, walking their columns row by row,
//! read neighbouring addresses together:
//! - [`multi_similarity_anchors`], one unit per anchor: both log-sum-exps (running, with the `1 +`,
//!   `lse.rs`), the anchor's value, and its positive and negative pair counts (PML's
//!   pair gate);
//! - [`multi_similarity_gradient`], one unit per entry: `dl_i/ds_ij` times `scale[0]` (the gate
//!   over the reducer's divisor), written over `T`.

use burn::backend::ops::FloatTensorOps;
use burn_cubecl::cubecl;
use cubecl::prelude::*;

use super::Cube;
use super::anchors::{AnchorForward, AnchorInput, divisor, pair_gate, total};
use super::lse::RunningLse;
use super::{from_values, grid};
use crate::fused::FusedReduction;

/// MultiSimilarity's forward pass (and `dL/dS^T` when `with_grads`).
pub(super) fn forward(
    input: &AnchorInput,
    (alpha, beta, base): (f32, f32, f32),
    reduction: FusedReduction,
    with_grads: bool,
) -> AnchorForward {
    let AnchorInput { x, sim_t, labels, ref_labels, types, rows, cols, same_set, .. } = input;
    let (rows, cols, same_set) = (*rows, *cols, *same_set);
    let (value, pos_lse, neg_lse) = (input.per_anchor(), input.per_anchor(), input.per_anchor());
    let (pos_count, neg_count, nonzero) =
        (input.per_anchor(), input.per_anchor(), input.per_anchor());
    let (cube_dim, cube_count) = grid(x, rows);
    multi_similarity_anchors::launch(
        &x.client,
        cube_count,
        cube_dim,
        sim_t.clone().into_tensor_arg(),
        labels.clone().into_tensor_arg(),
        ref_labels.clone().into_tensor_arg(),
        value.clone().into_tensor_arg(),
        pos_lse.clone().into_tensor_arg(),
        neg_lse.clone().into_tensor_arg(),
        pos_count.clone().into_tensor_arg(),
        neg_count.clone().into_tensor_arg(),
        nonzero.clone().into_tensor_arg(),
        rows,
        cols,
        alpha,
        beta,
        base,
        same_set,
        *types,
    );
    let gate = pair_gate(total(pos_count), total(neg_count));
    let anchors = from_values(vec![rows as f32], &x.device);
    let scale = Cube::float_div(gate, divisor(reduction, anchors, total(nonzero)));
    let loss = Cube::float_mul(total(value.clone()), scale.clone());
    let grad_t = with_grads.then(|| {
        let entries = rows * cols;
        let (cube_dim, cube_count) = grid(x, entries);
        multi_similarity_gradient::launch(
            &x.client,
            cube_count,
            cube_dim,
            sim_t.clone().into_tensor_arg(),
            labels.clone().into_tensor_arg(),
            ref_labels.clone().into_tensor_arg(),
            value.clone().into_tensor_arg(),
            pos_lse.clone().into_tensor_arg(),
            neg_lse.clone().into_tensor_arg(),
            scale.clone().into_tensor_arg(),
            rows,
            entries,
            alpha,
            beta,
            base,
            same_set,
            reduction == FusedReduction::AvgNonZero,
            *types,
        );
        sim_t.clone()
    });
    AnchorForward { loss, grad_t, margin_grad: None }
}

/// Per anchor `i` (one unit each): `value[i] = l_i`, the two log-sum-exps, the counts of its
/// positive and negative pairs, and `nonzero[i]` 1 when `l_i > 0`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn multi_similarity_anchors<F: Float, I: Numeric, J: Numeric>(
    sim_t: &Tensor<F>,
    row_labels: &Tensor<I>,
    col_labels: &Tensor<J>,
    value: &mut Tensor<F>,
    pos_lse: &mut Tensor<F>,
    neg_lse: &mut Tensor<F>,
    pos_count: &mut Tensor<F>,
    neg_count: &mut Tensor<F>,
    nonzero: &mut Tensor<F>,
    rows: usize,
    cols: usize,
    alpha: f32,
    beta: f32,
    base: f32,
    #[comptime] same_set: bool,
    #[define(F, I, J)] _dtypes: [ElemType; 3],
) {
    let i = ABSOLUTE_POS;
    if i >= rows {
        terminate!();
    }
    let label = usize::cast_from(row_labels[i]);
    let alpha = F::cast_from(alpha);
    let beta = F::cast_from(beta);
    let base = F::cast_from(base);
    let one = F::new(1.0);
    let mut pos = RunningLse::<F>::with_one();
    let mut neg = RunningLse::<F>::with_one();
    let mut positives = F::new(0.0);
    let mut negatives = F::new(0.0);
    for j in 0..cols {
        let s = sim_t[j * rows + i];
        let same = usize::cast_from(col_labels[j]) == label;
        let mut itself = false;
        if same_set {
            itself = j == i;
        }
        if same {
            if !itself {
                pos.push(alpha * (base - s));
                positives += one;
            }
        } else {
            neg.push(beta * (s - base));
            negatives += one;
        }
    }
    let lp = pos.lse_with_one();
    let ln = neg.lse_with_one();
    let l = lp / alpha + ln / beta;
    value[i] = l;
    pos_lse[i] = lp;
    neg_lse[i] = ln;
    pos_count[i] = positives;
    neg_count[i] = negatives;
    nonzero[i] = select(l > F::new(0.0), one, F::new(0.0));
}

/// `dl_i/ds_ij` for every entry of `T` (one unit each), times `scale[0]`, written over `T`:
/// `-e^{alpha (base - s) - pos_lse[i]}` for a positive, `e^{beta (s - base) - neg_lse[i]}` for a
/// negative, 0 for the anchor itself and, with `avg_non_zero`, for an anchor whose loss is 0.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn multi_similarity_gradient<F: Float, I: Numeric, J: Numeric>(
    sim_t: &mut Tensor<F>,
    row_labels: &Tensor<I>,
    col_labels: &Tensor<J>,
    value: &Tensor<F>,
    pos_lse: &Tensor<F>,
    neg_lse: &Tensor<F>,
    scale: &Tensor<F>,
    rows: usize,
    total: usize,
    alpha: f32,
    beta: f32,
    base: f32,
    #[comptime] same_set: bool,
    #[comptime] avg_non_zero: bool,
    #[define(F, I, J)] _dtypes: [ElemType; 3],
) {
    let at = ABSOLUTE_POS;
    if at >= total {
        terminate!();
    }
    let j = at / rows;
    let i = at % rows;
    let s = sim_t[at];
    let same = usize::cast_from(col_labels[j]) == usize::cast_from(row_labels[i]);
    let mut itself = false;
    if same_set {
        itself = j == i;
    }
    let mut keep = true;
    if avg_non_zero {
        keep = value[i] > F::new(0.0);
    }
    let base = F::cast_from(base);
    let mut g = F::new(0.0);
    if keep {
        if same {
            if !itself {
                g = -(F::cast_from(alpha) * (base - s) - pos_lse[i]).exp();
            }
        } else {
            g = (F::cast_from(beta) * (s - base) - neg_lse[i]).exp();
        }
    }
    sim_t[at] = g * scale[0];
}
