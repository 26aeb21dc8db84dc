use burn::tensor::Tensor;

use super::Regularizer;
use crate::error::LossResult;
use crate::loss::{ClassWeights, LossInput, MetricLoss};
use crate::reducer::{LossTerm, Reducer};

/// A loss with regularizers attached (built by [`super::RegularizationConfig::init`]), as a PML
/// loss constructed with `embedding_regularizer` / `weight_regularizer`: its terms are the
/// loss's, then `weight_reg_loss` (the weight regularizer on [`MetricLoss::class_weights`],
/// times its weight) and `embedding_reg_loss` (the embedding regularizer on the batch's
/// embeddings, times its weight), both already reduced, so the loss's reducer adds them.
///
/// Without regularizers it is the loss itself, value for value.
#[derive(Debug)]
pub struct Regularized<L> {
    loss: L,
    embedding: Option<(Box<dyn Regularizer>, f64)>,
    weight: Option<(Box<dyn Regularizer>, f64)>,
}

impl<L: MetricLoss> Regularized<L> {
    /// `loss` with the given regularizers and their weights.
    pub fn new(
        loss: L,
        embedding: Option<(Box<dyn Regularizer>, f64)>,
        weight: Option<(Box<dyn Regularizer>, f64)>,
    ) -> Self {
        Self { loss, embedding, weight }
    }

    /// `loss` without regularizers.
    pub fn plain(loss: L) -> Self {
        Self::new(loss, None, None)
    }

    /// The wrapped loss.
    pub fn loss(&self) -> &L {
        &self.loss
    }

    /// The wrapped loss, mutably (an optimizer updating its parameters).
    pub fn loss_mut(&mut self) -> &mut L {
        &mut self.loss
    }

    /// The regularizer terms alone.
    fn regularizer_terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let mut terms = Vec::new();
        if let Some((reg, factor)) = &self.weight
            && let Some(cw) = self.loss.class_weights()
        {
            let value: Tensor<1> = reg.forward(cw.weights)?.mul_scalar(*factor);
            terms.push(LossTerm::reduced("weight_reg_loss", value));
        }
        if let Some((reg, factor)) = &self.embedding {
            let value = reg.forward(input.embeddings.clone())?.mul_scalar(*factor);
            terms.push(LossTerm::reduced("embedding_reg_loss", value));
        }
        Ok(terms)
    }
}

impl<L: MetricLoss> MetricLoss for Regularized<L> {
    fn name(&self) -> &'static str {
        self.loss.name()
    }

    fn reducer(&self) -> Reducer {
        self.loss.reducer()
    }

    fn needs_pairs(&self) -> bool {
        self.loss.needs_pairs()
    }

    fn accepts_mined(&self) -> bool {
        self.loss.accepts_mined()
    }

    fn accepts_reference(&self) -> bool {
        self.loss.accepts_reference()
    }

    fn class_weights(&self) -> Option<ClassWeights> {
        self.loss.class_weights()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let mut terms = self.loss.terms(input)?;
        terms.extend(self.regularizer_terms(input)?);
        Ok(terms)
    }
}
