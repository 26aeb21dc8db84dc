//! The fused kernels on the host (Burn's `flex` CPU backend): plain Rust over the similarity
//! matrix, parallel over rows with rayon, inner loops written so the compiler vectorizes them.

mod contrastive;
mod hardest;
mod lanes;
mod multi_similarity;
mod ntxent;
mod pair_matrix;
mod proxy_anchor;
mod rows;
mod supcon;

pub(crate) use hardest::hardest_per_anchor;
pub(crate) use pair_matrix::{KernelOutput, PairMatrix};
pub(crate) use rows::{inverse_norms, remove_radial, scale, scale_columns, symmetrize};

use super::PairKernel;

/// Runs `kernel` on `matrix`: on return `matrix.values` holds the loss's gradient with respect to
/// each similarity, to be multiplied by the returned `scale`.
pub(crate) fn run(kernel: &PairKernel, matrix: &mut PairMatrix<'_>) -> KernelOutput {
    match *kernel {
        PairKernel::ProxyAnchor { alpha, margin } => {
            proxy_anchor::proxy_anchor(matrix, alpha, margin)
        }
        PairKernel::MultiSimilarity { alpha, beta, base, reduction } => {
            multi_similarity::multi_similarity(matrix, alpha, beta, base, reduction)
        }
        PairKernel::Contrastive { pos_margin, neg_margin, reduction } => {
            contrastive::contrastive(matrix, pos_margin, neg_margin, reduction)
        }
        PairKernel::NTXent { temperature, reduction } => {
            ntxent::ntxent(matrix, temperature, reduction)
        }
        PairKernel::SupCon { temperature, reduction } => {
            supcon::supcon(matrix, temperature, reduction)
        }
    }
}
