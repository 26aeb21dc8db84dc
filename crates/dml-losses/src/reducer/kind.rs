use std::collections::BTreeMap;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Anchors, LossTerm, TermKind};
use crate::error::{LossError, LossResult, invalid};
use crate::loss::LossInput;

/// How a loss's unreduced terms become the value to minimise (PML's `reducers`).
///
/// Each sub-loss (terms sharing a name) is reduced on its own and the results are summed, as
/// PML's `MultipleReducers` does. Every reduction is a weighted sum divided by a clamped count,
/// so an empty selection gives exactly 0 with the autodiff graph still connected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Mean of the entries, each multiplied by the weight of its anchor's class
    /// (`ClassWeightedReducer(weights)`): `sum_k w[y_a(k)] v_k / count`. Per-embedding values
    /// use the embedding's label, pairs and triplets their anchor's; per-class values (a proxy
    /// loss's) the class's own weight.
    ClassWeighted {
        /// One weight per class (labels index it).
        weights: Vec<f64>,
    },
    /// Averages each anchor's pairs first, then reduces the per-anchor means with `reducer`
    /// (`PerAnchorReducer(reducer=MeanReducer())`). Per-embedding values go to `reducer`
    /// unchanged; triplets are not supported (as in PML).
    PerAnchor {
        /// How the per-anchor means (one per embedding of the batch) are reduced.
        #[serde(default = "boxed_mean")]
        reducer: Box<Reducer>,
    },
    /// A reducer per sub-loss (`MultipleReducers(reducers, default_reducer=MeanReducer())`):
    /// the sub-loss named `k` is reduced by `reducers[k]`, every other one by
    /// `default_reducer`; the results are summed.
    Multiple {
        /// Reducer of each named sub-loss (`"pos_loss"`, `"neg_loss"`, ...).
        #[serde(default)]
        reducers: BTreeMap<String, Reducer>,
        /// Reducer of the sub-losses not named in `reducers`.
        #[serde(default = "boxed_mean")]
        default_reducer: Box<Reducer>,
    },
}

fn boxed_mean() -> Box<Reducer> {
    Box::new(Reducer::Mean)
}

impl Reducer {
    /// One value of every variant, with PML's defaults where it has them: what a configuration
    /// file may name (`"Mean"`, `{"Threshold": {...}}`), so a new variant needs no edit in
    /// dml-train. `ClassWeighted`'s weights are empty here (a configuration must give them).
    pub fn defaults() -> Vec<Reducer> {
        vec![
            Self::Mean,
            Self::Sum,
            Self::AvgNonZero,
            Self::Threshold { low: None, high: None },
            Self::Divisor { divisor: 1.0 },
            Self::None,
            Self::ClassWeighted { weights: Vec::new() },
            Self::PerAnchor { reducer: boxed_mean() },
            Self::Multiple { reducers: BTreeMap::new(), default_reducer: boxed_mean() },
        ]
    }

    /// PML's class name of this reducer (for error messages).
    pub fn pml_name(&self) -> &'static str {
        match self {
            Self::Mean => "MeanReducer",
            Self::Sum => "SumReducer",
            Self::AvgNonZero => "AvgNonZeroReducer",
            Self::Threshold { .. } => "ThresholdReducer",
            Self::Divisor { .. } => "DivisorReducer",
            Self::None => "DoNothingReducer",
            Self::ClassWeighted { .. } => "ClassWeightedReducer",
            Self::PerAnchor { .. } => "PerAnchorReducer",
            Self::Multiple { .. } => "MultipleReducers",
        }
    }

    /// Checks the reducer's own parameters (and those of the reducers it holds).
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
            Self::ClassWeighted { weights } => {
                if weights.is_empty() {
                    return Err(invalid(
                        "ClassWeightedReducer",
                        "weights",
                        "must give one weight per class, got none",
                    ));
                }
                match weights.iter().find(|w| !w.is_finite()) {
                    Some(w) => Err(invalid(
                        "ClassWeightedReducer",
                        "weights",
                        format!("must be finite, got {w}"),
                    )),
                    None => Ok(()),
                }
            }
            Self::PerAnchor { reducer } => reducer.validate_nested("PerAnchorReducer", "reducer"),
            Self::Multiple { reducers, default_reducer } => {
                for r in reducers.values() {
                    r.validate_nested("MultipleReducers", "reducers")?;
                }
                default_reducer.validate_nested("MultipleReducers", "default_reducer")
            }
            _ => Ok(()),
        }
    }

    /// [`Reducer::validate`] for a reducer held by another, which must produce one value.
    fn validate_nested(&self, component: &'static str, field: &'static str) -> LossResult<()> {
        if let Self::None = self {
            return Err(invalid(
                component,
                field,
                "cannot hold a DoNothingReducer (None): it must reduce to one value",
            ));
        }
        self.validate()
    }

    /// Reduces `terms` to a `[1]` tensor (or, for [`Reducer::None`], to the concatenated
    /// values). `input` is the batch the terms were computed for: its labels give
    /// [`Reducer::ClassWeighted`] each anchor's class, its size the anchors of
    /// [`Reducer::PerAnchor`].
    ///
    /// # Errors
    /// [`LossError::Unsupported`] for an empty list of terms, triplets under
    /// [`Reducer::PerAnchor`], or a [`Reducer::Multiple`] naming a sub-loss the loss does not
    /// have; [`LossError::LabelOutOfRange`] for a label without a class weight.
    pub fn reduce(&self, terms: &[LossTerm], input: &LossInput) -> LossResult<Tensor<1>> {
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
        if let Self::Multiple { reducers, .. } = self
            && let Some(unknown) = reducers.keys().find(|k| !names.contains(&k.as_str()))
        {
            return Err(LossError::Unsupported {
                component: "MultipleReducers",
                detail: format!(
                    "`reducers` names the sub-loss `{unknown}`, which this loss does not have \
                     (its sub-losses: {})",
                    names.join(", ")
                ),
            });
        }
        let mut total = first.values.clone().sum() * 0.0;
        for name in names {
            let group: Vec<&LossTerm> = terms.iter().filter(|t| t.name == name).collect();
            total = total + self.reduce_named(name, &group, input)?;
        }
        Ok(total)
    }

    /// Reduces the terms of the sub-loss `name` (`group` is never empty).
    fn reduce_named(
        &self,
        name: &str,
        group: &[&LossTerm],
        input: &LossInput,
    ) -> LossResult<Tensor<1>> {
        match self {
            Self::Multiple { reducers, default_reducer } => {
                reducers.get(name).unwrap_or(default_reducer).reduce_named(name, group, input)
            }
            _ => self.reduce_group(group, input),
        }
    }

    /// Reduces the terms of one sub-loss (`group` is never empty).
    fn reduce_group(&self, group: &[&LossTerm], input: &LossInput) -> LossResult<Tensor<1>> {
        let first = group[0];
        if first.kind == TermKind::AlreadyReduced {
            // PML's already_reduced_reduction: passed through by every reducer.
            let mut total = first.values.clone().sum();
            for t in &group[1..] {
                total = total + t.values.clone().sum();
            }
            return Ok(total);
        }
        match self {
            Self::PerAnchor { reducer } => match first.kind {
                TermKind::Element => reducer.reduce_named("loss", group, input),
                TermKind::PosPair | TermKind::NegPair => {
                    let term = per_anchor_means(group, input)?;
                    reducer.reduce_named("loss", &[&term], input)
                }
                _ => Err(LossError::Unsupported {
                    component: "PerAnchorReducer",
                    detail: "triplets cannot be reduced per anchor (PML raises \
                             NotImplementedError too)"
                        .into(),
                }),
            },
            Self::ClassWeighted { weights } => {
                let class_weights = class_weight_tensor(weights, input)?;
                let anchor_weights = class_weights.clone().select(0, input.labels.clone());
                let mut numerator = first.values.clone().sum() * 0.0;
                let mut count = numerator.clone();
                for term in group {
                    let w = entry_weights(term, &anchor_weights, &class_weights)?;
                    numerator = numerator + (term.values.clone() * term.weights.clone() * w).sum();
                    count = count + term.weights.clone().sum();
                }
                Ok(numerator / count.clamp_min(1.0))
            }
            Self::None | Self::Multiple { .. } => Err(LossError::Unsupported {
                component: self.pml_name(),
                detail: "cannot be held by another reducer".into(),
            }),
            _ => {
                let mut numerator = first.values.clone().sum() * 0.0;
                let mut count = numerator.clone();
                for term in group {
                    let selected = self.selection(term);
                    numerator = numerator + (term.values.clone() * selected.clone()).sum();
                    count = count + selected.sum();
                }
                Ok(match self {
                    Self::Sum => numerator,
                    Self::Divisor { divisor } => numerator.div_scalar(*divisor),
                    _ => numerator / count.clamp_min(1.0),
                })
            }
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

/// The class weights on the batch's device, after checking that every label has one.
///
/// # Shapes
/// - returns `[C]`
fn class_weight_tensor(weights: &[f64], input: &LossInput) -> LossResult<Tensor<1>> {
    let num_classes = weights.len();
    let out_of_range = |label: i64| LossError::LabelOutOfRange {
        component: "ClassWeightedReducer",
        label,
        num_classes,
    };
    match input.host_label_range() {
        Some((lo, hi)) => {
            for label in [lo, hi] {
                if label < 0 || label as u64 >= num_classes as u64 {
                    return Err(out_of_range(label));
                }
            }
        }
        None => {
            for label in input.labels.to_data().iter::<i64>() {
                if label < 0 || label as u64 >= num_classes as u64 {
                    return Err(out_of_range(label));
                }
            }
        }
    }
    let w: Vec<f32> = weights.iter().map(|&v| v as f32).collect();
    Ok(Tensor::<1>::from_floats(w.as_slice(), &input.embeddings.device()))
}

/// The class weight of each entry of `term`: its anchor's (`anchor_weights[i]`, the weight of
/// embedding `i`'s label) or, for per-class entries, its class's.
///
/// # Shapes
/// - `anchor_weights`: `[n]`, `class_weights`: `[C]` -> `[k]`
fn entry_weights(
    term: &LossTerm,
    anchor_weights: &Tensor<1>,
    class_weights: &Tensor<1>,
) -> LossResult<Tensor<1>> {
    let k = term.len();
    match &term.anchors {
        Anchors::Rows { per_anchor: 0, .. } | Anchors::None => Ok(term.values.ones_like()),
        Anchors::Rows { start, per_anchor } => {
            let rows = k / per_anchor;
            let n = anchor_weights.dims()[0];
            if start + rows > n {
                return Err(anchor_mismatch("ClassWeightedReducer", start + rows, n));
            }
            let w = anchor_weights.clone().slice(*start..start + rows);
            Ok(w.reshape([rows, 1]).expand([rows, *per_anchor]).reshape([k]))
        }
        Anchors::Indices(indices) => Ok(anchor_weights.clone().select(0, (**indices).clone())),
        Anchors::Classes => {
            let c = class_weights.dims()[0];
            if k > c {
                return Err(LossError::Unsupported {
                    component: "ClassWeightedReducer",
                    detail: format!("the loss has values for {k} classes but {c} weights"),
                });
            }
            Ok(class_weights.clone().slice(0..k))
        }
    }
}

fn anchor_mismatch(component: &'static str, rows: usize, n: usize) -> LossError {
    LossError::ShapeMismatch {
        component,
        detail: format!("a term covers anchors up to {rows} but the batch has {n} embeddings"),
    }
}

/// PML's `PerAnchorReducer` on pairs: for each embedding of the batch, the mean of its pair
/// values (each distinct pair once, as PML's assignment into an `[n, n]` grid keeps it once),
/// 0 for an embedding with no pair; one value per embedding.
///
/// The gradient is PML's too: the backward of its index assignment hands the gradient of a
/// grid cell to every copy of a pair a miner repeated, so a pair mined `w` times counts once in
/// the value and `w` times in the gradient.
fn per_anchor_means(group: &[&LossTerm], input: &LossInput) -> LossResult<LossTerm> {
    let n = input.batch_size();
    let device = input.embeddings.device();
    let mut sums = Tensor::<1>::zeros([n], &device);
    let mut counts = Tensor::<1>::zeros([n], &device);
    for term in group {
        let k = term.len();
        let (start, per_anchor) = match term.anchors {
            Anchors::Rows { start, per_anchor } if per_anchor > 0 => (start, per_anchor),
            _ => {
                return Err(LossError::Unsupported {
                    component: "PerAnchorReducer",
                    detail: format!("the pair sub-loss `{}` is not on an anchor grid", term.name),
                });
            }
        };
        let rows = k / per_anchor;
        if start + rows > n {
            return Err(anchor_mismatch("PerAnchorReducer", start + rows, n));
        }
        let present = term.weights.clone().greater_elem(0.0).float().reshape([rows, per_anchor]);
        let values = term.values.clone().reshape([rows, per_anchor]);
        let once = (values.clone() * present.clone()).sum_dim(1).reshape([rows]);
        let every_copy =
            (values * term.weights.clone().reshape([rows, per_anchor])).sum_dim(1).reshape([rows]);
        // The value of `once` with the gradient of `every_copy` (identical without repeats).
        let row_sums = every_copy.clone() + (once - every_copy).detach();
        let range = start..start + rows;
        let s = sums.clone().slice(range.clone()) + row_sums;
        let c = counts.clone().slice(range.clone()) + present.sum_dim(1).reshape([rows]);
        sums = sums.slice_assign(range.clone(), s);
        counts = counts.slice_assign(range, c);
    }
    let means = sums / counts.clamp_min(1.0);
    Ok(LossTerm::dense("loss", TermKind::Element, means))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Int};

    fn term(values: [f32; 4], weights: [f32; 4]) -> LossTerm {
        let device = Device::flex();
        LossTerm::masked(
            "loss",
            TermKind::Triplet,
            Tensor::<1>::from_floats(values, &device),
            Tensor::<1>::from_floats(weights, &device),
        )
    }

    /// A batch of four embeddings with labels `labels`.
    fn input(labels: [i64; 4]) -> LossInput {
        LossInput::from_host_labels(Tensor::<2>::zeros([4, 2], &Device::flex()), &labels)
    }

    fn reduce(r: Reducer, terms: &[LossTerm]) -> f32 {
        r.reduce(terms, &input([0, 1, 2, 3])).unwrap().into_scalar::<f32>()
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
        let none = Reducer::None.reduce(&t, &input([0; 4])).unwrap();
        let none = none.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(none, vec![0.0, 0.5, 2.0, 0.0]);
        // entry i belongs to embedding i (labels 0..4): weights 1, 2, 3, 4 by class
        let cw = Reducer::ClassWeighted { weights: vec![1.0, 2.0, 3.0, 4.0] };
        // (0 * 1 + 0.5 * 2 * 2 + 2 * 3 * 1) / 4
        assert!((reduce(cw, &t) - 8.0 / 4.0).abs() < 1e-6);
    }

    #[test]
    fn empty_selection_gives_zero_not_nan() {
        let t = [term([1.0, 2.0, 3.0, 4.0], [0.0; 4])];
        let cw = Reducer::ClassWeighted { weights: vec![1.0; 4] };
        for r in [Reducer::Mean, Reducer::Sum, Reducer::AvgNonZero, cw] {
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
        assert!((reduce(Reducer::AvgNonZero, &[a.clone(), b.clone()]) - 4.0).abs() < 1e-6);
        // MultipleReducers: pos by Sum (2), neg by the default Mean (3/3)
        let multiple = Reducer::Multiple {
            reducers: BTreeMap::from([("pos_loss".to_string(), Reducer::Sum)]),
            default_reducer: Box::new(Reducer::Mean),
        };
        assert!((reduce(multiple, &[a.clone(), b.clone()]) - 3.0).abs() < 1e-6);
        let unknown = Reducer::Multiple {
            reducers: BTreeMap::from([("pos_los".to_string(), Reducer::Sum)]),
            default_reducer: Box::new(Reducer::Mean),
        };
        let err = unknown.reduce(&[a, b], &input([0; 4])).unwrap_err();
        assert!(err.to_string().contains("pos_los"), "{err}");
    }

    #[test]
    fn class_weights_follow_the_anchor_of_each_grid_row_and_block() {
        let device = Device::flex();
        // a [2, 2] pair grid for the anchors 2 and 3 (a block starting at row 2)
        let values = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
        let weights = Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 1.0]], &device);
        let t = LossTerm::masked("loss", TermKind::PosPair, values, weights).from_anchor(2);
        let cw = Reducer::ClassWeighted { weights: vec![0.0, 10.0, 1.0, 2.0] };
        // labels [1, 0, 3, 2]: anchor 2 has class 3 (weight 2), anchor 3 class 2 (weight 1)
        let v = cw.reduce(&[t], &input([1, 0, 3, 2])).unwrap().into_scalar::<f32>();
        assert!((v - (1.0 * 2.0 + 3.0 + 4.0) / 3.0).abs() < 1e-6, "{v}");
        // per-class entries take their class's weight
        let c =
            LossTerm::dense("loss", TermKind::Element, Tensor::from_floats([1.0, 1.0], &device))
                .per_class();
        let v = Reducer::ClassWeighted { weights: vec![3.0, 5.0] }
            .reduce(&[c], &input([0, 0, 1, 1]))
            .unwrap()
            .into_scalar::<f32>();
        assert!((v - 4.0).abs() < 1e-6, "{v}");
    }

    #[test]
    fn a_label_without_a_class_weight_is_an_error() {
        let t = [term([1.0; 4], [1.0; 4])];
        let cw = Reducer::ClassWeighted { weights: vec![1.0, 1.0] };
        let err = cw.reduce(&t, &input([0, 1, 2, 0])).unwrap_err();
        assert!(matches!(err, LossError::LabelOutOfRange { label: 2, .. }), "{err}");
        // labels only on the device: read back and checked too
        let device = Device::flex();
        let device_only = LossInput::new(
            Tensor::<2>::zeros([4, 2], &device),
            Tensor::<1, Int>::from_ints([0, 1, 5, 0], &device),
        );
        let err = cw.reduce(&t, &device_only).unwrap_err();
        assert!(matches!(err, LossError::LabelOutOfRange { label: 5, .. }), "{err}");
    }

    #[test]
    fn per_anchor_averages_each_row_once_then_reduces_over_the_batch() {
        let device = Device::flex();
        // anchors 0..4 over 4 references; anchor 3 has no pair; the pair (0, 1) mined twice
        let values = Tensor::<2>::from_floats(
            [[0.0, 2.0, 4.0, 9.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 6.0], [7.0; 4]],
            &device,
        );
        let weights = Tensor::<2>::from_floats(
            [[0.0, 2.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0; 4]],
            &device,
        );
        let t = LossTerm::masked("loss", TermKind::PosPair, values, weights);
        // per-anchor means 3, 1, 6, 0; Mean over the 4 anchors
        let r = Reducer::PerAnchor { reducer: Box::new(Reducer::Mean) };
        assert!((reduce(r, std::slice::from_ref(&t)) - 10.0 / 4.0).abs() < 1e-6);
        let r = Reducer::PerAnchor { reducer: Box::new(Reducer::AvgNonZero) };
        assert!((reduce(r, std::slice::from_ref(&t)) - 10.0 / 3.0).abs() < 1e-6);
        // triplets are refused, as PML
        let trip = term([1.0; 4], [1.0; 4]);
        let r = Reducer::PerAnchor { reducer: Box::new(Reducer::Mean) };
        assert!(r.reduce(&[trip], &input([0; 4])).is_err());
    }

    #[test]
    fn invalid_reducers_are_rejected() {
        assert!(Reducer::Threshold { low: None, high: None }.validate().is_err());
        assert!(Reducer::Divisor { divisor: 0.0 }.validate().is_err());
        assert!(Reducer::Divisor { divisor: -1.0 }.validate().is_err());
        assert!(Reducer::Mean.validate().is_ok());
        assert!(Reducer::ClassWeighted { weights: vec![] }.validate().is_err());
        assert!(Reducer::ClassWeighted { weights: vec![1.0, f64::NAN] }.validate().is_err());
        let nested_none = Reducer::PerAnchor { reducer: Box::new(Reducer::None) };
        assert!(nested_none.validate().is_err());
        let nested_bad = Reducer::Multiple {
            reducers: BTreeMap::from([("loss".into(), Reducer::Divisor { divisor: 0.0 })]),
            default_reducer: Box::new(Reducer::Mean),
        };
        assert!(nested_bad.validate().is_err());
    }

    #[test]
    fn reducers_read_from_json_with_pml_defaults() {
        let r: Reducer = serde_json::from_str(r#"{"PerAnchor": {}}"#).unwrap();
        assert_eq!(r, Reducer::PerAnchor { reducer: Box::new(Reducer::Mean) });
        let r: Reducer =
            serde_json::from_str(r#"{"Multiple": {"reducers": {"pos_loss": "Sum"}}}"#).unwrap();
        assert_eq!(
            r,
            Reducer::Multiple {
                reducers: BTreeMap::from([("pos_loss".into(), Reducer::Sum)]),
                default_reducer: Box::new(Reducer::Mean),
            }
        );
    }
}
