//! Fused loss kernels (Burn 0.22's backend extension): the similarity matrix, the masks, the
//! log-sum-exps and the reduction of a loss in one pass over the matrix, with a handwritten
//! backward pass, for ProxyAnchor, MultiSimilarity, Contrastive, NTXent, SupCon and
//! BatchHardMiner.
//!
//! The losses call these through [`pair_loss`] and [`hardest_per_anchor`] and fall back to
//! their composed implementation (the reference the kernels are tested against) wherever the
//! kernels do not apply: a reducer other than Mean, Sum and AvgNonZero ([`FusedReduction::of`]
//! is `None` for ClassWeighted, PerAnchor, Multiple, Threshold, Divisor and None), a distance
//! other than the cosine or the L2 (`p = 2`) distance the kernels compute
//! ([`crate::Distance::is_cosine`], [`crate::Distance::is_normalized_l2`]), mined input. The
//! kernels exist for Burn's `flex` CPU backend (`host/`) and for CubeCL's runtimes (wgpu,
//! Vulkan, CUDA) in a build with one of those features (`cube/`). `DML_FUSED=0` or
//! [`without_fused`] switches them off.

mod api;
mod autodiff;
mod backend;
#[cfg(feature = "cube")]
mod cube;
pub(crate) mod exp;
mod flex;
mod host;
mod kernel;
mod switch;

pub use api::{
    available, device_has_fused_kernels, hardest_per_anchor, pair_loss, pair_loss_with_margins,
};
pub use backend::{FusedLossBackend, PairOptions};
pub use kernel::{FusedReduction, HardestKind, PairKernel};
pub use switch::{fused_calls, fused_enabled, without_fused};
