use burn::tensor::Tensor;

/// What one entry of a [`LossTerm`] stands for (PML's `reduction_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermKind {
    /// One value per embedding or per class.
    Element,
    /// One value per positive pair.
    PosPair,
    /// One value per negative pair.
    NegPair,
    /// One value per triplet.
    Triplet,
    /// A single value that the loss has already reduced itself; reducers pass it through.
    AlreadyReduced,
}

/// The unreduced values of one sub-loss, on a grid with per-entry multiplicities.
///
/// `values` and `weights` have the same length. `weights[i]` is how many times entry `i` is
/// selected (0 = not selected; pairs mined twice count twice, as in PML's index lists), so a
/// reducer computes masked sums and clamped counts and never reads anything back from the
/// device. Values at unselected entries are finite but otherwise meaningless.
///
/// A loss may emit several terms with the same `name` (for example one per block of anchors);
/// reducers treat them as one list.
#[derive(Clone, Debug)]
pub struct LossTerm {
    /// Sub-loss name (`"loss"`, `"pos_loss"`, `"neg_loss"`, ...), as in PML.
    pub name: &'static str,
    /// What each entry is.
    pub kind: TermKind,
    /// The per-entry loss values.
    ///
    /// # Shapes
    /// - `[k]`
    pub values: Tensor<1>,
    /// Per-entry multiplicities (0 for entries that are not selected).
    ///
    /// # Shapes
    /// - `[k]`
    pub weights: Tensor<1>,
}

impl LossTerm {
    /// A term whose entries are all selected once.
    pub fn dense(name: &'static str, kind: TermKind, values: Tensor<1>) -> Self {
        let weights = values.ones_like();
        Self { name, kind, values, weights }
    }

    /// A term from a grid of values and a grid of multiplicities of any rank, flattened.
    pub fn masked<const D: usize>(
        name: &'static str,
        kind: TermKind,
        values: Tensor<D>,
        weights: Tensor<D>,
    ) -> Self {
        Self { name, kind, values: values.flatten(0, D - 1), weights: weights.flatten(0, D - 1) }
    }

    /// A single already-reduced value.
    ///
    /// # Shapes
    /// - `value`: `[1]`
    pub fn reduced(name: &'static str, value: Tensor<1>) -> Self {
        Self::dense(name, TermKind::AlreadyReduced, value)
    }
}
