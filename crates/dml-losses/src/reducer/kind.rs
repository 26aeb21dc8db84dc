use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{LossTerm, TermKind};
use crate::error::{LossError, LossResult, invalid};

/// How a loss's unreduced terms become the value to minimise (PML's `reducers`).
///
/// Each sub-loss (terms sharing a name) is reduced on its own and the results are summed, as
/// PML's `MultipleReducers` does. Every reduction is a weighted sum divided by a clamped count,
/// so an empty selection gives exactly 0 with the autodiff graph still connected.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reducer {
    /// Mean over the selected entries (`MeanReducer`).
    Mean,
    /// Sum over the selected entries (`SumReducer`).
    Sum,
    /// Mean over the selected entries whose value is > 0 (`AvgNonZeroReducer`).
    AvgNonZero,
    /// Mean over the selected entries with `low < value < high` (`ThresholdReducer`); a bound
    /// left `None` is not applied.
    Threshold {
        /// Exclusive lower bound.
        low: Option<f64>,
        /// Exclusive upper bound.
        high: Option<f64>,
    },
    /// Sum divided by a fixed number (`DivisorReducer`).
    Divisor {
        /// The number the sum is divided by (must be > 0).
        divisor: f64,
    },
    /// No reduction (`DoNothingReducer`): the values of all terms, concatenated in order, with
    /// unselected entries set to 0. Use a loss's `terms()` to see each sub-loss separately.
    None,
}

impl Reducer {
    /// Checks the reducer's own parameters.
    pub fn validate(&self) -> LossResult<()> {
        match self {
            Self::Threshold { low: None, high: None } => Err(invalid(
                "ThresholdReducer",
                "low/high",
                "at least one of low or high must be set",
            )),
            Self::Threshold { low, high } => {
                for v in [low, high].into_iter().flatten() {
                    if !v.is_finite() {
                        return Err(invalid("ThresholdReducer", "low/high", "must be finite"));
                    }
                }
                Ok(())
            }
            Self::Divisor { divisor } if !(divisor.is_finite() && *divisor > 0.0) => Err(invalid(
                "DivisorReducer",
                "divisor",
                format!("must be finite and > 0, got {divisor}"),
            )),
            _ => Ok(()),
        }
    }

    /// Reduces `terms` to a `[1]` tensor (or, for [`Reducer::None`], to the concatenated
    /// values).
    pub fn reduce(&self, terms: &[LossTerm]) -> LossResult<Tensor<1>> {
        let first = terms.first().ok_or_else(|| LossError::Unsupported {
            component: "Reducer",
            detail: "a loss produced no terms".into(),
        })?;
        if let Self::None = self {
            let parts = terms
                .iter()
                .map(|t| t.values.clone() * t.weights.clone().greater_elem(0.0).float())
                .collect();
            return Ok(Tensor::cat(parts, 0));
        }
        let mut names: Vec<&'static str> = Vec::new();
        for t in terms {
            if !names.contains(&t.name) {
                names.push(t.name);
            }
        }
        let mut total = first.values.clone().sum() * 0.0;
        for name in names {
            let group: Vec<&LossTerm> = terms.iter().filter(|t| t.name == name).collect();
            if let Some((head, rest)) = group.split_first() {
                total = total + self.reduce_group(head, rest);
            }
        }
        Ok(total)
    }

    /// Reduces the terms of one sub-loss (`group` is never empty).
    fn reduce_group(&self, first: &LossTerm, rest: &[&LossTerm]) -> Tensor<1> {
        let all = std::iter::once(first).chain(rest.iter().copied());
        if first.kind == TermKind::AlreadyReduced {
            // PML's already_reduced_reduction: passed through by every reducer.
            return all
                .map(|t| t.values.clone().sum())
                .reduce(|a, b| a + b)
                .unwrap_or_else(|| first.values.clone().sum());
        }
        let mut numerator = first.values.clone().sum() * 0.0;
        let mut count = numerator.clone();
        for term in all {
            let selected = self.selection(term);
            numerator = numerator + (term.values.clone() * selected.clone()).sum();
            count = count + selected.sum();
        }
        match self {
            Self::Sum => numerator,
            Self::Divisor { divisor } => numerator.div_scalar(*divisor),
            _ => numerator / count.clamp_min(1.0),
        }
    }

    /// Per-entry weights of the entries this reducer keeps.
    fn selection(&self, term: &LossTerm) -> Tensor<1> {
        let w = term.weights.clone();
        match self {
            Self::AvgNonZero => w * term.values.clone().greater_elem(0.0).float(),
            Self::Threshold { low, high } => {
                let mut w = w;
                if let Some(low) = low {
                    w = w * term.values.clone().greater_elem(*low).float();
                }
                if let Some(high) = high {
                    w = w * term.values.clone().lower_elem(*high).float();
                }
                w
            }
            _ => w,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn term(values: [f32; 4], weights: [f32; 4]) -> LossTerm {
        let device = Device::flex();
        LossTerm {
            name: "loss",
            kind: TermKind::Triplet,
            values: Tensor::<1>::from_floats(values, &device),
            weights: Tensor::<1>::from_floats(weights, &device),
        }
    }

    fn reduce(r: Reducer, terms: &[LossTerm]) -> f32 {
        r.reduce(terms).unwrap().into_scalar::<f32>()
    }

    #[test]
    fn each_reducer_matches_its_pml_definition() {
        // selected entries: 0.0 (x1), 0.5 (x2), 2.0 (x1); 9.0 unselected
        let t = [term([0.0, 0.5, 2.0, 9.0], [1.0, 2.0, 1.0, 0.0])];
        assert!((reduce(Reducer::Mean, &t) - 3.0 / 4.0).abs() < 1e-6);
        assert!((reduce(Reducer::Sum, &t) - 3.0).abs() < 1e-6);
        assert!((reduce(Reducer::AvgNonZero, &t) - 3.0 / 3.0).abs() < 1e-6);
        let thr = Reducer::Threshold { low: Some(0.1), high: Some(1.0) };
        assert!((reduce(thr, &t) - 0.5).abs() < 1e-6);
        assert!((reduce(Reducer::Divisor { divisor: 4.0 }, &t) - 0.75).abs() < 1e-6);
        let none = Reducer::None.reduce(&t).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(none, vec![0.0, 0.5, 2.0, 0.0]);
    }

    #[test]
    fn empty_selection_gives_zero_not_nan() {
        let t = [term([1.0, 2.0, 3.0, 4.0], [0.0; 4])];
        for r in [Reducer::Mean, Reducer::Sum, Reducer::AvgNonZero] {
            assert_eq!(reduce(r, &t), 0.0);
        }
    }

    #[test]
    fn sub_losses_are_reduced_separately_then_summed() {
        let mut a = term([1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]);
        a.name = "pos_loss";
        let mut b = term([3.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]);
        b.name = "neg_loss";
        // AvgNonZero: pos 2/2 = 1, neg 3/1 = 3
        assert!((reduce(Reducer::AvgNonZero, &[a, b]) - 4.0).abs() < 1e-6);
    }

    #[test]
    fn invalid_reducers_are_rejected() {
        assert!(Reducer::Threshold { low: None, high: None }.validate().is_err());
        assert!(Reducer::Divisor { divisor: 0.0 }.validate().is_err());
        assert!(Reducer::Divisor { divisor: -1.0 }.validate().is_err());
        assert!(Reducer::Mean.validate().is_ok());
    }
}
