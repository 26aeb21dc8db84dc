use burn::tensor::{Int, Tensor};

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

/// Which embedding (the anchor) or class each entry of a [`LossTerm`] belongs to: what PML's
/// `ClassWeightedReducer` and `PerAnchorReducer` read from a loss's index tuples.
///
/// The constructors of [`LossTerm`] set it from the shape they are given (the first axis of a
/// grid is the anchor); a loss only says otherwise for blocks of anchors
/// ([`LossTerm::from_anchor`]), per-class terms ([`LossTerm::per_class`]) and anchors chosen
/// by index ([`LossTerm::with_anchor_indices`]).
#[derive(Clone, Debug)]
pub enum Anchors {
    /// Entry `k` belongs to embedding `start + k / per_anchor`: the rows of a grid whose first
    /// axis is the anchor (`per_anchor = 1` for one value per embedding, `m` for an `[n, m]`
    /// pair grid, `m * m` for an `[n, m, m]` triplet grid).
    Rows {
        /// The embedding of the grid's first row.
        start: usize,
        /// Entries per anchor (the product of the grid's other axes).
        per_anchor: usize,
    },
    /// Entry `k` belongs to embedding `indices[k]`.
    ///
    /// # Shapes
    /// - `[k]`
    Indices(Box<Tensor<1, Int>>),
    /// Entry `k` belongs to class `k` (one value per class or proxy, as ProxyAnchorLoss's).
    Classes,
    /// No anchor: an already reduced value.
    None,
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
    /// The anchor (or class) of each entry.
    pub anchors: Anchors,
}

impl LossTerm {
    /// A term whose entries are all selected once, entry `i` belonging to embedding `i`.
    pub fn dense(name: &'static str, kind: TermKind, values: Tensor<1>) -> Self {
        let weights = values.ones_like();
        let anchors = Anchors::Rows { start: 0, per_anchor: 1 };
        Self { name, kind, values, weights, anchors }
    }

    /// A term from a grid of values and a grid of multiplicities of any rank, flattened; the
    /// grid's first axis is the anchor (row `i` belongs to embedding `i`).
    pub fn masked<const D: usize>(
        name: &'static str,
        kind: TermKind,
        values: Tensor<D>,
        weights: Tensor<D>,
    ) -> Self {
        let dims = values.dims();
        let per_anchor = dims.iter().skip(1).product::<usize>();
        Self {
            name,
            kind,
            values: values.flatten(0, D - 1),
            weights: weights.flatten(0, D - 1),
            anchors: Anchors::Rows { start: 0, per_anchor },
        }
    }

    /// A single already-reduced value.
    ///
    /// # Shapes
    /// - `value`: `[1]`
    pub fn reduced(name: &'static str, value: Tensor<1>) -> Self {
        Self { anchors: Anchors::None, ..Self::dense(name, TermKind::AlreadyReduced, value) }
    }

    /// The same term for a block of anchors whose first row is embedding `start` (a loss
    /// evaluated in blocks of anchors).
    pub fn from_anchor(mut self, start: usize) -> Self {
        if let Anchors::Rows { per_anchor, .. } = self.anchors {
            self.anchors = Anchors::Rows { start, per_anchor };
        }
        self
    }

    /// The same term with entry `k` belonging to class `k` (one value per class or proxy).
    pub fn per_class(mut self) -> Self {
        self.anchors = Anchors::Classes;
        self
    }

    /// The same term with entry `k` belonging to embedding `indices[k]`.
    ///
    /// # Shapes
    /// - `indices`: `[k]`
    pub fn with_anchor_indices(mut self, indices: Tensor<1, Int>) -> Self {
        self.anchors = Anchors::Indices(Box::new(indices));
        self
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.values.dims()[0]
    }

    /// True when the term has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
