use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Bool, Tensor};

use super::fast_ap::running_sum_matrix;
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_count, invalid};
use crate::miner::Triplets;
use crate::ops::{off_diagonal, one_hot, relu, same_label};
use crate::reducer::{LossTerm, Reducer};

const NAME: &str = "HistogramLoss";

/// Configuration of [`HistogramLoss`]; defaults are PML's `HistogramLoss()` (`n_bins = 100`, so
/// `delta = 2 / 100`).
#[derive(Config, Debug)]
pub struct HistogramLossConfig {
    /// Number of bins `R` of the histograms over `[-1, 1]` (PML's `n_bins`; its `delta` is
    /// `2 / n_bins`).
    #[config(default = 100)]
    pub n_bins: usize,
    /// How embeddings are compared: a similarity with values in `[-1, 1]`, i.e. cosine (the
    /// default) or the dot product of normalized embeddings. PML's bins cover `[-1, 1]` only
    /// (its binning fails outside).
    #[config(default = "Distance::Cosine")]
    pub distance: Distance,
}

/// Histogram loss (Ustinova and Lempitsky, "Learning Deep Embeddings with Histogram Loss",
/// NeurIPS 2016), as PML's `HistogramLoss`: the probability that a random negative pair is more
/// similar than a random positive pair, estimated from two histograms.
///
/// The similarities of the distinct positive pairs `{i, j}` and of the distinct negative pairs
/// that occur in the batch's triplets (all of them, or the mined ones) are spread over the
/// `R + 1` nodes `t_r = -1 + r Delta`, `Delta = 2 / R`, by linear interpolation (the triangular
/// kernel `[1 - |(s + 1) / Delta - r|]+`), and each histogram is divided by its number of pairs:
/// `p+` and `p-`. With `Phi+_r = sum_{q <= r} p+_q`:
///
/// `loss = sum_r p-_r Phi+_r`
///
/// 0 (with the graph connected) when there is no triplet.
#[derive(Module, Debug)]
pub struct HistogramLoss {
    #[module(skip)]
    config: HistogramLossConfig,
}

impl HistogramLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<HistogramLoss> {
        check_count(NAME, "n_bins", self.n_bins)?;
        match self.distance {
            Distance::Cosine | Distance::DotProduct { normalize_embeddings: true } => {}
            _ => {
                return Err(invalid(
                    NAME,
                    "distance",
                    "must be a similarity in [-1, 1] (Cosine, or DotProduct of normalized \
                     embeddings): the histogram covers [-1, 1]",
                ));
            }
        }
        self.distance.validate(NAME)?;
        Ok(HistogramLoss { config: self.clone() })
    }
}

impl HistogramLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &HistogramLossConfig {
        &self.config
    }
}

/// The anchor-positive and anchor-negative pairs that occur in the triplets (PML's
/// `convert_to_triplets(..., t_per_anchor="all")`): every triplet of the labels, or of what was
/// mined (pairs sharing an anchor form triplets).
///
/// # Shapes
/// - returns `([n, n], [n, n])`, rows the anchors
fn triplet_pairs(input: &LossInput) -> (Tensor<2, Bool>, Tensor<2, Bool>) {
    let n = input.batch_size();
    let device = input.embeddings.device();
    match &input.mined {
        None => {
            let same = same_label(&input.labels, &input.labels);
            let pos = same.clone().bool_and(off_diagonal(n, n, &device));
            let neg = same.bool_not();
            let has_pos = pos.clone().float().sum_dim(1).greater_elem(0.0).expand([n, n]);
            let has_neg = neg.clone().float().sum_dim(1).greater_elem(0.0).expand([n, n]);
            (pos.bool_and(has_neg), neg.bool_and(has_pos))
        }
        Some(mined) => match mined.to_triplets() {
            Triplets::Dense(t) => {
                let ap = t.clone().sum_dim(2).reshape([n, n]).greater_elem(0.0);
                let an = t.sum_dim(1).reshape([n, n]).greater_elem(0.0);
                (ap, an)
            }
            Triplets::PerAnchor { positive, negative, valid } => {
                let v = valid.reshape([n, 1]).expand([n, n]).greater_elem(0.0);
                let ap = one_hot(&positive, n).bool_and(v.clone());
                let an = one_hot(&negative, n).bool_and(v);
                (ap, an)
            }
        },
    }
}

impl MetricLoss for HistogramLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        // The term is already reduced, which every reducer passes through.
        Reducer::Mean
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        if input.reference.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "a reference set (the loss compares the batch with itself)".into(),
            });
        }
        let c = &self.config;
        let n = input.batch_size();
        let device = input.embeddings.device();
        let nodes = c.n_bins + 1;
        let sim = c.distance.matrix(input.embeddings.clone(), input.embeddings.clone());
        let (ap, an) = triplet_pairs(input);
        // Each unordered pair once, read from the upper triangle (PML sorts each pair).
        let upper = Tensor::<2, Bool>::triu_mask([n, n], 0, &device).bool_not();
        let unordered =
            |m: Tensor<2, Bool>| m.clone().bool_or(m.transpose()).bool_and(upper.clone()).float();
        let (pos, neg) = (unordered(ap), unordered(an));
        let node_index: Vec<f32> = (0..nodes).map(|r| r as f32).collect();
        let r = Tensor::<1>::from_floats(node_index.as_slice(), &device).reshape([1, 1, nodes]);
        let x = sim.add_scalar(1.0).mul_scalar(c.n_bins as f64 / 2.0).reshape([n, n, 1]);
        let kernel = relu((x - r).abs().neg().add_scalar(1.0)); // [n, n, R + 1]
        let density = |mask: Tensor<2>| {
            let count = mask.clone().sum().clamp_min(1.0).reshape([1, 1]);
            let hist = (kernel.clone() * mask.reshape([n, n, 1])).sum_dim(1).sum_dim(0);
            hist.reshape([1, nodes]) / count
        };
        let phi = density(pos).matmul(running_sum_matrix(nodes, &device));
        let loss = (density(neg) * phi).sum();
        Ok(vec![LossTerm::reduced("loss", loss)])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use super::*;

    #[test]
    fn rejects_bad_config_naming_the_field() {
        let bad = [
            (HistogramLossConfig::new().with_n_bins(0), "n_bins"),
            (HistogramLossConfig::new().with_distance(Distance::l2()), "distance"),
            (
                HistogramLossConfig::new()
                    .with_distance(Distance::DotProduct { normalize_embeddings: false }),
                "distance",
            ),
        ];
        for (config, name) in bad {
            match config.init() {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    /// No triplet (all labels distinct, or one class): PML's zero loss; here 0 with the graph
    /// connected. Duplicates (similarity exactly 1, the last node) are finite.
    #[test]
    fn no_triplet_gives_zero_and_duplicates_are_finite() {
        let device = Device::flex().autodiff();
        let loss = HistogramLossConfig::new().init().unwrap();
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], &device).require_grad();
        for y in [[0, 1, 2], [4, 4, 4]] {
            let y = Tensor::<1, Int>::from_ints(y, &device);
            let value = loss.forward(e.clone(), y).unwrap();
            assert_eq!(value.clone().into_scalar::<f32>(), 0.0);
            let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
            assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
        }
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        // the positive pair sits on the last node, the negatives at similarity 0: no negative
        // is more similar than the positive
        assert!(value.clone().into_scalar::<f32>().abs() < 1e-6);
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }

    #[test]
    fn a_reference_set_is_rejected() {
        let device = Device::flex();
        let loss = HistogramLossConfig::new().init().unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let input = LossInput::new(e.clone(), y.clone()).with_reference(e, y);
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
    }
}
