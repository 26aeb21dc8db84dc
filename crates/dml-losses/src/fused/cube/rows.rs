//! Row kernels around the fused losses on CubeCL: the reference rows' inverse norms, and the
//! backward pass of their normalization.

use burn::backend::cubecl::dtype_to_storage_type;
use burn_cubecl::cubecl;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::{dims, empty, grid};
use crate::ops::NORMALIZE_EPS;

/// `1 / max(|r_j|, 1e-12)` and the radial factor of each row of `r` (`[m, d]`), as
/// [`inverse_norms_kernel`] computes them: two `[m]` tensors.
pub(super) fn inverse_norms(r: &CubeTensor) -> (CubeTensor, CubeTensor) {
    let (m, d) = dims(r);
    let (inverse, radial) = (empty(r, [m]), empty(r, [m]));
    let (cube_dim, cube_count) = grid(r, m);
    inverse_norms_kernel::launch(
        &r.client,
        cube_count,
        cube_dim,
        r.clone().into_tensor_arg(),
        inverse.clone().into_tensor_arg(),
        radial.clone().into_tensor_arg(),
        m,
        d,
        NORMALIZE_EPS as f32,
        dtype_to_storage_type(r.dtype),
    );
    (inverse, radial)
}

/// [`remove_radial_kernel`] on `a` (`[m, d]`, contiguous), in place.
pub(super) fn remove_radial(a: &CubeTensor, r: &CubeTensor, radial: CubeTensor) {
    let (m, d) = dims(r);
    let (cube_dim, cube_count) = grid(r, m);
    remove_radial_kernel::launch(
        &r.client,
        cube_count,
        cube_dim,
        a.clone().into_tensor_arg(),
        r.clone().into_tensor_arg(),
        radial.into_tensor_arg(),
        m,
        d,
        dtype_to_storage_type(r.dtype),
    );
}

/// For each row `j` of `r` (`[m, d]`, one unit each): `inverse[j] = 1 / max(|r_j|, eps)` and
/// `radial[j] = inverse[j]^2`, or 0 where the norm was clamped at `eps` (the normalization is
/// then a constant scale, with no radial part to remove).
#[cube(launch)]
fn inverse_norms_kernel<F: Float>(
    r: &Tensor<F>,
    inverse: &mut Tensor<F>,
    radial: &mut Tensor<F>,
    rows: usize,
    d: usize,
    eps: f32,
    #[define(F)] _dtype: ElemType,
) {
    let j = ABSOLUTE_POS;
    if j >= rows {
        terminate!();
    }
    let mut sq = F::new(0.0);
    for k in 0..d {
        let v = r[j * d + k];
        sq += v * v;
    }
    let floor = F::cast_from(eps * eps);
    if sq < floor {
        inverse[j] = F::new(1.0) / floor.sqrt();
        radial[j] = F::new(0.0);
    } else {
        let inv = F::new(1.0) / sq.sqrt();
        inverse[j] = inv;
        radial[j] = inv * inv;
    }
}

/// The backward pass of `r^_j = r_j / |r_j|` on a gradient `a_j` (`[m, d]`) of the product with
/// the scaled rows, in place: `a_j - (a_j . r_j) radial[j] r_j` (one unit per row).
#[cube(launch)]
fn remove_radial_kernel<F: Float>(
    a: &mut Tensor<F>,
    r: &Tensor<F>,
    radial: &Tensor<F>,
    rows: usize,
    d: usize,
    #[define(F)] _dtype: ElemType,
) {
    let j = ABSOLUTE_POS;
    if j >= rows {
        terminate!();
    }
    let mut dot = F::new(0.0);
    for k in 0..d {
        dot += a[j * d + k] * r[j * d + k];
    }
    let factor = dot * radial[j];
    for k in 0..d {
        a[j * d + k] -= factor * r[j * d + k];
    }
}
