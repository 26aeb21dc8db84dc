//! AMLoss's proxy term as CubeCL kernels, the same formula as the host kernel
//! (`host/proxy_spread.rs`): `weight / C * sum_c log(1 + sum_{k != c} e^{s_ck - m_c + delta})` on
//! the normalized proxies' own similarities (the same set, so `T = S`), and `dL/dm_c`.

use burn::backend::ops::FloatTensorOps;
use burn_cubecl::cubecl;
use cubecl::prelude::*;

use super::anchors::{AnchorForward, AnchorInput, total};
use super::lse::RunningLse;
use super::{Cube, from_values, grid};

/// The proxy term's forward pass (and `dL/dS^T` when `with_grads`), with `dL/dm` (`[C]`).
pub(super) fn forward(
    input: &AnchorInput,
    class_margins: &[f32],
    (delta, weight): (f32, f32),
    with_grads: bool,
) -> AnchorForward {
    let AnchorInput { x, sim_t, types, rows, .. } = input;
    let classes = *rows;
    let per_class = weight / classes.max(1) as f32;
    let margins = from_values(class_margins.to_vec(), &x.device);
    let (lse, weight_sum) = (input.per_anchor(), input.per_anchor());
    let (cube_dim, cube_count) = grid(x, classes);
    proxy_spread_classes::launch(
        &x.client,
        cube_count,
        cube_dim,
        sim_t.clone().into_tensor_arg(),
        margins.clone().into_tensor_arg(),
        lse.clone().into_tensor_arg(),
        weight_sum.clone().into_tensor_arg(),
        classes,
        delta,
        types[0],
    );
    let loss = Cube::float_mul_scalar(total(lse.clone()), per_class.into());
    // dL/dm_c = -(weight / C) sum_{k != c} e_ck / Z_c.
    let margin_grad = Cube::float_mul_scalar(weight_sum, (-per_class).into());
    let grad_t = with_grads.then(|| {
        let entries = classes * classes;
        let (cube_dim, cube_count) = grid(x, entries);
        proxy_spread_gradient::launch(
            &x.client,
            cube_count,
            cube_dim,
            sim_t.clone().into_tensor_arg(),
            margins.into_tensor_arg(),
            lse.into_tensor_arg(),
            classes,
            entries,
            delta,
            per_class,
            types[0],
        );
        sim_t.clone()
    });
    AnchorForward { loss, grad_t, margin_grad: Some(margin_grad) }
}

/// Per class `c` (one unit each): `lse[c] = log(1 + sum_{k != c} e^{a_ck})` with
/// `a_ck = s_ck - m_c + delta`, and `weight_sum[c] = sum_{k != c} e^{a_ck} / (1 + sum ...)`. The
/// sum of the terms is kept apart from the `1 +` so that a small sum is not rounded away.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn proxy_spread_classes<F: Float>(
    sim_t: &Tensor<F>,
    margins: &Tensor<F>,
    lse: &mut Tensor<F>,
    weight_sum: &mut Tensor<F>,
    classes: usize,
    delta: f32,
    #[define(F)] _dtype: ElemType,
) {
    let c = ABSOLUTE_POS;
    if c >= classes {
        terminate!();
    }
    let offset = F::cast_from(delta) - margins[c];
    let mut sum = RunningLse::<F>::with_one();
    for k in 0..classes {
        if k != c {
            sum.push(sim_t[k * classes + c] + offset);
        }
    }
    lse[c] = sum.lse_with_one();
    weight_sum[c] = sum.share_with_one();
}

/// `dL/ds_ck` for every entry (one unit each), written over `T`:
/// `(weight / C) e^{a_ck - lse[c]}` off the diagonal, 0 on it.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn proxy_spread_gradient<F: Float>(
    sim_t: &mut Tensor<F>,
    margins: &Tensor<F>,
    lse: &Tensor<F>,
    classes: usize,
    total: usize,
    delta: f32,
    per_class: f32,
    #[define(F)] _dtype: ElemType,
) {
    let at = ABSOLUTE_POS;
    if at >= total {
        terminate!();
    }
    // T is S^T: entry (k, c) holds s_ck.
    let k = at / classes;
    let c = at % classes;
    let mut g = F::new(0.0);
    if k != c {
        let a = sim_t[at] + F::cast_from(delta) - margins[c];
        g = F::cast_from(per_class) * (a - lse[c]).exp();
    }
    sim_t[at] = g;
}
