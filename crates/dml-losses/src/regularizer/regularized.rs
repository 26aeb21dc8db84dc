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

    /// The loss's own `forward_input` (so a loss that computes its value its own way keeps
    /// doing so), plus the regularizer values: every reducer passes already reduced terms
    /// through and sums the sub-losses, so this equals reducing all the terms together.
    /// `Reducer::None` appends the regularizer values to the loss's; `Reducer::Multiple`, whose
    /// table may name the regularizer sub-losses, reduces all the terms together.
    fn forward_input(&self, input: &LossInput) -> LossResult<Tensor<1>> {
        if self.embedding.is_none() && self.weight.is_none() {
            return self.loss.forward_input(input);
        }
        let reducer = self.reducer();
        if let Reducer::Multiple { .. } = reducer {
            input.validate(self.name())?;
            let terms = self.terms(input)?;
            return reducer.reduce(&terms, input);
        }
        let value = self.loss.forward_input(input)?;
        let regs = self.regularizer_terms(input)?;
        Ok(match reducer {
            Reducer::None => {
                let mut parts = vec![value];
                parts.extend(regs.into_iter().map(|t| t.values));
                Tensor::cat(parts, 0)
            }
            _ => regs.into_iter().fold(value, |total, t| total + t.values.sum()),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use burn::tensor::{Device, Int};

    use super::*;
    use crate::loss::ContrastiveLossConfig;
    use crate::regularizer::{LpRegularizerConfig, RegularizationConfig, RegularizerConfig};

    fn input() -> LossInput {
        let device = Device::flex();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.8, 0.3], [0.0, 1.0], [0.2, 0.9]], &device);
        LossInput::new(e, Tensor::<1, Int>::from_ints([0, 0, 1, 1], &device))
    }

    fn scalar(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// The shortcut through the loss's own forward equals reducing every term together, for a
    /// plain reducer, `None` and `Multiple` (which may name the regularizer's sub-loss).
    #[test]
    fn the_penalty_joins_the_loss_as_a_reduced_sub_loss() {
        let lp = RegularizerConfig::LpRegularizer(LpRegularizerConfig::new().with_power(2.0));
        let reg = RegularizationConfig::new()
            .with_embedding_regularizer(Some(lp))
            .with_embedding_reg_weight(0.5);
        let multiple = Reducer::Multiple {
            reducers: BTreeMap::from([("embedding_reg_loss".into(), Reducer::Sum)]),
            default_reducer: Box::new(Reducer::Mean),
        };
        for reducer in [Reducer::AvgNonZero, Reducer::None, multiple] {
            // (Multiple's table names the penalty, which the loss alone does not have; without
            // it, Multiple reduces each sub-loss by its default, the mean.)
            let alone = match reducer {
                Reducer::Multiple { .. } => Reducer::Mean,
                _ => reducer.clone(),
            };
            let plain = ContrastiveLossConfig::new().with_reducer(alone).init().unwrap();
            let plain = scalar(plain.forward_input(&input()).unwrap());
            let loss = ContrastiveLossConfig::new().with_reducer(reducer.clone()).init().unwrap();
            let wrapped = reg.init(loss).unwrap();
            let terms = wrapped.terms(&input()).unwrap();
            assert_eq!(terms.last().unwrap().name, "embedding_reg_loss");
            let together = scalar(reducer.reduce(&terms, &input()).unwrap());
            let value = scalar(wrapped.forward_input(&input()).unwrap());
            assert_eq!(value.len(), together.len(), "{reducer:?}");
            for (a, b) in value.iter().zip(&together) {
                assert!((a - b).abs() < 1e-6, "{reducer:?}: {value:?} vs {together:?}");
            }
            // mean squared norm of the rows, times 0.5
            let norms: f32 = [1.0f32, 0.73, 1.0, 0.85].iter().sum::<f32>() / 4.0 * 0.5;
            if reducer != Reducer::None {
                assert!((value[0] - plain[0] - norms).abs() < 1e-5, "{reducer:?}");
            } else {
                assert!((value.last().unwrap() - norms).abs() < 1e-5);
            }
        }
        let bare = Regularized::plain(ContrastiveLossConfig::new().init().unwrap());
        assert!(bare.terms(&input()).unwrap().iter().all(|t| !t.name.ends_with("reg_loss")));
    }
}
