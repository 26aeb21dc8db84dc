//! What a fused pair kernel computes: the loss, its parameters and its reduction.

/// How a fused kernel reduces its per-entry values: the reducers of [`crate::Reducer`] that the
/// kernels implement (the others run the composed path).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FusedReduction {
    /// [`crate::Reducer::Mean`].
    Mean,
    /// [`crate::Reducer::Sum`].
    Sum,
    /// [`crate::Reducer::AvgNonZero`].
    AvgNonZero,
}

impl FusedReduction {
    /// The fused equivalent of `reducer`, if there is one.
    pub fn of(reducer: &crate::Reducer) -> Option<Self> {
        match reducer {
            crate::Reducer::Mean => Some(Self::Mean),
            crate::Reducer::Sum => Some(Self::Sum),
            crate::Reducer::AvgNonZero => Some(Self::AvgNonZero),
            _ => None,
        }
    }

    /// The divisor of a sum over `selected` entries of which `nonzero` are positive.
    pub(crate) fn divisor(&self, selected: f64, nonzero: f64) -> f64 {
        match self {
            Self::Mean => selected.max(1.0),
            Self::Sum => 1.0,
            Self::AvgNonZero => nonzero.max(1.0),
        }
    }
}

/// One loss computed by the fused pair kernel from the similarity matrix `S = X R^T` of
/// L2-normalized embeddings `X` (`[n, d]`) and references `R` (`[m, d]`: the batch itself, a
/// reference set, or class proxies), with the same value and gradient as the composed
/// implementation of that loss (see each loss's documentation for the formula).
#[derive(Clone, Debug, PartialEq)]
pub enum PairKernel {
    /// [`crate::ProxyAnchorLoss`] with cosine similarity and its default (divisor) reduction,
    /// and the embedding-to-proxy part of [`crate::AMLoss`]: for each class `c`,
    /// `log(1 + sum_{y_i = c} e^{alpha_pos (m_c - s_ic)})` over the classes present plus
    /// `log(1 + sum_{y_i != c} e^{alpha_neg (s_ic + neg_margin)})` over all classes. The
    /// reference rows are the class proxies and a row's label is its proxy's index. The kernel
    /// also returns `dL/dm_c`.
    ProxyAnchor {
        /// Scale of the positive logits (ProxyAnchor's `alpha`).
        alpha_pos: f32,
        /// Scale of the negative logits (ProxyAnchor's `alpha`).
        alpha_neg: f32,
        /// Margin `m_c` of every class's positives (ProxyAnchor's `delta`), unless
        /// `class_margins` gives one per class (AMLoss).
        pos_margin: f32,
        /// Margin of the negatives (ProxyAnchor's `delta`).
        neg_margin: f32,
        /// Per-class positive margins (`[C]`), replacing `pos_margin`.
        class_margins: Option<Vec<f32>>,
    },
    /// The proxy term of [`crate::AMLoss`] on the proxies' own similarity matrix (the same
    /// set): `weight / C * sum_c log(1 + sum_{k != c} e^{s_ck - m_c + delta})`. The kernel also
    /// returns `dL/dm_c`.
    ProxySpread {
        /// The margins `m_c` (`[C]`).
        class_margins: Vec<f32>,
        /// `delta`, added to every logit.
        delta: f32,
        /// The term's weight (`lambda`).
        weight: f32,
    },
    /// [`crate::MultiSimilarityLoss`] with cosine similarity.
    MultiSimilarity {
        /// Positive scale `alpha`.
        alpha: f32,
        /// Negative scale `beta`.
        beta: f32,
        /// Similarity offset `base`.
        base: f32,
        /// Reduction of the per-anchor values.
        reduction: FusedReduction,
    },
    /// [`crate::ContrastiveLoss`] with the L2 distance of normalized embeddings (power 1).
    Contrastive {
        /// Positive margin.
        pos_margin: f32,
        /// Negative margin.
        neg_margin: f32,
        /// Reduction of each sub-loss's per-pair values.
        reduction: FusedReduction,
    },
    /// [`crate::NTXentLoss`] with cosine similarity.
    NTXent {
        /// Temperature.
        temperature: f32,
        /// Reduction of the per-positive-pair values.
        reduction: FusedReduction,
    },
    /// [`crate::SupConLoss`] with cosine similarity.
    SupCon {
        /// Temperature.
        temperature: f32,
        /// Reduction of the per-anchor values.
        reduction: FusedReduction,
    },
}

impl PairKernel {
    /// True when the kernel needs the squared norms of the rows (an L2 distance).
    pub(crate) fn needs_norms(&self) -> bool {
        matches!(self, Self::Contrastive { .. })
    }
}

/// Which distance the fused hardest-pair miner ranks by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HardestKind {
    /// L2 distance `safe_sqrt(|x|^2 + |r|^2 - 2 x.r)` (larger is farther).
    L2,
    /// Squared L2 distance `|x|^2 + |r|^2 - 2 x.r`, clamped at 0.
    SquaredL2,
    /// A similarity `x.r` (larger is closer).
    Similarity,
}
