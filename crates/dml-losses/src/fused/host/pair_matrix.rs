//! The matrix a fused pair kernel works on, and what it returns.

use std::collections::HashMap;

/// A similarity matrix `S = X R^T` and the labels of its rows and columns.
pub(crate) struct PairMatrix<'a> {
    /// `[rows, cols]`, row-major: the similarities on entry, the gradient (times
    /// [`KernelOutput::scale`]) on return.
    pub values: &'a mut [f32],
    /// Number of rows `n` (embeddings).
    pub rows: usize,
    /// Number of columns `m` (reference embeddings or proxies).
    pub cols: usize,
    /// Label of each row.
    pub row_labels: &'a [i32],
    /// Label of each column (unused by ProxyAnchor, whose column `c` is class `c`).
    pub col_labels: &'a [i32],
    /// The columns are the rows themselves: an entry is never paired with itself.
    pub same_set: bool,
    /// Squared norm of each row (kernels on an L2 distance; empty otherwise).
    pub row_sq: &'a [f32],
    /// Squared norm of each column (kernels on an L2 distance; empty otherwise).
    pub col_sq: &'a [f32],
}

/// The loss value, and the factor the gradient left in [`PairMatrix::values`] is multiplied by.
#[derive(Clone, Debug)]
pub(crate) struct KernelOutput {
    /// The reduced loss.
    pub loss: f64,
    /// Multiplier of the gradient matrix (a reducer's `1 / count`, known only after every row).
    pub scale: f64,
    /// The gradient of the loss with respect to the kernel's per-class margins (empty when it
    /// has none).
    pub margin_grad: Vec<f32>,
}

impl KernelOutput {
    /// A loss and gradient scale, without margins.
    pub(crate) fn new(loss: f64, scale: f64) -> Self {
        Self { loss, scale, margin_grad: Vec::new() }
    }

    /// A loss of exactly 0 with a zero gradient.
    pub(crate) fn zero(values: &mut [f32]) -> Self {
        values.fill(0.0);
        Self::new(0.0, 0.0)
    }
}

impl PairMatrix<'_> {
    /// How many columns carry each row's label: its positives (plus itself in the same set).
    pub(crate) fn same_label_counts(&self) -> Vec<usize> {
        let mut hist: HashMap<i32, usize> = HashMap::new();
        for &z in self.col_labels {
            *hist.entry(z).or_default() += 1;
        }
        self.row_labels.iter().map(|y| hist.get(y).copied().unwrap_or(0)).collect()
    }

    /// Positives of each row (same label, not itself).
    pub(crate) fn positives_per_row(&self, same: &[usize]) -> Vec<usize> {
        same.iter().map(|&c| if self.same_set { c.saturating_sub(1) } else { c }).collect()
    }

    /// The column excluded from row `i` (the diagonal in the same set), or `usize::MAX`.
    #[inline]
    pub(crate) fn diagonal(&self, i: usize) -> usize {
        if self.same_set { i } else { usize::MAX }
    }

    /// PML's pair gate (`GenericPairLoss`): false when the batch has at most one positive pair
    /// and at most one negative pair, where the pair losses return 0.
    pub(crate) fn pair_gate(&self, positives: &[usize], same: &[usize]) -> bool {
        let pos: usize = positives.iter().sum();
        let neg: usize = same.iter().map(|&c| self.cols - c).sum();
        !(pos <= 1 && neg <= 1)
    }
}
