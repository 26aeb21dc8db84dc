use burn::tensor::{Int, Tensor};

use super::{ClassWeights, LossInput};
use crate::error::{LossError, LossResult};
use crate::reducer::{LossTerm, Reducer};

/// A loss computed from a batch of embeddings and labels.
///
/// Implementors provide [`MetricLoss::terms`] (the unreduced values of each sub-loss) and
/// [`MetricLoss::reducer`]; the reduction and the convenience entry points come for free.
pub trait MetricLoss {
    /// The name used in error messages.
    fn name(&self) -> &'static str;

    /// The reducer applied by [`MetricLoss::forward_input`].
    fn reducer(&self) -> Reducer;

    /// True for losses built from pairs of embeddings (the default), which reject a batch of
    /// fewer than two embeddings compared with itself. Proxy and classifier losses say false.
    fn needs_pairs(&self) -> bool {
        true
    }

    /// True when the loss can use what a [`crate::Miner`] selected (pairs or triplets, or, for
    /// the proxy losses, per-embedding weights derived from them). Losses that always use every
    /// embedding, or that mine their own pairs (QuadrupletLoss, EmlLoss, AMLoss, the
    /// classification heads), say false, so a configuration that pairs them with a miner is
    /// rejected before training.
    fn accepts_mined(&self) -> bool {
        true
    }

    /// True when the loss can compare the batch with a separate reference set (a memory bank,
    /// a gallery): pair and triplet losses. Losses that compare embeddings with their own class
    /// weights or proxies, or that are defined on the batch alone, say false.
    fn accepts_reference(&self) -> bool {
        true
    }

    /// The unreduced terms of every sub-loss for this input.
    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>>;

    /// The learnable class weights or proxies, one row per class (or per sub-center), as PML's
    /// weight regularizers see them; `None` (the default) for losses without any.
    fn class_weights(&self) -> Option<ClassWeights> {
        None
    }

    /// The input [`MetricLoss::terms`] is computed on, when the loss rewrites the one it is
    /// given: `None` (the default) for `input` itself. A wrapper such as
    /// [`super::SelfSupervisedLoss`] returns the input its wrapped loss sees (both views
    /// labelled by sample index), so what acts on the terms from outside the loss (a reducer
    /// reading the anchors' labels, the embedding regularizer of [`crate::Regularized`]) sees
    /// the same batch as the terms.
    fn terms_input(&self, _input: &LossInput) -> LossResult<Option<LossInput>> {
        Ok(None)
    }

    /// The reduced loss computed by a fused kernel ([`crate::fused`]), when this loss has one
    /// that applies to this input and device; `None` (the default) computes [`MetricLoss::terms`]
    /// and reduces them. Called by [`MetricLoss::forward_input`] after the input is validated;
    /// the value and gradient equal the composed path's to float32 rounding.
    fn fused_forward(&self, _input: &LossInput) -> LossResult<Option<Tensor<1>>> {
        Ok(None)
    }

    /// The reduced loss for a full input (mined pairs, a reference set).
    ///
    /// # Shapes
    /// - returns `[1]` (or the concatenated values for [`Reducer::None`])
    fn forward_input(&self, input: &LossInput) -> LossResult<Tensor<1>> {
        input.validate(self.name())?;
        if self.needs_pairs() && input.same_set() && input.batch_size() < 2 {
            return Err(LossError::ShapeMismatch {
                component: self.name(),
                detail: format!(
                    "a batch of {} embedding cannot hold a pair; pair losses need at least 2",
                    input.batch_size()
                ),
            });
        }
        if let Some(value) = self.fused_forward(input)? {
            return Ok(value);
        }
        let terms = self.terms(input)?;
        self.reducer().reduce(&terms, input)
    }

    /// The reduced loss over all pairs or triplets of a batch.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `labels`: `[n]` -> `[1]`
    fn forward(&self, embeddings: Tensor<2>, labels: Tensor<1, Int>) -> LossResult<Tensor<1>> {
        self.forward_input(&LossInput::new(embeddings, labels))
    }
}

/// A boxed loss is a loss, so wrappers such as [`super::CrossBatchMemory`] can hold a loss
/// chosen at run time (`Box<dyn MetricLoss>`).
impl<T: MetricLoss + ?Sized> MetricLoss for Box<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn reducer(&self) -> Reducer {
        (**self).reducer()
    }

    fn needs_pairs(&self) -> bool {
        (**self).needs_pairs()
    }

    fn accepts_mined(&self) -> bool {
        (**self).accepts_mined()
    }

    fn accepts_reference(&self) -> bool {
        (**self).accepts_reference()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        (**self).terms(input)
    }

    fn class_weights(&self) -> Option<ClassWeights> {
        (**self).class_weights()
    }

    fn terms_input(&self, input: &LossInput) -> LossResult<Option<LossInput>> {
        (**self).terms_input(input)
    }

    fn fused_forward(&self, input: &LossInput) -> LossResult<Option<Tensor<1>>> {
        (**self).fused_forward(input)
    }

    fn forward_input(&self, input: &LossInput) -> LossResult<Tensor<1>> {
        (**self).forward_input(input)
    }
}
