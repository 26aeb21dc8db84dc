//! BatchHardMiner's choice as a CubeCL kernel, the same rule as the host kernel
//! (`host/hardest.rs`): per anchor, the positive that is farthest and the negative that is
//! closest, ranked by the distance values the composed miner computes (the same matrix product
//! `X R^T`, then the same element-wise formula), ties going to the first index.

use burn::backend::TensorMetadata;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::Shape;
use burn_cubecl::cubecl;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::{Cube, dims, empty, grid};
use crate::fused::HardestKind;

/// `|v_i|^2` for each row of a matrix, `[rows]`, as the composed distance computes it.
pub(super) fn squared_norms(v: &CubeTensor) -> CubeTensor {
    let rows = v.shape()[0];
    let sums = Cube::float_sum_dim(Cube::float_mul(v.clone(), v.clone()), 1);
    Cube::float_reshape(sums, Shape::new([rows]))
}

/// Per row of `x`: the index of the hardest positive and of the hardest negative in `r` (in the
/// labels' integer type), and 1 where both exist (index 0 and 0 otherwise).
pub(super) fn hardest_per_anchor(
    x: CubeTensor,
    r: CubeTensor,
    labels: CubeTensor,
    ref_labels: CubeTensor,
    kind: HardestKind,
    same_set: bool,
) -> (CubeTensor, CubeTensor, CubeTensor) {
    let (x, r) = (into_contiguous(x), into_contiguous(r));
    let (labels, ref_labels) = (into_contiguous(labels), into_contiguous(ref_labels));
    let (rows, cols) = (dims(&x).0, dims(&r).0);
    let (row_sq, col_sq) = (squared_norms(&x), squared_norms(&r));
    let sim = into_contiguous(Cube::float_matmul(x.clone(), Cube::float_transpose(r)));
    let index =
        || empty_device_dtype(x.client.clone(), x.device.clone(), Shape::new([rows]), labels.dtype);
    let (positive, negative, valid) = (index(), index(), empty(&x, [rows]));
    let (cube_dim, cube_count) = grid(&x, rows);
    hardest_kernel::launch(
        &x.client,
        cube_count,
        cube_dim,
        sim.into_tensor_arg(),
        labels.clone().into_tensor_arg(),
        ref_labels.clone().into_tensor_arg(),
        row_sq.into_tensor_arg(),
        col_sq.into_tensor_arg(),
        positive.clone().into_tensor_arg(),
        negative.clone().into_tensor_arg(),
        valid.clone().into_tensor_arg(),
        rows,
        cols,
        kind == HardestKind::Similarity,
        kind == HardestKind::L2,
        same_set,
        [
            dtype_to_storage_type(x.dtype),
            dtype_to_storage_type(labels.dtype),
            dtype_to_storage_type(ref_labels.dtype),
        ],
    );
    (positive, negative, valid)
}

/// One unit per anchor `i`, walking row `i` of `S = X R^T` (`[n, m]`): farness is `-s` for a
/// similarity, else the clamped squared distance `|x|^2 + |r|^2 - 2 s`, and with `root` its
/// square root (0 at and just above 0).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn hardest_kernel<F: Float, I: Numeric, J: Numeric>(
    sim: &Tensor<F>,
    row_labels: &Tensor<I>,
    col_labels: &Tensor<J>,
    row_sq: &Tensor<F>,
    col_sq: &Tensor<F>,
    positive: &mut Tensor<I>,
    negative: &mut Tensor<I>,
    valid: &mut Tensor<F>,
    rows: usize,
    cols: usize,
    #[comptime] similarity: bool,
    #[comptime] root: bool,
    #[comptime] same_set: bool,
    #[define(F, I, J)] _dtypes: [ElemType; 3],
) {
    let i = ABSOLUTE_POS;
    if i >= rows {
        terminate!();
    }
    let label = usize::cast_from(row_labels[i]);
    let zero = F::new(0.0);
    let mut far = zero;
    let mut near = zero;
    let mut far_at = 0usize;
    let mut near_at = 0usize;
    let mut has_pos = false;
    let mut has_neg = false;
    for j in 0..cols {
        let s = sim[i * cols + j];
        let mut d = -s;
        if !similarity {
            d = (row_sq[i] + col_sq[j]) - F::new(2.0) * s;
            if d < zero {
                d = zero;
            }
            if root {
                if d > F::new(1.0e-16) {
                    d = d.sqrt();
                } else {
                    d = zero;
                }
            }
        }
        let same = usize::cast_from(col_labels[j]) == label;
        let mut itself = false;
        if same_set {
            itself = j == i;
        }
        if same {
            if !itself && (!has_pos || d > far) {
                far = d;
                far_at = j;
                has_pos = true;
            }
        } else if !has_neg || d < near {
            near = d;
            near_at = j;
            has_neg = true;
        }
    }
    positive[i] = I::cast_from(far_at);
    negative[i] = I::cast_from(near_at);
    valid[i] = select(has_pos && has_neg, F::new(1.0), zero);
}
