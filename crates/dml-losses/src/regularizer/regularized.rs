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

    /// The regularizer terms alone, for the input the loss computes its terms on
    /// ([`MetricLoss::terms_input`]).
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

    fn terms_input(&self, input: &LossInput) -> LossResult<Option<LossInput>> {
        self.loss.terms_input(input)
    }

    /// The loss's terms, then the regularizers' on the input the loss's terms are computed on
    /// (a wrapper's rewritten input, [`MetricLoss::terms_input`]: both views of a symmetric
    /// `SelfSupervisedLoss`, as PML's wrapped loss regularizes them).
    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let mut terms = self.loss.terms(input)?;
        let seen = self.loss.terms_input(input)?;
        terms.extend(self.regularizer_terms(seen.as_ref().unwrap_or(input))?);
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
            let seen = self.loss.terms_input(input)?;
            return reducer.reduce(&terms, seen.as_ref().unwrap_or(input));
        }
        let value = self.loss.forward_input(input)?;
        let seen = self.loss.terms_input(input)?;
        let regs = self.regularizer_terms(seen.as_ref().unwrap_or(input))?;
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

    /// A wrapper that rewrites its input (SelfSupervisedLoss: both views, labelled by sample)
    /// has its terms reduced and its embeddings regularized on the rewritten input, as PML's
    /// wrapped loss would: the regularizer sees both views, and a per-anchor reducer the `2n`
    /// anchors of the concatenated views.
    #[test]
    fn a_wrapper_s_terms_are_reduced_and_regularized_on_the_input_it_rewrites() {
        use crate::loss::{LossConfig, SelfSupervisedLossConfig};
        let device = Device::flex();
        let x = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 2.0], [0.7, 0.7]], &device);
        let v = Tensor::<2>::from_floats([[0.9, 0.2], [0.1, 1.0], [0.6, 0.8]], &device);
        let labels = Tensor::<1, Int>::from_ints([4, 4, 4], &device);
        let input = LossInput::new(x.clone(), labels.clone()).with_reference(v.clone(), labels);
        let lp = RegularizerConfig::LpRegularizer(LpRegularizerConfig::new().with_power(2.0));
        let reg = RegularizationConfig::new()
            .with_embedding_regularizer(Some(lp))
            .with_embedding_reg_weight(0.5);
        let per_anchor = Reducer::Multiple {
            reducers: BTreeMap::from([(
                "pos_loss".into(),
                Reducer::PerAnchor { reducer: Box::new(Reducer::Mean) },
            )]),
            default_reducer: Box::new(Reducer::Mean),
        };
        // mean squared norm of the six rows of [x; v], times 0.5
        let penalty = (1.0 + 4.0 + 0.98 + 0.85 + 1.01 + 1.0) / 6.0 * 0.5;
        for reducer in [Reducer::Mean, per_anchor] {
            let contrastive = ContrastiveLossConfig::new().with_reducer(reducer.clone());
            let ssl = SelfSupervisedLossConfig::new(Box::new(LossConfig::ContrastiveLoss(
                contrastive.clone(),
            )))
            .init(&device)
            .unwrap();
            let value = scalar(reg.init(ssl).unwrap().forward_input(&input).unwrap());
            let both = Tensor::cat(vec![x.clone(), v.clone()], 0);
            let index = Tensor::<1, Int>::from_ints([0, 1, 2, 0, 1, 2], &device);
            let inner = scalar(contrastive.init().unwrap().forward(both, index).unwrap());
            assert!((value[0] - inner[0] - penalty).abs() < 1e-5, "{reducer:?}: {value:?}");
        }
    }
}
