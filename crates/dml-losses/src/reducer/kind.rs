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
