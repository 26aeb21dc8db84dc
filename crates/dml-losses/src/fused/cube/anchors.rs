//! What the per-anchor losses on CubeCL share (MultiSimilarity, SupCon, NTXent, Contrastive):
//! their input (the transposed similarity matrix and both label vectors), their output (the loss
//! and the transposed `dL/dS`), the reductions across anchors done with Burn operations on the
//! device (PML's pair gate, the reducer's divisor), and the gradients of `X` and `R`.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::ops::FloatTensorOps;
use burn_cubecl::cubecl::prelude::ElemType;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;

use super::{
    Cube, contrastive, dims, empty, from_values, multi_similarity, ntxent, proxy_spread, supcon,
    unused,
};
use crate::fused::{FusedReduction, PairKernel, PairOptions};

/// A per-anchor kernel's input.
pub(super) struct AnchorInput {
    /// The embeddings `X`, `[n, d]`.
    pub x: CubeTensor,
    /// The reference `R`, `[m, d]` (`X` itself in the same set).
    pub r: CubeTensor,
    /// `T = R X^T`, `[m, n]`: column `i` holds anchor `i`'s similarities.
    pub sim_t: CubeTensor,
    /// The anchors' labels, `[n]`.
    pub labels: CubeTensor,
    /// The reference's labels, `[m]`.
    pub ref_labels: CubeTensor,
    /// The element types the kernels are compiled for: float, label, reference label.
    pub types: [ElemType; 3],
    /// `n`.
    pub rows: usize,
    /// `m`.
    pub cols: usize,
    /// The reference is the batch itself: an anchor is never paired with itself.
    pub same_set: bool,
}

impl AnchorInput {
    /// A `[n]` float tensor for a per-anchor output.
    pub fn per_anchor(&self) -> CubeTensor {
        empty(&self.x, [self.rows])
    }
}

/// A per-anchor loss's forward pass: its value (`[1]`), and `dL/dS` transposed (`[m, n]`, the
/// reducer's factor applied) when gradients were asked for.
pub(super) struct AnchorForward {
    /// The loss.
    pub loss: CubeTensor,
    /// `dL/dS^T`, written over `T`.
    pub grad_t: Option<CubeTensor>,
    /// `dL/dm` of a kernel with per-class margins (AMLoss's proxy term).
    pub margin_grad: Option<CubeTensor>,
}

/// The forward pass of a per-anchor `kernel` (every kernel [`super::supports`] names but
/// ProxyAnchor's; AMLoss's proxy term counts each class as an anchor).
pub(super) fn forward(
    x: &CubeTensor,
    r: &CubeTensor,
    labels: CubeTensor,
    ref_labels: CubeTensor,
    kernel: &PairKernel,
    same_set: bool,
    with_grads: bool,
) -> AnchorForward {
    let (labels, ref_labels) = (into_contiguous(labels), into_contiguous(ref_labels));
    let types = [
        dtype_to_storage_type(x.dtype),
        dtype_to_storage_type(labels.dtype),
        dtype_to_storage_type(ref_labels.dtype),
    ];
    let input = AnchorInput {
        x: x.clone(),
        r: r.clone(),
        sim_t: into_contiguous(Cube::float_matmul(r.clone(), Cube::float_transpose(x.clone()))),
        labels,
        ref_labels,
        types,
        rows: dims(x).0,
        cols: dims(r).0,
        same_set,
    };
    match *kernel {
        PairKernel::MultiSimilarity { alpha, beta, base, reduction } => {
            multi_similarity::forward(&input, (alpha, beta, base), reduction, with_grads)
        }
        PairKernel::SupCon { temperature, reduction } => {
            supcon::forward(&input, temperature, reduction, with_grads)
        }
        PairKernel::NTXent { temperature, reduction } => {
            ntxent::forward(&input, temperature, reduction, with_grads)
        }
        PairKernel::Contrastive { pos_margin, neg_margin, reduction } => {
            contrastive::forward(&input, (pos_margin, neg_margin), reduction, with_grads)
        }
        PairKernel::ProxySpread { ref class_margins, delta, weight } => {
            proxy_spread::forward(&input, class_margins, (delta, weight), with_grads)
        }
        PairKernel::ProxyAnchor { .. } => {
            unreachable!("ProxyAnchor has its own forward pass (proxy_anchor.rs)")
        }
    }
}

/// The sum of a tensor's entries, `[1]`.
pub(super) fn total(t: CubeTensor) -> CubeTensor {
    Cube::float_sum(t)
}

/// The divisor of a sum over `selected` entries (a `[1]` count) of which `nonzero` (a `[1]`
/// count) are positive, at least 1.
pub(super) fn divisor(
    reduction: FusedReduction,
    selected: CubeTensor,
    nonzero: CubeTensor,
) -> CubeTensor {
    match reduction {
        FusedReduction::Mean => Cube::float_clamp_min(selected, 1.0f32.into()),
        FusedReduction::Sum => from_values(vec![1.0], &selected.device),
        FusedReduction::AvgNonZero => Cube::float_clamp_min(nonzero, 1.0f32.into()),
    }
}

/// `min(count, 1)` of a `[1]` count: 1 when there is at least one.
pub(super) fn any(count: CubeTensor) -> CubeTensor {
    Cube::float_clamp_max(count, 1.0f32.into())
}

/// PML's pair gate as a `[1]` factor: 0 when the batch has at most one positive pair and at most
/// one negative pair (the pair losses are then 0), 1 otherwise; from the `[1]` pair counts.
pub(super) fn pair_gate(positive_pairs: CubeTensor, negative_pairs: CubeTensor) -> CubeTensor {
    // Counts are whole numbers: max(count - 1, 0) is at least 1 exactly when count > 1.
    let excess = |count: CubeTensor| {
        Cube::float_clamp_min(Cube::float_add_scalar(count, (-1.0f32).into()), 0.0f32.into())
    };
    any(Cube::float_add(excess(positive_pairs), excess(negative_pairs)))
}

/// The gradients of `X` and `R` from `dL/dS^T` (`[m, n]`): `dX = G R`, `dR = G^T X`, and in the
/// same set `dX = (G + G^T) X`; `[1, 1]` zeros where none was asked for.
pub(super) fn grads(
    x: &CubeTensor,
    r: &CubeTensor,
    grad_t: Option<CubeTensor>,
    options: &PairOptions,
) -> (CubeTensor, CubeTensor) {
    let Some(grad_t) = grad_t else {
        return (unused(x), unused(x));
    };
    if options.same_set {
        let dx = if options.grad_x || options.grad_r {
            let g = Cube::float_add(Cube::float_transpose(grad_t.clone()), grad_t);
            Cube::float_matmul(g, x.clone())
        } else {
            unused(x)
        };
        return (dx, unused(x));
    }
    let dx = if options.grad_x {
        Cube::float_matmul(Cube::float_transpose(grad_t.clone()), r.clone())
    } else {
        unused(x)
    };
    let dr = if options.grad_r { Cube::float_matmul(grad_t, x.clone()) } else { unused(x) };
    (dx, dr)
}
