//! The fused kernels as a Burn backend extension: one trait, implemented for the `flex` CPU
//! backend (the host kernels) and for the autodiff decorator (a handwritten backward pass).

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, backend_extension};

use super::{HardestKind, PairKernel};

/// How a fused pair loss is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairOptions {
    /// The reference is the batch itself (`R` is `X`): nobody is paired with itself, and the
    /// gradient of `X` gathers both roles.
    pub same_set: bool,
    /// `R` is given as it is (class proxies): the kernel divides each similarity by the norm of
    /// its reference row, `max(|r_j|, 1e-12)`, and differentiates that division too. Otherwise
    /// `R` is already L2-normalized.
    pub normalize_reference: bool,
    /// Compute the gradient of `X`.
    pub grad_x: bool,
    /// Compute the gradient of `R` (ignored in the same set, where it is part of `X`'s).
    pub grad_r: bool,
}

/// Fused metric-learning kernels (Burn 0.22's backend extension).
///
/// The similarity matrix `S = X R^T` comes from the backend's own matrix product; the kernel
/// reduces it to the loss and, in the same passes, replaces it by `dL/dS`, from which two more
/// matrix products give the gradients of `X` and `R` (one, of `X`, in the same set). Those are
/// computed with the loss, so the backward pass only scales them by the incoming gradient.
///
/// Called through [`super::pair_loss`] and [`super::hardest_per_anchor`], which check that the
/// device has an implementation; calling it on another backend panics (Burn's dispatch).
#[backend_extension(Flex, Cube: cfg(feature = "cube"), Autodiff)]
pub trait FusedLossBackend: Backend {
    /// The loss of `kernel` on `X` (L2-normalized rows) against `R`, and the gradient of the
    /// loss with respect to the kernel's per-class margins (a graph constant; `[1]` zero for a
    /// kernel without margins).
    ///
    /// # Shapes
    /// - `x`: `[n, d]`, `r`: `[m, d]`, `labels`: `[n]`, `ref_labels`: `[m]` -> `[1]`, `[C]`
    fn fused_pair_loss(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        options: PairOptions,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The loss, its margins' gradient and its gradients with respect to `X` and `R` (a
    /// `[1, 1]` zero where `options` asks for none; in the same set `R`'s is part of `X`'s).
    ///
    /// # Shapes
    /// - as [`FusedLossBackend::fused_pair_loss`] -> `[1]`, `[C]`, `[n, d]`, `[m, d]`
    fn fused_pair_loss_with_grads(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        options: PairOptions,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// BatchHardMiner's choice: per row of `X`, the index of the farthest positive and of the
    /// closest negative in `R` by `kind`, and 1 where both exist (0 and index 0 otherwise).
    ///
    /// # Shapes
    /// - `x`: `[n, d]`, `r`: `[m, d]`, `labels`: `[n]`, `ref_labels`: `[m]` -> `[n]`, `[n]`, `[n]`
    fn fused_hardest_per_anchor(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kind: HardestKind,
        same_set: bool,
    ) -> (IntTensor<Self>, IntTensor<Self>, FloatTensor<Self>);
}
