//! ContrastiveLoss as CubeCL kernels, the same formula as the host kernel
//! (`host/contrastive.rs`): `[d_ij - pos_margin]+` over positive pairs and
//! `[neg_margin - d_ij]+` over negative pairs, each sub-loss reduced on its own, with
//! `d_ij = sqrt(max(|x_i|^2 + |r_j|^2 - 2 s_ij, 0))` (0, with a zero gradient, below 1e-16). On
//! the transposed matrix `T = R X^T` (see `anchors.rs`).

use burn::backend::ops::FloatTensorOps;
use burn_cubecl::cubecl;
use cubecl::prelude::*;

use super::anchors::{AnchorForward, AnchorInput, divisor, total};
use super::hardest::squared_norms;
use super::{Cube, grid};
use crate::fused::FusedReduction;

/// Contrastive's forward pass (and `dL/dS^T` when `with_grads`).
pub(super) fn forward(
    input: &AnchorInput,
    (pos_margin, neg_margin): (f32, f32),
    reduction: FusedReduction,
    with_grads: bool,
) -> AnchorForward {
    let AnchorInput { x, r, sim_t, labels, ref_labels, types, rows, cols, same_set } = input;
    let (rows, cols, same_set) = (*rows, *cols, *same_set);
    let (row_sq, col_sq) = (squared_norms(x), squared_norms(r));
    let (pos_sum, pos_nonzero, pos_pairs) =
        (input.per_anchor(), input.per_anchor(), input.per_anchor());
    let (neg_sum, neg_nonzero, neg_pairs) =
        (input.per_anchor(), input.per_anchor(), input.per_anchor());
    let (cube_dim, cube_count) = grid(x, rows);
    contrastive_anchors::launch(
        &x.client,
        cube_count,
        cube_dim,
        sim_t.clone().into_tensor_arg(),
        labels.clone().into_tensor_arg(),
        ref_labels.clone().into_tensor_arg(),
        row_sq.clone().into_tensor_arg(),
        col_sq.clone().into_tensor_arg(),
        pos_sum.clone().into_tensor_arg(),
        pos_nonzero.clone().into_tensor_arg(),
        pos_pairs.clone().into_tensor_arg(),
        neg_sum.clone().into_tensor_arg(),
        neg_nonzero.clone().into_tensor_arg(),
        neg_pairs.clone().into_tensor_arg(),
        rows,
        cols,
        pos_margin,
        neg_margin,
        same_set,
        *types,
    );
    // Each sub-loss over its own divisor; dL/d(pos term) = 1 / pos_div, likewise for negatives.
    let pos_factor = Cube::float_recip(divisor(reduction, total(pos_pairs), total(pos_nonzero)));
    let neg_factor = Cube::float_recip(divisor(reduction, total(neg_pairs), total(neg_nonzero)));
    let loss = Cube::float_add(
        Cube::float_mul(total(pos_sum), pos_factor.clone()),
        Cube::float_mul(total(neg_sum), neg_factor.clone()),
    );
    let grad_t = with_grads.then(|| {
        let entries = rows * cols;
        let (cube_dim, cube_count) = grid(x, entries);
        contrastive_gradient::launch(
            &x.client,
            cube_count,
            cube_dim,
            sim_t.clone().into_tensor_arg(),
            labels.clone().into_tensor_arg(),
            ref_labels.clone().into_tensor_arg(),
            row_sq.into_tensor_arg(),
            col_sq.into_tensor_arg(),
            pos_factor.into_tensor_arg(),
            neg_factor.into_tensor_arg(),
            rows,
            entries,
            pos_margin,
            neg_margin,
            same_set,
            *types,
        );
        sim_t.clone()
    });
    AnchorForward { loss, grad_t, margin_grad: None }
}

/// The distance of an entry as the composed implementation computes it from a matrix product:
/// the clamped squared distance, then a square root that is 0 at (and just above) 0.
#[cube]
fn distance<F: Float>(row_sq: F, col_sq: F, s: F) -> F {
    let mut squared = (row_sq + col_sq) - F::new(2.0) * s;
    if squared < F::new(0.0) {
        squared = F::new(0.0);
    }
    let mut d = F::new(0.0);
    if squared > F::new(1.0e-16) {
        d = squared.sqrt();
    }
    d
}

/// Per anchor `i` (one unit each): the sums, non-zero counts and pair counts of both sub-losses
/// over its pairs.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn contrastive_anchors<F: Float, I: Numeric, J: Numeric>(
    sim_t: &Tensor<F>,
    row_labels: &Tensor<I>,
    col_labels: &Tensor<J>,
    row_sq: &Tensor<F>,
    col_sq: &Tensor<F>,
    pos_sum: &mut Tensor<F>,
    pos_nonzero: &mut Tensor<F>,
    pos_pairs: &mut Tensor<F>,
    neg_sum: &mut Tensor<F>,
    neg_nonzero: &mut Tensor<F>,
    neg_pairs: &mut Tensor<F>,
    rows: usize,
    cols: usize,
    pos_margin: f32,
    neg_margin: f32,
    #[comptime] same_set: bool,
    #[define(F, I, J)] _dtypes: [ElemType; 3],
) {
    let i = ABSOLUTE_POS;
    if i >= rows {
        terminate!();
    }
    let label = usize::cast_from(row_labels[i]);
    let pos_margin = F::cast_from(pos_margin);
    let neg_margin = F::cast_from(neg_margin);
    let anchor_sq = row_sq[i];
    let one = F::new(1.0);
    let zero = F::new(0.0);
    let mut ps = zero;
    let mut pn = zero;
    let mut pc = zero;
    let mut ns = zero;
    let mut nn = zero;
    let mut nc = zero;
    for j in 0..cols {
        let d = distance::<F>(anchor_sq, col_sq[j], sim_t[j * rows + i]);
        if usize::cast_from(col_labels[j]) == label {
            let mut itself = false;
            if same_set {
                itself = j == i;
            }
            if !itself {
                let term = d - pos_margin;
                if term > zero {
                    ps += term;
                    pn += one;
                }
                pc += one;
            }
        } else {
            let term = neg_margin - d;
            if term > zero {
                ns += term;
                nn += one;
            }
            nc += one;
        }
    }
    pos_sum[i] = ps;
    pos_nonzero[i] = pn;
    pos_pairs[i] = pc;
    neg_sum[i] = ns;
    neg_nonzero[i] = nn;
    neg_pairs[i] = nc;
}

/// `dL/ds_ij` for every entry of `T` (one unit each), written over `T`:
/// `-pos_factor / d` for a positive pair above its margin, `-neg_factor / d` for a negative pair
/// inside its margin (`dd/ds = -1/d`), 0 elsewhere and at `d = 0`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn contrastive_gradient<F: Float, I: Numeric, J: Numeric>(
    sim_t: &mut Tensor<F>,
    row_labels: &Tensor<I>,
    col_labels: &Tensor<J>,
    row_sq: &Tensor<F>,
    col_sq: &Tensor<F>,
    pos_factor: &Tensor<F>,
    neg_factor: &Tensor<F>,
    rows: usize,
    total: usize,
    pos_margin: f32,
    neg_margin: f32,
    #[comptime] same_set: bool,
    #[define(F, I, J)] _dtypes: [ElemType; 3],
) {
    let at = ABSOLUTE_POS;
    if at >= total {
        terminate!();
    }
    let j = at / rows;
    let i = at % rows;
    let zero = F::new(0.0);
    let d = distance::<F>(row_sq[i], col_sq[j], sim_t[at]);
    let mut itself = false;
    if same_set {
        itself = j == i;
    }
    // dL/dd: +pos_factor above the positive margin, -neg_factor inside the negative one.
    let mut dl_dd = zero;
    if usize::cast_from(col_labels[j]) == usize::cast_from(row_labels[i]) {
        if !itself && d - F::cast_from(pos_margin) > zero {
            dl_dd = pos_factor[0];
        }
    } else if F::cast_from(neg_margin) - d > zero {
        dl_dd = -neg_factor[0];
    }
    let mut g = zero;
    if d > zero {
        g = -dl_dd / d;
    }
    sim_t[at] = g;
}
