use burn::tensor::{Int, Tensor};

use crate::ops::same_label;

/// What a miner selected from a batch, kept on the device as masks so that no index list has
/// to be read back to the host.
///
/// Rows index the query embeddings (`n`), columns the reference embeddings (`m`, the batch
/// itself unless a memory or other reference set is used). Every entry holds a multiplicity:
/// PML's index tuples may name a pair twice (a pair taken from two triplets), and a pair loss
/// counts it twice, so the same happens here.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Mined {
    /// Anchor-positive and anchor-negative pairs (PML's 4-tuple `a1, p, a2, n`).
    Pairs {
        /// Multiplicity of each anchor-positive pair.
        ///
        /// # Shapes
        /// - `[n, m]`
        positive: Tensor<2>,
        /// Multiplicity of each anchor-negative pair.
        ///
        /// # Shapes
        /// - `[n, m]`
        negative: Tensor<2>,
    },
    /// Triplets (PML's 3-tuple `a, p, n`).
    Triplets(Triplets),
}

/// A set of triplets, in whichever form is cheapest for the miner that made it.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Triplets {
    /// Multiplicity of each `(anchor, positive, negative)` triplet.
    ///
    /// # Shapes
    /// - `[n, m, m]`
    Dense(Tensor<3>),
    /// At most one triplet per anchor (batch-hard style): anchor `i` uses reference
    /// `positive[i]` and `negative[i]` when `valid[i]` is 1.
    PerAnchor {
        /// Positive index per anchor, into the reference set.
        ///
        /// # Shapes
        /// - `[n]`
        positive: Tensor<1, Int>,
        /// Negative index per anchor, into the reference set.
        ///
        /// # Shapes
        /// - `[n]`
        negative: Tensor<1, Int>,
        /// 1.0 where the anchor has a triplet, 0.0 where it has none.
        ///
        /// # Shapes
        /// - `[n]`
        valid: Tensor<1>,
    },
}

impl Triplets {
    /// Number of reference embeddings `m` is needed to expand per-anchor indices into pairs.
    ///
    /// Returns `(positive, negative)` pair multiplicities of shape `[n, m]`, as PML's
    /// `convert_to_pairs` turns `(a, p, n)` into `(a, p, a, n)`.
    pub fn to_pairs(&self, m: usize) -> (Tensor<2>, Tensor<2>) {
        match self {
            Self::Dense(mask) => {
                let [n, _, _] = mask.dims();
                let pos = mask.clone().sum_dim(2).reshape([n, m]);
                let neg = mask.clone().sum_dim(1).reshape([n, m]);
                (pos, neg)
            }
            Self::PerAnchor { positive, negative, valid } => {
                let n = valid.dims()[0];
                let v = valid.clone().reshape([n, 1]);
                let pos = crate::ops::one_hot(positive, m).float() * v.clone();
                let neg = crate::ops::one_hot(negative, m).float() * v;
                (pos, neg)
            }
        }
    }
}

impl Mined {
    /// Anchor-positive and anchor-negative multiplicities, whatever was mined.
    ///
    /// # Shapes
    /// - returns `([n, m], [n, m])`
    pub fn to_pairs(&self, m: usize) -> (Tensor<2>, Tensor<2>) {
        match self {
            Self::Pairs { positive, negative } => (positive.clone(), negative.clone()),
            Self::Triplets(t) => t.to_pairs(m),
        }
    }

    /// Mined pairs or triplets as triplets, as PML's `convert_to_triplets`: pairs `(a, p)` and
    /// `(a, n)` that share an anchor form the triplet `(a, p, n)`.
    pub fn to_triplets(&self) -> Triplets {
        match self {
            Self::Triplets(t) => t.clone(),
            Self::Pairs { positive, negative } => Triplets::Dense(pair_product(positive, negative)),
        }
    }
}

/// `out[a, p, n] = pos[a, p] * neg[a, n]`.
pub(crate) fn pair_product(pos: &Tensor<2>, neg: &Tensor<2>) -> Tensor<3> {
    let [n, m] = pos.dims();
    pos.clone().reshape([n, m, 1]).expand([n, m, m])
        * neg.clone().reshape([n, 1, m]).expand([n, m, m])
}

/// All anchor-positive and anchor-negative pairs given by the labels (PML's
/// `get_all_pairs_indices`): positives share the label, excluding an embedding with itself
/// when the reference set is the batch; negatives have a different label.
///
/// # Shapes
/// - `labels`: `[n]`, `ref_labels`: `[m]` -> `([n, m], [n, m])`
pub fn all_pairs(
    labels: &Tensor<1, Int>,
    ref_labels: &Tensor<1, Int>,
    same_set: bool,
) -> (Tensor<2>, Tensor<2>) {
    let same = same_label(labels, ref_labels);
    let neg = same.clone().bool_not().float();
    let mut pos = same.float();
    if same_set {
        let [n, m] = pos.dims();
        pos = pos.mask_fill(crate::ops::off_diagonal(n, m, &labels.device()).bool_not(), 0.0);
    }
    (pos, neg)
}
