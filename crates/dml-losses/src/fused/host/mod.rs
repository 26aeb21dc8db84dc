//! The fused kernels on the host (Burn's `flex` CPU backend): plain Rust over the similarity
//! matrix, parallel over rows with rayon, inner loops written so the compiler vectorizes them.

mod contrastive;
mod hardest;
mod lanes;
mod multi_similarity;
mod ntxent;
mod pair_matrix;
mod proxy_anchor;
mod proxy_spread;
mod rows;
mod supcon;

pub(crate) use hardest::hardest_per_anchor;
pub(crate) use pair_matrix::{KernelOutput, PairMatrix};
pub(crate) use rows::{
    inverse_norms, remove_radial, scale, scale_columns, squared_norms, symmetrized,
};

use super::PairKernel;

/// Runs `kernel` on `matrix`: on return `matrix.values` holds the loss's gradient with respect to
/// each similarity, to be multiplied by the returned `scale`.
pub(crate) fn run(kernel: &PairKernel, matrix: &mut PairMatrix<'_>) -> KernelOutput {
    match *kernel {
        PairKernel::ProxyAnchor {
            alpha_pos,
            alpha_neg,
            pos_margin,
            neg_margin,
            ref class_margins,
        } => {
            let one = [pos_margin];
            let logits = proxy_anchor::ProxyLogits {
                alpha_pos,
                alpha_neg,
                pos_margins: class_margins.as_deref().unwrap_or(&one),
                neg_margin,
            };
            proxy_anchor::proxy_anchor(matrix, &logits)
        }
        PairKernel::ProxySpread { ref class_margins, delta, weight } => {
            proxy_spread::proxy_spread(matrix, class_margins, delta, weight)
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
