//! Numerically safe tensor helpers shared by the losses.
//!
//! Everything here is written with tensor operations only (no host synchronisation), so it runs
//! unchanged on every Burn device.

use burn::tensor::{Bool, Device, Int, Tensor};

/// Smallest norm used when normalizing rows, as in PyTorch's `F.normalize` (`eps = 1e-12`).
pub const NORMALIZE_EPS: f64 = 1e-12;

/// Large negative fill used to mask out entries of a log-sum-exp (finite, so `0 * fill` stays 0).
pub const MASKED_LOGIT: f64 = -1e30;

/// Divides each row by its L2 norm, clamped below by [`NORMALIZE_EPS`].
///
/// The clamp is applied to the squared norm (`sqrt(max(|x|^2, eps^2))`, the same value), so an
/// all-zero row gets a finite gradient (`1 / eps`, as `F.normalize`) instead of `0 * inf = NaN`.
///
/// # Shapes
/// - `x`: `[n, d]` -> `[n, d]`
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).clamp_min(NORMALIZE_EPS * NORMALIZE_EPS).sqrt();
    x / norm
}

/// Square root whose value at 0 is 0 and whose gradient at 0 is 0 (not infinite).
///
/// Entries below `1e-16` are treated as exact zeros, which is also what `torch.cdist` does for
/// its gradient at coincident points.
pub fn safe_sqrt(x: Tensor<2>) -> Tensor<2> {
    let positive = x.clone().greater_elem(1e-16);
    let root = x.clamp_min(1e-16).sqrt();
    root.mask_fill(positive.bool_not(), 0.0)
}

/// `log(sum_j exp(x_ij))` over dimension 1 for the entries where `keep` is true, optionally with
/// an extra `exp(0)` term (`add_one`, giving `log(1 + sum exp)`).
///
/// Rows with no kept entry give 0, and their gradient is 0, as in PML's `lmu.logsumexp`.
///
/// # Shapes
/// - `x`, `keep`: `[n, m]` -> `[n, 1]`
pub fn masked_logsumexp(x: Tensor<2>, keep: Tensor<2, Bool>, add_one: bool) -> Tensor<2> {
    masked_logsumexp_dim(x, keep, add_one, 1)
}

/// [`masked_logsumexp`] over dimension `dim` (0: one value per column, 1: one per row), so a
/// column-wise reduction needs no transposed copy.
///
/// # Shapes
/// - `x`, `keep`: `[n, m]` -> `[1, m]` (`dim = 0`) or `[n, 1]` (`dim = 1`)
pub fn masked_logsumexp_dim(
    x: Tensor<2>,
    keep: Tensor<2, Bool>,
    add_one: bool,
    dim: usize,
) -> Tensor<2> {
    let any = keep.clone().float().sum_dim(dim).greater_elem(0.0);
    masked_logsumexp_parts(x, keep.bool_not(), any, add_one, dim)
}

/// [`masked_logsumexp_dim`] for a caller that already has the mask of dropped entries and
/// which slices keep anything (`any`), so neither is recomputed over the whole matrix.
///
/// # Shapes
/// - `x`, `drop`: `[n, m]`; `any`: `[1, m]` (`dim = 0`) or `[n, 1]` (`dim = 1`) -> as `any`
pub fn masked_logsumexp_parts(
    x: Tensor<2>,
    drop: Tensor<2, Bool>,
    any: Tensor<2, Bool>,
    add_one: bool,
    dim: usize,
) -> Tensor<2> {
    let x = x.mask_fill(drop, MASKED_LOGIT);
    let max = x.clone().max_dim(dim).detach();
    let max = if add_one { max.clamp_min(0.0) } else { max };
    let mut sum = (x - max.clone()).exp().sum_dim(dim);
    if add_one {
        sum = sum + max.clone().neg().exp();
    }
    let out = sum.log() + max;
    out.mask_fill(any.bool_not(), 0.0)
}

/// `log(sum_j exp(x_ij))` over dimension 1 (no mask), stabilised by the detached row maximum.
///
/// # Shapes
/// - `x`: `[n, m]` -> `[n, 1]`
pub fn logsumexp(x: Tensor<2>) -> Tensor<2> {
    let max = x.clone().max_dim(1).detach();
    (x - max.clone()).exp().sum_dim(1).log() + max
}

/// `log(1 + exp(x))` computed without overflow, with gradient `sigmoid(x)` everywhere (also at
/// `x = 0`, where the subgradients of `max(x, 0)` and `|x|` would otherwise give 0 or 1).
pub fn softplus<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    // max(x, 0) + log1p(exp(-|x|)), with both pieces written as selections so that x = 0 takes
    // the log1p(exp(x)) branch entirely.
    let positive = x.clone().greater_elem(0.0);
    let neg_abs = x.clone().mask_where(positive.clone(), x.clone().neg());
    x.mask_fill(positive.bool_not(), 0.0) + neg_abs.exp().log1p()
}

/// `max(x, 0)`.
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clamp_min(0.0)
}

/// Boolean matrix `labels[i] == ref_labels[j]`.
///
/// # Shapes
/// - `labels`: `[n]`, `ref_labels`: `[m]` -> `[n, m]`
pub fn same_label(labels: &Tensor<1, Int>, ref_labels: &Tensor<1, Int>) -> Tensor<2, Bool> {
    let n = labels.dims()[0];
    let m = ref_labels.dims()[0];
    let a = labels.clone().reshape([n, 1]).expand([n, m]);
    let b = ref_labels.clone().reshape([1, m]).expand([n, m]);
    a.equal(b)
}

/// Boolean matrix that is true off the diagonal of an `[n, m]` grid.
pub fn off_diagonal(n: usize, m: usize, device: &Device) -> Tensor<2, Bool> {
    Tensor::<2, Bool>::diag_mask([n, m], 0, device)
}

/// One-hot float matrix of `labels` over `num_classes` columns, built by comparison with a range
/// (no host read of the labels).
///
/// # Shapes
/// - `labels`: `[n]` -> `[n, num_classes]`
pub fn one_hot(labels: &Tensor<1, Int>, num_classes: usize) -> Tensor<2, Bool> {
    let device = labels.device();
    let classes = Tensor::<1, Int>::arange(0..num_classes as i64, &device);
    same_label(labels, &classes)
}

/// Converts a boolean tensor to 0.0 / 1.0.
pub fn to_float<const D: usize>(mask: Tensor<D, Bool>) -> Tensor<D> {
    mask.float()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex().autodiff()
    }

    #[test]
    fn masked_logsumexp_matches_the_direct_formula_and_ignores_masked_entries() {
        let device = device();
        let x = Tensor::<2>::from_floats([[1.0, 2.0, 1000.0], [-3.0, 0.5, 0.0]], &device);
        let keep = Tensor::<2, Bool>::from_bool(
            burn::tensor::TensorData::from([[true, true, false], [false, false, false]]),
            &device,
        );
        let out = masked_logsumexp(x.clone(), keep.clone(), true)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let expected = (1.0f32 + 1f32.exp() + 2f32.exp()).ln();
        assert!((out[0] - expected).abs() < 1e-5, "{out:?}");
        assert_eq!(out[1], 0.0);
        let plain = masked_logsumexp(x, keep, false).into_data().try_to_vec::<f32>().unwrap();
        assert!((plain[0] - (1f32.exp() + 2f32.exp()).ln()).abs() < 1e-5);
    }

    #[test]
    fn masked_logsumexp_over_columns_equals_rows_of_the_transpose_with_gradients() {
        let device = device();
        let x = Tensor::<2>::from_floats([[1.0, -2.0, 40.0], [3.0, 0.5, -1.0]], &device);
        let keep = Tensor::<2, Bool>::from_bool(
            burn::tensor::TensorData::from([[true, false, true], [true, false, false]]),
            &device,
        );
        let (a, b) = (x.clone().require_grad(), x.require_grad());
        let by_col = masked_logsumexp_dim(a.clone(), keep.clone(), true, 0); // [1, 3]
        let by_row = masked_logsumexp(b.clone().transpose(), keep.transpose(), true); // [3, 1]
        assert_eq!(by_col.dims(), [1, 3]);
        let (cv, rv) = (by_col.clone().into_data(), by_row.clone().into_data());
        let cv = cv.try_to_vec::<f32>().unwrap();
        assert_eq!(cv, rv.try_to_vec::<f32>().unwrap());
        assert_eq!(cv[1], 0.0, "a column with nothing kept gives 0");
        let ga = a.grad(&by_col.sum().backward()).unwrap().into_data().try_to_vec::<f32>();
        let gb = b.grad(&by_row.sum().backward()).unwrap().into_data().try_to_vec::<f32>();
        assert_eq!(ga.unwrap(), gb.unwrap());
    }

    #[test]
    fn logsumexp_and_softplus_do_not_overflow() {
        let device = device();
        let x =
            Tensor::<2>::from_floats([[1000.0, 1000.0], [-1000.0, 0.0]], &device).require_grad();
        let lse = logsumexp(x.clone());
        let v = lse.clone().into_data().try_to_vec::<f32>().unwrap();
        assert!((v[0] - (1000.0 + 2f32.ln())).abs() < 1e-3);
        let sp = softplus(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(sp[0], 1000.0);
        assert!(sp[2].abs() < 1e-6);
        let grads = (lse.sum() + softplus(x.clone()).sum()).backward();
        let g = x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn same_label_and_one_hot() {
        let device = Device::flex();
        let a = Tensor::<1, Int>::from_ints([0, 1, 0], &device);
        let m = same_label(&a, &a).float().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(m, vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        let oh = one_hot(&a, 3).float().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(oh, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
        let off = off_diagonal(2, 2, &device).float().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(off, vec![0.0, 1.0, 1.0, 0.0]);
    }
}
