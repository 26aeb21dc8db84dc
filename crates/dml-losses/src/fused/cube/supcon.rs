//! SupConLoss as CubeCL kernels, the same formula as the host kernel (`host/supcon.rs`): with
//! `t = s / temperature` and `K_i` every entry but the anchor itself,
//! `l_i = -(1 / |P_i|) sum_{j in P_i} (t_ij - lse_{K_i}(t))`, 0 for an anchor without positives;
//! the loss is 0 unless the batch has a positive and a negative pair and passes PML's pair gate.
//! On the transposed matrix `T = R X^T` (see `anchors.rs`).

use burn::backend::ops::FloatTensorOps;
use burn_cubecl::cubecl;
use cubecl::prelude::*;

use super::anchors::{AnchorForward, AnchorInput, any, divisor, pair_gate, total};
use super::lse::RunningLse;
use super::{Cube, from_values, grid};
use crate::fused::FusedReduction;

/// SupCon's forward pass (and `dL/dS^T` when `with_grads`).
pub(super) fn forward(
    input: &AnchorInput,
    temperature: f32,
    reduction: FusedReduction,
    with_grads: bool,
) -> AnchorForward {
    let AnchorInput { x, sim_t, labels, ref_labels, types, rows, cols, same_set, .. } = input;
    let (rows, cols, same_set) = (*rows, *cols, *same_set);
    let inv_t = 1.0 / temperature;
    let (value, lse, nonzero) = (input.per_anchor(), input.per_anchor(), input.per_anchor());
    let (pos_count, neg_count) = (input.per_anchor(), input.per_anchor());
    let (cube_dim, cube_count) = grid(x, rows);
    supcon_anchors::launch(
        &x.client,
        cube_count,
        cube_dim,
        sim_t.clone().into_tensor_arg(),
        labels.clone().into_tensor_arg(),
        ref_labels.clone().into_tensor_arg(),
        value.clone().into_tensor_arg(),
        lse.clone().into_tensor_arg(),
        pos_count.clone().into_tensor_arg(),
        neg_count.clone().into_tensor_arg(),
        nonzero.clone().into_tensor_arg(),
        rows,
        cols,
        inv_t,
        same_set,
        *types,
    );
    let (positive_pairs, negative_pairs) = (total(pos_count.clone()), total(neg_count));
    let gate = Cube::float_mul(
        pair_gate(positive_pairs.clone(), negative_pairs.clone()),
        Cube::float_mul(any(positive_pairs), any(negative_pairs)),
    );
    let anchors = from_values(vec![rows as f32], &x.device);
    let scale = Cube::float_div(gate, divisor(reduction, anchors, total(nonzero)));
    let loss = Cube::float_mul(total(value.clone()), scale.clone());
    let grad_t = with_grads.then(|| {
        let entries = rows * cols;
        let (cube_dim, cube_count) = grid(x, entries);
        supcon_gradient::launch(
            &x.client,
            cube_count,
            cube_dim,
            sim_t.clone().into_tensor_arg(),
            labels.clone().into_tensor_arg(),
            ref_labels.clone().into_tensor_arg(),
            value.into_tensor_arg(),
            lse.into_tensor_arg(),
            pos_count.into_tensor_arg(),
            scale.into_tensor_arg(),
            rows,
            entries,
            inv_t,
            same_set,
            reduction == FusedReduction::AvgNonZero,
            *types,
        );
        sim_t.clone()
    });
    AnchorForward { loss, grad_t, margin_grad: None }
}

/// Per anchor `i` (one unit each): `value[i] = l_i`, `lse[i]` over `K_i`, its positive and
/// negative pair counts, and `nonzero[i]` 1 when `l_i > 0`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn supcon_anchors<F: Float, I: Numeric, J: Numeric>(
    sim_t: &Tensor<F>,
    row_labels: &Tensor<I>,
    col_labels: &Tensor<J>,
    value: &mut Tensor<F>,
    lse: &mut Tensor<F>,
    pos_count: &mut Tensor<F>,
    neg_count: &mut Tensor<F>,
    nonzero: &mut Tensor<F>,
    rows: usize,
    cols: usize,
    inv_t: f32,
    #[comptime] same_set: bool,
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
    let mut all = RunningLse::<F>::empty();
    let mut pos_t = zero;
    let mut positives = zero;
    let mut negatives = zero;
    for j in 0..cols {
        let mut itself = false;
        if same_set {
            itself = j == i;
        }
        if !itself {
            let t = sim_t[j * rows + i] * inv_t;
            all.push(t);
            if usize::cast_from(col_labels[j]) == label {
                pos_t += t;
                positives += one;
            } else {
                negatives += one;
            }
        }
    }
    let log_z = all.lse();
    let mut l = zero;
    if positives > zero {
        l = (positives * log_z - pos_t) / positives;
    }
    value[i] = l;
    lse[i] = log_z;
    pos_count[i] = positives;
    neg_count[i] = negatives;
    nonzero[i] = select(l > zero, one, zero);
}

/// `dl_i/ds_ij` for every entry of `T` (one unit each), times `scale[0]`, written over `T`:
/// `(softmax_{K_i}(t)_j - [j in P_i] / |P_i|) / temperature`; 0 for the anchor itself, for an
/// anchor without positives and, with `avg_non_zero`, for an anchor whose loss is 0.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn supcon_gradient<F: Float, I: Numeric, J: Numeric>(
    sim_t: &mut Tensor<F>,
    row_labels: &Tensor<I>,
    col_labels: &Tensor<J>,
    value: &Tensor<F>,
    lse: &Tensor<F>,
    pos_count: &Tensor<F>,
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
    let mut itself = false;
    if same_set {
        itself = j == i;
    }
    let positives = pos_count[i];
    let mut keep = positives > zero && !itself;
    if avg_non_zero {
        keep = keep && value[i] > zero;
    }
    let mut g = zero;
    if keep {
        let inv_t = F::cast_from(inv_t);
        let t = sim_t[at] * inv_t;
        g = (t - lse[i]).exp();
        if usize::cast_from(col_labels[j]) == usize::cast_from(row_labels[i]) {
            g -= F::new(1.0) / positives;
        }
        g *= inv_t;
    }
    sim_t[at] = g * scale[0];
}
