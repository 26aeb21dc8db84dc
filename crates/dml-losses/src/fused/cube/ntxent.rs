//! NTXentLoss as CubeCL kernels, the same formula as the host kernel (`host/ntxent.rs`): for each
//! positive pair `(i, j)`, `l_ij = softplus(lse_{N_i}(t) - t_ij)` with `t = s / temperature`;
//! the pairs of an anchor without negatives are 0, and the loss is 0 unless the batch passes
//! PML's pair gate. On the transposed matrix `T = R X^T` (see `anchors.rs`).

use burn::backend::ops::FloatTensorOps;
use burn_cubecl::cubecl;
use cubecl::prelude::*;

use super::anchors::{AnchorForward, AnchorInput, divisor, pair_gate, total};
use super::lse::RunningLse;
use super::{Cube, grid};
use crate::fused::FusedReduction;

/// NTXent's forward pass (and `dL/dS^T` when `with_grads`).
pub(super) fn forward(
    input: &AnchorInput,
    temperature: f32,
    reduction: FusedReduction,
    with_grads: bool,
) -> AnchorForward {
    let AnchorInput { x, sim_t, labels, ref_labels, types, rows, cols, same_set, .. } = input;
    let (rows, cols, same_set) = (*rows, *cols, *same_set);
    let inv_t = 1.0 / temperature;
    let avg_non_zero = reduction == FusedReduction::AvgNonZero;
    let (value, nonzero, sigma_sum) = (input.per_anchor(), input.per_anchor(), input.per_anchor());
    let (lse, pos_count, neg_count) = (input.per_anchor(), input.per_anchor(), input.per_anchor());
    let (cube_dim, cube_count) = grid(x, rows);
    ntxent_anchors::launch(
        &x.client,
        cube_count,
        cube_dim,
        sim_t.clone().into_tensor_arg(),
        labels.clone().into_tensor_arg(),
        ref_labels.clone().into_tensor_arg(),
        value.clone().into_tensor_arg(),
        nonzero.clone().into_tensor_arg(),
        sigma_sum.clone().into_tensor_arg(),
        lse.clone().into_tensor_arg(),
        pos_count.clone().into_tensor_arg(),
        neg_count.clone().into_tensor_arg(),
        rows,
        cols,
        inv_t,
        same_set,
        avg_non_zero,
        *types,
    );
    // The reducer averages over positive pairs (or the non-zero ones).
    let positive_pairs = total(pos_count);
    let gate = pair_gate(positive_pairs.clone(), total(neg_count.clone()));
    let scale = Cube::float_div(gate, divisor(reduction, positive_pairs, total(nonzero)));
    let loss = Cube::float_mul(total(value), scale.clone());
    let grad_t = with_grads.then(|| {
        let entries = rows * cols;
        let (cube_dim, cube_count) = grid(x, entries);
        ntxent_gradient::launch(
            &x.client,
            cube_count,
            cube_dim,
            sim_t.clone().into_tensor_arg(),
            labels.clone().into_tensor_arg(),
            ref_labels.clone().into_tensor_arg(),
            sigma_sum.into_tensor_arg(),
            lse.into_tensor_arg(),
            neg_count.into_tensor_arg(),
            scale.into_tensor_arg(),
            rows,
            entries,
            inv_t,
            same_set,
            avg_non_zero,
            *types,
        );
        sim_t.clone()
    });
    AnchorForward { loss, grad_t, margin_grad: None }
}

/// `log(1 + e^{-|u|}) + max(u, 0)`, with `log(1 + e)` taken as `e - e^2 / 2` for a small `e`
/// (where float32's `1 + e` would round the term away; the host computes it in float64).
#[cube]
fn softplus<F: Float>(u: F) -> F {
    let e = (-u.abs()).exp();
    let log1p = if e < F::new(1.0e-4) {
        e * (F::new(1.0) - e * F::new(0.5))
    } else {
        (F::new(1.0) + e).ln()
    };
    let mut positive = F::new(0.0);
    if u > positive {
        positive = u;
    }
    positive + log1p
}

/// Per anchor `i` (one unit each): the sum of its positive pairs' losses (`value[i]`), how many
/// are non-zero, the sum of their gradient weights `sigma(u_ij)` (the kept ones), `lse[i]` over
/// its negatives, and its positive and negative pair counts.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn ntxent_anchors<F: Float, I: Numeric, J: Numeric>(
    sim_t: &Tensor<F>,
    row_labels: &Tensor<I>,
    col_labels: &Tensor<J>,
    value: &mut Tensor<F>,
    nonzero: &mut Tensor<F>,
    sigma_sum: &mut Tensor<F>,
    lse: &mut Tensor<F>,
    pos_count: &mut Tensor<F>,
    neg_count: &mut Tensor<F>,
    rows: usize,
    cols: usize,
    inv_t: f32,
    #[comptime] same_set: bool,
    #[comptime] avg_non_zero: bool,
    #[define(F, I, J)] _dtypes: [ElemType; 3],
) {
    let i = ABSOLUTE_POS;
    if i >= rows {
        terminate!();
    }
    let label = usize::cast_from(row_labels[i]);
    let inv_t = F::cast_from(inv_t);
    let one = F::new(1.0);
    let zero = F::new(0.0);
    // Walk 1: the log-sum-exp of the negatives' t, and the pair counts.
    let mut negative_lse = RunningLse::<F>::empty();
    let mut positives = zero;
    let mut negatives = zero;
    for j in 0..cols {
        let same = usize::cast_from(col_labels[j]) == label;
        if same {
            let mut itself = false;
            if same_set {
                itself = j == i;
            }
            if !itself {
                positives += one;
            }
        } else {
            negative_lse.push(sim_t[j * rows + i] * inv_t);
            negatives += one;
        }
    }
    let mut log_z = zero;
    let mut sum = zero;
    let mut count = zero;
    let mut sigmas = zero;
    if negatives > zero {
        log_z = negative_lse.lse();
        // Walk 2: every positive pair's loss and gradient weight.
        for j in 0..cols {
            let mut itself = false;
            if same_set {
                itself = j == i;
            }
            if usize::cast_from(col_labels[j]) == label && !itself {
                let u = log_z - sim_t[j * rows + i] * inv_t;
                let l = softplus::<F>(u);
                sum += l;
                let positive = l > zero;
                if positive {
                    count += one;
                }
                if positive || !avg_non_zero {
                    sigmas += one / (one + (-u).exp());
                }
            }
        }
    }
    value[i] = sum;
    nonzero[i] = count;
    sigma_sum[i] = sigmas;
    lse[i] = log_z;
    pos_count[i] = positives;
    neg_count[i] = negatives;
}

/// `dL/ds_ij` for every entry of `T` (one unit each), times `scale[0]`, written over `T`:
/// `-sigma(u_ij) / temperature` for a kept positive pair, `sigma_sum[i] softmax_{N_i}(t)_j /
/// temperature` for a negative; 0 for the anchor itself and for an anchor without negatives.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn ntxent_gradient<F: Float, I: Numeric, J: Numeric>(
    sim_t: &mut Tensor<F>,
    row_labels: &Tensor<I>,
    col_labels: &Tensor<J>,
    sigma_sum: &Tensor<F>,
    lse: &Tensor<F>,
    neg_count: &Tensor<F>,
    scale: &Tensor<F>,
    rows: usize,
    total: usize,
    inv_t: f32,
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
    let zero = F::new(0.0);
    let one = F::new(1.0);
    let mut itself = false;
    if same_set {
        itself = j == i;
    }
    let mut g = zero;
    if neg_count[i] > zero && !itself {
        let inv_t = F::cast_from(inv_t);
        let t = sim_t[at] * inv_t;
        if usize::cast_from(col_labels[j]) == usize::cast_from(row_labels[i]) {
            let u = lse[i] - t;
            let mut kept = true;
            if avg_non_zero {
                kept = softplus::<F>(u) > zero;
            }
            if kept {
                g = -inv_t / (one + (-u).exp());
            }
        } else {
            g = sigma_sum[i] * (t - lse[i]).exp() * inv_t;
        }
    }
    sim_t[at] = g * scale[0];
}
