//! The fused kernels on Burn tensors, for the losses and miners: each function returns `None`
//! when the kernels do not apply (another backend, a dtype they do not handle, or switched off),
//! and the caller then runs its composed implementation.

use burn::backend::Dispatch;
use burn::tensor::{DType, Device, Int, Tensor};

use super::backend::{FusedLossBackend, PairOptions};
use super::switch::count_call;
use super::{HardestKind, PairKernel, fused_enabled};

/// Which implementation of the fused kernels a device runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Implementation {
    /// Burn's `flex` CPU backend: every kernel (the host kernels).
    Host,
    /// A CubeCL runtime (wgpu, Vulkan, CUDA) in a build with one of those features: the same
    /// kernels, written in CubeCL (`cube/`).
    #[cfg(feature = "cube")]
    Cube,
}

fn implementation(device: &Device) -> Option<Implementation> {
    let device = device.clone().without_autodiff();
    if device == Device::flex() {
        return Some(Implementation::Host);
    }
    #[cfg(feature = "cube")]
    if matches!(device.as_dispatch(), burn::backend::DispatchDevice::Cube(_)) {
        return Some(Implementation::Cube);
    }
    None
}

/// True when `device` has every fused kernel: Burn's `flex` CPU backend, with or without
/// autodiff, and a CubeCL device (wgpu, Vulkan, CUDA) in a build with those features; libtorch
/// runs the composed implementations.
pub fn device_has_fused_kernels(device: &Device) -> bool {
    implementation(device).is_some()
}

/// True when the fused kernels can take these embeddings: switched on, float32, on a device
/// that has them ([`device_has_fused_kernels`]). A loss checks this before preparing its inputs
/// for a kernel.
pub fn available(embeddings: &Tensor<2>) -> bool {
    fused_enabled()
        && embeddings.dtype() == DType::F32
        && device_has_fused_kernels(&embeddings.device())
}

/// Whether the kernels can read these labels (32- or 64-bit integers).
fn integer_labels(labels: &[&Tensor<1, Int>]) -> bool {
    labels.iter().all(|l| matches!(l.dtype(), DType::I32 | DType::I64))
}

/// True when `kernel` (on a reference set, or on the batch itself with `same_set`) runs on the
/// embeddings' device: [`available`], and on CubeCL the shape the kernel is written for.
fn runs(embeddings: &Tensor<2>, kernel: &PairKernel, same_set: bool) -> bool {
    available(embeddings)
        && match implementation(&embeddings.device()) {
            #[cfg(feature = "cube")]
            Some(Implementation::Cube) => super::cube::supports(kernel, same_set),
            _ => {
                let _ = (kernel, same_set);
                true
            }
        }
}

/// The loss `kernel` computes on L2-normalized `embeddings` against `reference` (`None`: the
/// batch itself, nobody paired with itself), or `None` when the fused kernels do not apply. The
/// reference rows are L2-normalized, or, with `normalize_reference` (class proxies), divided by
/// their norms inside the kernel, which is cheaper than normalizing a large proxy matrix first.
///
/// # Shapes
/// - `embeddings`: `[n, d]`, `labels`: `[n]`, `reference`: `[m, d]`, `ref_labels`: `[m]` -> `[1]`
pub fn pair_loss(
    embeddings: Tensor<2>,
    labels: &Tensor<1, Int>,
    reference: Option<(Tensor<2>, Tensor<1, Int>)>,
    normalize_reference: bool,
    kernel: PairKernel,
) -> Option<Tensor<1>> {
    pair_loss_with_margins(embeddings, labels, reference, normalize_reference, kernel)
        .map(|(loss, _)| loss)
}

/// [`pair_loss`] for the kernels with learnable per-class margins (AMLoss): also returns the
/// gradient of the loss with respect to the margins (a graph constant, `[C]`), for the caller to
/// attach to the margins parameter.
///
/// # Shapes
/// - as [`pair_loss`] -> `[1]`, `[C]`
pub fn pair_loss_with_margins(
    embeddings: Tensor<2>,
    labels: &Tensor<1, Int>,
    reference: Option<(Tensor<2>, Tensor<1, Int>)>,
    normalize_reference: bool,
    kernel: PairKernel,
) -> Option<(Tensor<1>, Tensor<1>)> {
    let ref_labels = reference.as_ref().map(|(_, l)| l);
    let same_set = reference.is_none();
    if !runs(&embeddings, &kernel, same_set)
        || !integer_labels(&[labels, ref_labels.unwrap_or(labels)])
    {
        return None;
    }
    count_call();
    let (r, ref_labels) = reference.unwrap_or_else(|| (embeddings.clone(), labels.clone()));
    // Which gradients are needed is decided by the autodiff implementation from its inputs.
    let options = PairOptions {
        same_set,
        normalize_reference: normalize_reference && !same_set,
        grad_x: false,
        grad_r: false,
    };
    let (loss, margin_grad) = <Dispatch as FusedLossBackend>::fused_pair_loss(
        embeddings.into_dispatch(),
        r.into_dispatch(),
        labels.clone().into_dispatch(),
        ref_labels.into_dispatch(),
        kernel,
        options,
    );
    Some((Tensor::from_dispatch(loss), Tensor::from_dispatch(margin_grad)))
}

/// BatchHardMiner's choice through the fused kernel (see
/// [`FusedLossBackend::fused_hardest_per_anchor`]), or `None` when it does not apply.
///
/// # Shapes
/// - `embeddings`: `[n, d]`, `labels`: `[n]`, `reference`: `[m, d]`, `ref_labels`: `[m]` ->
///   `[n]`, `[n]`, `[n]`
pub fn hardest_per_anchor(
    embeddings: Tensor<2>,
    labels: &Tensor<1, Int>,
    reference: Tensor<2>,
    ref_labels: &Tensor<1, Int>,
    kind: HardestKind,
    same_set: bool,
) -> Option<(Tensor<1, Int>, Tensor<1, Int>, Tensor<1>)> {
    if !available(&embeddings) || !integer_labels(&[labels, ref_labels]) {
        return None;
    }
    count_call();
    let (positive, negative, valid) = <Dispatch as FusedLossBackend>::fused_hardest_per_anchor(
        embeddings.into_dispatch(),
        reference.into_dispatch(),
        labels.clone().into_dispatch(),
        ref_labels.clone().into_dispatch(),
        kind,
        same_set,
    );
    Some((
        Tensor::from_dispatch(positive),
        Tensor::from_dispatch(negative),
        Tensor::from_dispatch(valid),
    ))
}
