//! How query and reference embeddings are compared.

/// The comparison used by the neighbour search.
///
/// Both are computed from one matrix product per block: cosine as the dot product of
/// L2-normalised rows, L2 as `|q|^2 + |r|^2 - 2 q.r`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KnnDistance {
    /// Cosine similarity `q^ . r^` (rows are L2-normalised first); larger is closer. PML's
    /// `CosineSimilarity`, and what Proxy-Anchor evaluates with.
    #[default]
    Cosine,
    /// Euclidean distance `|q - r|` on the embeddings as given (not normalised); smaller is
    /// closer. PML's `LpDistance(normalize_embeddings=False)`.
    L2,
}

impl KnnDistance {
    /// True when a larger score means closer (cosine), false for distances (L2).
    pub fn higher_is_closer(&self) -> bool {
        matches!(self, Self::Cosine)
    }
}
