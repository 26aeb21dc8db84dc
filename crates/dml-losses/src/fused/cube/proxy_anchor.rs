//! ProxyAnchorLoss (and AMLoss's embedding-to-proxy terms) as CubeCL kernels, the same formula
//! as the host kernel (`host/proxy_anchor.rs`): for each class `c`,
//! `log(1 + sum_{y_i = c} e^{alpha_pos (m_c - s_ic)})` over the classes present plus
//! `log(1 + sum_{y_i != c} e^{alpha_neg (s_ic + neg_margin)})` over all classes.
//!
//! Two launches over the similarity matrix `S = X R^T` (`[n, C]`, row-major):
//! - [`proxy_anchor_columns`], one unit per class: walks its column once and keeps a running
//!   log-sum-exp of its positive and of its negative logits (the `1 +` is the starting term
//!   `e^0`, so the maximum starts at 0 and no logit can overflow);
//! - [`proxy_anchor_gradient`], one unit per entry: `dL/ds_ic` from the column's log-sum-exps,
//!   written over `S`.
//!
//! The reference rows (class proxies) are divided by their norms through `col_scale` (`1/|r_c|`,
//! or 1), read by both launches, so `S` is never normalized in a pass of its own.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::ops::FloatTensorOps;
use burn_cubecl::cubecl;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::lse::RunningLse;
use super::{Cube, dims, empty, from_values, grid, rows, unused};
use crate::fused::{PairKernel, PairOptions};

/// Per class `c` (one unit each): `pos_lse[c] = log(1 + sum e^{a})` over its positive logits,
/// `neg_lse[c]` the same over its negative logits, `pos_weight[c] = sum e^{a} / (1 + sum e^{a})`
/// over the positives (`dL/dm_c` up to its factor), and `has_pos[c]` 1 when the batch holds the
/// class (0 otherwise).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn proxy_anchor_columns<F: Float, I: Numeric>(
    sim: &Tensor<F>,
    labels: &Tensor<I>,
    col_scale: &Tensor<F>,
    margins: &Tensor<F>,
    pos_lse: &mut Tensor<F>,
    neg_lse: &mut Tensor<F>,
    pos_weight: &mut Tensor<F>,
    has_pos: &mut Tensor<F>,
    rows: usize,
    cols: usize,
    alpha_pos: f32,
    alpha_neg: f32,
    neg_margin: f32,
    #[comptime] per_class_margin: bool,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let c = ABSOLUTE_POS;
    if c >= cols {
        terminate!();
    }
    let scale = col_scale[c];
    let mut margin = margins[0];
    if per_class_margin {
        margin = margins[c];
    }
    let alpha_pos = F::cast_from(alpha_pos);
    let alpha_neg = F::cast_from(alpha_neg);
    let neg_margin = F::cast_from(neg_margin);
    let zero = F::new(0.0);
    // The `1 +` kept apart from the sums, so that a small sum is not rounded away.
    let mut pos = RunningLse::<F>::with_one();
    let mut neg = RunningLse::<F>::with_one();
    let mut present = zero;
    for i in 0..rows {
        let s = sim[i * cols + c] * scale;
        if usize::cast_from(labels[i]) == c {
            pos.push(alpha_pos * (margin - s));
            present = F::new(1.0);
        } else {
            neg.push(alpha_neg * (s + neg_margin));
        }
    }
    pos_lse[c] = pos.lse_with_one();
    pos_weight[c] = pos.share_with_one();
    neg_lse[c] = neg.lse_with_one();
    has_pos[c] = present;
}

/// `dL/ds_ic` for every entry (one unit each), written over `sim` and multiplied by
/// `col_scale[c]` (the chain rule through `s_ic = x_i . r_c / |r_c|`):
/// `-alpha_pos e^{a - pos_lse[c]} / |P+|` at the row's own class,
/// `alpha_neg e^{a - neg_lse[c]} / C` elsewhere, with `inv_with_pos[0] = 1 / |P+|`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn proxy_anchor_gradient<F: Float, I: Numeric>(
    sim: &mut Tensor<F>,
    labels: &Tensor<I>,
    col_scale: &Tensor<F>,
    margins: &Tensor<F>,
    pos_lse: &Tensor<F>,
    neg_lse: &Tensor<F>,
    inv_with_pos: &Tensor<F>,
    cols: usize,
    total: usize,
    alpha_pos: f32,
    alpha_neg: f32,
    neg_margin: f32,
    inv_classes: f32,
    #[comptime] per_class_margin: bool,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let at = ABSOLUTE_POS;
    if at >= total {
        terminate!();
    }
    let i = at / cols;
    let c = at % cols;
    let scale = col_scale[c];
    let s = sim[at] * scale;
    let y = usize::cast_from(labels[i]);
    let alpha_pos = F::cast_from(alpha_pos);
    let alpha_neg = F::cast_from(alpha_neg);
    let g = if y == c {
        let mut margin = margins[0];
        if per_class_margin {
            margin = margins[c];
        }
        let a = alpha_pos * (margin - s);
        -alpha_pos * (a - pos_lse[c]).exp() * inv_with_pos[0]
    } else {
        let a = alpha_neg * (s + F::cast_from(neg_margin));
        alpha_neg * (a - neg_lse[c]).exp() * F::cast_from(inv_classes)
    };
    sim[at] = g * scale;
}

/// What the forward pass leaves for the gradients.
pub(super) struct Forward {
    /// The loss, `[1]`.
    pub loss: CubeTensor,
    /// `dL/dm`: `[C]` with per-class margins, `[1]` otherwise.
    pub margin_grad: CubeTensor,
    /// `dL/dS`, already divided by the reference norms, when gradients were asked for.
    pub g: Option<CubeTensor>,
    /// The radial factor of each reference row, when the kernel normalized them.
    pub radial: Option<CubeTensor>,
}

/// ProxyAnchor's forward pass (and `dL/dS` when `with_grads`).
pub(super) fn forward(
    x: &CubeTensor,
    r: &CubeTensor,
    labels: CubeTensor,
    kernel: &PairKernel,
    options: &PairOptions,
    with_grads: bool,
) -> Forward {
    let PairKernel::ProxyAnchor { alpha_pos, alpha_neg, pos_margin, neg_margin, class_margins } =
        kernel
    else {
        unreachable!("the CubeCL kernels are only called for the kernels `supports` names")
    };
    let (rows, _) = dims(x);
    let (classes, _) = dims(r);
    let device = x.device.clone();
    let (col_scale, radial) = if options.normalize_reference {
        let (inverse, radial) = rows::inverse_norms(r);
        (inverse, Some(radial))
    } else {
        (from_values(vec![1.0; classes], &device), None)
    };
    let per_class_margin = class_margins.is_some();
    let margins = from_values(class_margins.clone().unwrap_or_else(|| vec![*pos_margin]), &device);
    let labels = into_contiguous(labels);
    let int_type = dtype_to_storage_type(labels.dtype);
    let float_type = dtype_to_storage_type(x.dtype);
    let types: [ElemType; 2] = [float_type, int_type];
    let sim = into_contiguous(Cube::float_matmul(x.clone(), Cube::float_transpose(r.clone())));

    let (pos_lse, neg_lse) = (empty(x, [classes]), empty(x, [classes]));
    let (pos_weight, has_pos) = (empty(x, [classes]), empty(x, [classes]));
    let (cube_dim, cube_count) = grid(x, classes);
    proxy_anchor_columns::launch(
        &x.client,
        cube_count,
        cube_dim,
        sim.clone().into_tensor_arg(),
        labels.clone().into_tensor_arg(),
        col_scale.clone().into_tensor_arg(),
        margins.clone().into_tensor_arg(),
        pos_lse.clone().into_tensor_arg(),
        neg_lse.clone().into_tensor_arg(),
        pos_weight.clone().into_tensor_arg(),
        has_pos.clone().into_tensor_arg(),
        rows,
        classes,
        *alpha_pos,
        *alpha_neg,
        *neg_margin,
        per_class_margin,
        types,
    );
    // 1 / |P+| (the classes present, at least one) and the loss.
    let inv_with_pos =
        Cube::float_recip(Cube::float_clamp_min(Cube::float_sum(has_pos), 1.0f32.into()));
    let loss = Cube::float_add(
        Cube::float_mul(Cube::float_sum(pos_lse.clone()), inv_with_pos.clone()),
        Cube::float_mul_scalar(Cube::float_sum(neg_lse.clone()), (1.0 / classes as f32).into()),
    );
    // dL/dm_c = alpha_pos sum_{y_i = c} e^{a_i - pos_lse[c]} / |P+| (0 for a class not in
    // the batch).
    let margin_grad = Cube::float_mul(
        Cube::float_mul_scalar(pos_weight, (*alpha_pos).into()),
        inv_with_pos.clone(),
    );
    let margin_grad = if per_class_margin { margin_grad } else { Cube::float_sum(margin_grad) };
    let g = with_grads.then(|| {
        let total = rows * classes;
        let (cube_dim, cube_count) = grid(x, total);
        proxy_anchor_gradient::launch(
            &x.client,
            cube_count,
            cube_dim,
            sim.clone().into_tensor_arg(),
            labels.clone().into_tensor_arg(),
            col_scale.clone().into_tensor_arg(),
            margins.clone().into_tensor_arg(),
            pos_lse.clone().into_tensor_arg(),
            neg_lse.clone().into_tensor_arg(),
            inv_with_pos.clone().into_tensor_arg(),
            classes,
            total,
            *alpha_pos,
            *alpha_neg,
            *neg_margin,
            1.0 / classes as f32,
            per_class_margin,
            types,
        );
        sim
    });
    Forward { loss, margin_grad, g, radial }
}

/// `dX = G R` and `dR = G^T X` from ProxyAnchor's `G` (already divided by the proxy norms), the
/// normalization's radial part removed from `dR` when the kernel normalized the proxies.
pub(super) fn grads(
    x: &CubeTensor,
    r: &CubeTensor,
    g: Option<CubeTensor>,
    radial: Option<CubeTensor>,
    options: &PairOptions,
) -> (CubeTensor, CubeTensor) {
    let Some(g) = g else {
        return (unused(x), unused(x));
    };
    let dx = if options.grad_x { Cube::float_matmul(g.clone(), r.clone()) } else { unused(x) };
    let dr = if options.grad_r {
        let dr = into_contiguous(Cube::float_matmul(Cube::float_transpose(g), x.clone()));
        if let Some(radial) = radial {
            rows::remove_radial(&dr, r, radial);
        }
        dr
    } else {
        unused(x)
    };
    (dx, dr)
}
