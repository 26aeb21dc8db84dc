use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::{Mined, Miner, Triplets, all_pairs};
use crate::distance::{Distance, EXACT_DIFFERENCE_LIMIT};
use crate::error::LossResult;
use crate::fused::{self, HardestKind};

/// Fill value that no real distance or similarity reaches.
const FAR: f64 = 1e30;

/// Configuration of [`BatchHardMiner`]; defaults are PML's `BatchHardMiner()`.
#[derive(Config, Debug)]
pub struct BatchHardMinerConfig {
    /// How embeddings are compared.
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
}

/// For each anchor, the farthest positive and the nearest negative (Hermans et al. 2017).
///
/// Anchors without a positive or without a negative get no triplet.
#[derive(Module, Debug)]
pub struct BatchHardMiner {
    #[module(skip)]
    distance: Distance,
}

impl BatchHardMinerConfig {
    /// Builds the miner.
    pub fn init(&self) -> BatchHardMiner {
        BatchHardMiner { distance: self.distance }
    }
}

impl Miner for BatchHardMiner {
    fn name(&self) -> &'static str {
        "BatchHardMiner"
    }

    fn mine_against(
        &self,
        embeddings: Tensor<2>,
        labels: &Tensor<1, Int>,
        ref_embeddings: Tensor<2>,
        ref_labels: &Tensor<1, Int>,
        same_set: bool,
    ) -> LossResult<Mined> {
        if let Some((positive, negative, valid)) =
            self.fused(&embeddings, labels, &ref_embeddings, ref_labels, same_set)
        {
            return Ok(Mined::Triplets(Triplets::PerAnchor { positive, negative, valid }));
        }
        let mat = self.distance.matrix(embeddings, ref_embeddings);
        let (pos, neg) = all_pairs(labels, ref_labels, same_set);
        let (positive, negative, valid) = hardest_per_anchor(&self.distance, mat, &pos, &neg);
        Ok(Mined::Triplets(Triplets::PerAnchor { positive, negative, valid }))
    }
}

impl BatchHardMiner {
    /// The fused kernel's choice, where it applies: a cosine or (squared) L2 distance of
    /// normalized embeddings on a device that has the kernels; for L2, batches large enough that
    /// the composed path also ranks distances computed from a matrix product.
    fn fused(
        &self,
        embeddings: &Tensor<2>,
        labels: &Tensor<1, Int>,
        reference: &Tensor<2>,
        ref_labels: &Tensor<1, Int>,
        same_set: bool,
    ) -> Option<(Tensor<1, Int>, Tensor<1, Int>, Tensor<1>)> {
        let [n, d] = embeddings.dims();
        let large = n * reference.dims()[0] * d > EXACT_DIFFERENCE_LIMIT;
        let kind = if self.distance.is_cosine() {
            HardestKind::Similarity
        } else if large && self.distance.is_normalized_l2(1.0) {
            HardestKind::L2
        } else if large && self.distance.is_normalized_l2(2.0) {
            HardestKind::SquaredL2
        } else {
            return None;
        };
        if !fused::available(embeddings) {
            return None;
        }
        let x = self.distance.maybe_normalize(embeddings.clone());
        let r = if same_set { x.clone() } else { self.distance.maybe_normalize(reference.clone()) };
        fused::hardest_per_anchor(x, labels, r, ref_labels, kind, same_set)
    }
}

/// Per anchor: index of the hardest positive (largest distance), of the hardest negative
/// (smallest distance), and 1.0 when both exist.
///
/// # Shapes
/// - `mat`, `pos`, `neg`: `[n, m]` -> `([n], [n], [n])`
pub fn hardest_per_anchor(
    distance: &Distance,
    mat: Tensor<2>,
    pos: &Tensor<2>,
    neg: &Tensor<2>,
) -> (Tensor<1, Int>, Tensor<1, Int>, Tensor<1>) {
    let n = mat.dims()[0];
    // Work with a "distance-like" matrix: larger is farther.
    let d = distance.farness(mat);
    let not_pos = pos.clone().lower_equal_elem(0.0);
    let not_neg = neg.clone().lower_equal_elem(0.0);
    let positive = d.clone().mask_fill(not_pos, -FAR).argmax(1).reshape([n]);
    let negative = d.mask_fill(not_neg, FAR).argmin(1).reshape([n]);
    let has_pos = pos.clone().sum_dim(1).greater_elem(0.0).float();
    let has_neg = neg.clone().sum_dim(1).greater_elem(0.0).float();
    let valid = (has_pos * has_neg).reshape([n]);
    (positive, negative, valid)
}
