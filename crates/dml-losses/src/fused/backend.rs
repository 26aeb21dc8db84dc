//! The fused kernels as a Burn backend extension: one trait, implemented for the `flex` CPU
//! backend (the host kernels) and for the autodiff decorator (a handwritten backward pass).

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, backend_extension};

use super::{HardestKind, PairKernel};

/// Fused metric-learning kernels (Burn 0.22's backend extension).
///
/// The similarity matrix `S = X R^T` comes from the backend's own matrix product; the kernel
/// reduces it to the loss and, in the same passes, replaces it by `dL/dS`, so the backward
/// pass is two more matrix products (`dX = dS R`, `dR = dS^T X`) and nothing else.
///
/// Called through [`super::pair_loss`] and [`super::hardest_per_anchor`], which check that the
/// device has an implementation; calling it on another backend panics (Burn's dispatch).
#[backend_extension(Flex, Autodiff)]
pub trait FusedLossBackend: Backend {
    /// The loss of `kernel` on `X` against `R` (`same_set`: `R` is `X`, nobody is paired with
    /// itself).
    ///
    /// # Shapes
    /// - `x`: `[n, d]`, `r`: `[m, d]` (both L2-normalized), `labels`: `[n]`,
    ///   `ref_labels`: `[m]` -> `[1]`
    fn fused_pair_loss(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        same_set: bool,
    ) -> FloatTensor<Self>;

    /// The loss, `dL/dS` up to a factor, and that factor: what the backward pass keeps.
    ///
    /// # Shapes
    /// - as [`FusedLossBackend::fused_pair_loss`] -> `[1]`, `[n, m]`, `[1]`
    fn fused_pair_loss_parts(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        same_set: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

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
