//! [`FusedLossBackend`] on Burn's CubeCL backend (wgpu, Vulkan, CUDA): the backend's own matrix
//! products (CubeCL's matmul) around CubeCL kernels that reduce the similarity matrix to the loss
//! and replace it by `dL/dS`, with no readback to the host.
//!
//! Each loss takes two launches over its matrix: one unit per class (ProxyAnchor) or per anchor
//! (the pair losses) walks its column and keeps running log-sum-exps, sums and counts; then one
//! unit per entry writes `dL/dS` over the matrix. The pair losses read the transposed matrix
//! `R X^T`, so the units of neighbouring anchors read neighbouring addresses. Reductions across
//! classes or anchors (the loss, PML's pair gate, the reducer's divisor) are Burn operations on
//! the device. [`supports`] says which kernels exist here; the others (AMLoss's proxy term and
//! BatchHardMiner's choice) keep their composed implementation on these devices.

mod anchors;
mod contrastive;
mod hardest;
mod lse;
mod multi_similarity;
mod ntxent;
mod proxy_anchor;
mod proxy_spread;
mod rows;
mod supcon;

use burn::backend::TensorMetadata;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::tensor::{DType, Shape, TensorData};
use burn_cubecl::cubecl::{CubeCount, CubeDim, calculate_cube_count_elemwise};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeBackend, CubeDevice};

use super::backend::{FusedLossBackend, PairOptions};
use super::{HardestKind, PairKernel};

/// True when the CubeCL implementation has `kernel` (on a reference set, or on the batch itself
/// with `same_set`): every pair kernel, ProxyAnchor's against the proxies and AMLoss's proxy
/// term on the proxies themselves.
pub(crate) fn supports(kernel: &PairKernel, same_set: bool) -> bool {
    match kernel {
        PairKernel::ProxyAnchor { .. } => !same_set,
        PairKernel::ProxySpread { .. } => same_set,
        PairKernel::MultiSimilarity { .. }
        | PairKernel::SupCon { .. }
        | PairKernel::NTXent { .. }
        | PairKernel::Contrastive { .. } => true,
    }
}

/// The backend this module implements the extension for (Burn's `Cube` without fusion, as dml
/// builds it).
type Cube = CubeBackend;

/// An uninitialized float tensor of `shape` on `like`'s device.
fn empty(like: &CubeTensor, shape: impl Into<Shape>) -> CubeTensor {
    empty_device_dtype(like.client.clone(), like.device.clone(), shape.into(), like.dtype)
}

/// A float32 vector on `device`.
fn from_values(values: Vec<f32>, device: &CubeDevice) -> CubeTensor {
    let len = values.len();
    Cube::float_from_data(TensorData::new(values, [len]), device)
}

/// The two dimensions of a matrix.
fn dims(t: &CubeTensor) -> (usize, usize) {
    let shape = t.shape();
    (shape[0], shape[1])
}

/// One unit per element: the cube shape and count for `units` units.
fn grid(t: &CubeTensor, units: usize) -> (CubeDim, CubeCount) {
    let dim = CubeDim::new(&t.client, units.max(1));
    (dim, calculate_cube_count_elemwise(&t.client, units.max(1), dim))
}

/// The `[1, 1]` zero returned for a gradient nobody asked for.
fn unused(like: &CubeTensor) -> CubeTensor {
    Cube::float_from_data(TensorData::new(vec![0f32], [1, 1]), &like.device)
}

/// The inputs as the kernels read them: contiguous, row-major, float32.
fn prepare(x: CubeTensor, r: CubeTensor) -> (CubeTensor, CubeTensor) {
    debug_assert_eq!(x.dtype, DType::F32);
    (into_contiguous(x), into_contiguous(r))
}

impl FusedLossBackend for CubeBackend {
    fn fused_pair_loss(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        options: PairOptions,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (x, r) = prepare(x, r);
        if matches!(kernel, PairKernel::ProxyAnchor { .. }) {
            let out = proxy_anchor::forward(&x, &r, labels, &kernel, &options, false);
            return (out.loss, out.margin_grad);
        }
        let out = anchors::forward(&x, &r, labels, ref_labels, &kernel, options.same_set, false);
        let margin_grad = out.margin_grad.unwrap_or_else(|| from_values(vec![0.0], &x.device));
        (out.loss, margin_grad)
    }

    fn fused_pair_loss_with_grads(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        options: PairOptions,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (x, r) = prepare(x, r);
        let wants = options.grad_x || options.grad_r;
        if matches!(kernel, PairKernel::ProxyAnchor { .. }) {
            let out = proxy_anchor::forward(&x, &r, labels, &kernel, &options, wants);
            let (dx, dr) = proxy_anchor::grads(&x, &r, out.g, out.radial, &options);
            return (out.loss, out.margin_grad, dx, dr);
        }
        let out = anchors::forward(&x, &r, labels, ref_labels, &kernel, options.same_set, wants);
        let margin_grad = out.margin_grad.unwrap_or_else(|| from_values(vec![0.0], &x.device));
        let (dx, dr) = anchors::grads(&x, &r, out.grad_t, &options);
        (out.loss, margin_grad, dx, dr)
    }

    fn fused_hardest_per_anchor(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kind: HardestKind,
        same_set: bool,
    ) -> (IntTensor<Self>, IntTensor<Self>, FloatTensor<Self>) {
        hardest::hardest_per_anchor(x, r, labels, ref_labels, kind, same_set)
    }
}
