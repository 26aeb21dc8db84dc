use burn::tensor::Tensor;

/// A loss's learnable class weights or proxies as PML's weight regularizers see them
/// (`MetricLoss::class_weights`): one row per class, or per sub-center for losses with several
/// centers per class, whatever orientation the loss stores them in.
///
/// PML hands its `WeightRegularizerMixin` `self.W.t()` for the `LargeMarginSoftmaxLoss` family
/// (stored `[d, C]`), `self.fc.t()` for `SoftTripleLoss` (`[d, C K]`) and `self.proxies` for
/// the proxy losses (`[C, d]`): always `[rows, d]`, which is what `weights` holds.
#[derive(Clone, Debug)]
pub struct ClassWeights {
    /// The weights, tracked by autodiff when the loss learns them.
    ///
    /// # Shapes
    /// - `[num_classes * centers_per_class, embedding_size]`
    pub weights: Tensor<2>,
    /// Rows per class (1, or the number of centers / sub-centers of each class), class-major:
    /// rows `c K .. (c + 1) K` belong to class `c`.
    pub centers_per_class: usize,
}

impl ClassWeights {
    /// One row per class.
    ///
    /// # Shapes
    /// - `weights`: `[num_classes, embedding_size]`
    pub fn per_class(weights: Tensor<2>) -> Self {
        Self { weights, centers_per_class: 1 }
    }
}
