use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use super::proxy_common::miner_weights;
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_count, invalid};
use crate::ops::{off_diagonal, relu, same_label};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "FastAPLoss";

/// Configuration of [`FastAPLoss`]; defaults are PML's `FastAPLoss(num_bins=10)`.
#[derive(Config, Debug)]
pub struct FastAPLossConfig {
    /// Number of histogram bins `B` (the histogram has `B + 1` nodes).
    #[config(default = 10)]
    pub num_bins: usize,
    /// The distance; must be the L2 distance of normalized embeddings, raised to some power
    /// (PML asserts `LpDistance(normalize_embeddings=True, p=2)`; its default is `power = 2`).
    #[config(default = "Distance::squared_l2()")]
    pub distance: Distance,
    /// How the per-anchor values are reduced (PML's default: mean over the anchors that have a
    /// positive).
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// FastAP (Cakir et al., "Deep Metric Learning to Rank", CVPR 2019), as PML's `FastAPLoss`: one
/// minus a histogram approximation of the average precision of each anchor's ranking of the
/// batch.
///
/// The distances `d_ij` (in `[0, 2^power]` for normalized embeddings) are spread over `B + 1`
/// evenly spaced nodes `z_b = b Delta`, `Delta = 2^power / B`, with triangular kernels
/// `k_b(d) = [1 - |d - z_b| / Delta]+`. With `P_i`, `N_i` the other-embedding positives and the
/// negatives of anchor `i`:
///
/// `h+_ib = sum_{j in P_i} k_b(d_ij)`, `H+_ib = sum_{b' <= b} h+_ib'`,
/// `H_ib = sum_{b' <= b} (h+_ib' + sum_{j in N_i} k_b'(d_ij))`
///
/// `loss_i = w_i (1 - (1 / |P_i|) sum_{b: h+_ib H+_ib > 0} h+_ib H+_ib / H_ib)`
///
/// `w_i` is 1, or PML's miner weight when pairs or triplets were mined (the pairs themselves are
/// always all of the batch's). Anchors without a positive are left out of the reduction; when no
/// anchor has one the loss is 0 with the graph connected (PML's zero loss).
#[derive(Module, Debug)]
pub struct FastAPLoss {
    #[module(skip)]
    config: FastAPLossConfig,
}

impl FastAPLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<FastAPLoss> {
        check_count(NAME, "num_bins", self.num_bins)?;
        match self.distance {
            Distance::Lp { normalize_embeddings: true, power, p }
                if p == 2.0 && power.is_finite() && power > 0.0 => {}
            _ => {
                return Err(invalid(
                    NAME,
                    "distance",
                    "must be the L2 distance of normalized embeddings (Lp with p = 2, \
                     normalize_embeddings = true and a finite power > 0), as PML asserts",
                ));
            }
        }
        self.distance.validate(NAME)?;
        self.reducer.validate()?;
        Ok(FastAPLoss { config: self.clone() })
    }
}

impl FastAPLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &FastAPLossConfig {
        &self.config
    }

    /// The power the L2 distance is raised to.
    fn power(&self) -> f64 {
        match self.config.distance {
            Distance::Lp { power, .. } => power,
            _ => 2.0,
        }
    }
}

/// `[k, k]` matrix with ones on and above the diagonal: `h.matmul(it)` is the running sum of
/// each row of `h` (a cumulative sum as one small product).
pub(crate) fn running_sum_matrix(k: usize, device: &Device) -> Tensor<2> {
    let data: Vec<f32> = (0..k * k).map(|idx| if idx / k <= idx % k { 1.0 } else { 0.0 }).collect();
    Tensor::from_data(TensorData::new(data, [k, k]), device)
}

impl MetricLoss for FastAPLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        if input.reference.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "a reference set (the loss ranks the batch against itself)".into(),
            });
        }
        let c = &self.config;
        let n = input.batch_size();
        let device = input.embeddings.device();
        let nodes = c.num_bins + 1;
        let top = 2f64.powf(self.power());
        let delta = top / c.num_bins as f64;
        let dist = c.distance.matrix(input.embeddings.clone(), input.embeddings.clone());
        let same = same_label(&input.labels, &input.labels);
        let pos = same.clone().bool_and(off_diagonal(n, n, &device)).float(); // [n, n]
        let neg = same.bool_not().float();
        let n_pos = pos.clone().sum_dim(1); // [n, 1]
        // Triangular kernels around the nodes: [n, n, B + 1].
        let node_values: Vec<f32> =
            (0..nodes).map(|b| (top * b as f64 / c.num_bins as f64) as f32).collect();
        let z = Tensor::<1>::from_floats(node_values.as_slice(), &device).reshape([1, 1, nodes]);
        let diff = dist.reshape([n, n, 1]) - z;
        let pulse = relu(diff.abs().div_scalar(delta).neg().add_scalar(1.0));
        let hist = |mask: Tensor<2>| {
            (pulse.clone() * mask.reshape([n, n, 1])).sum_dim(1).reshape([n, nodes])
        };
        let pos_hist = hist(pos);
        let neg_hist = hist(neg);
        let cum = running_sum_matrix(nodes, &device);
        let pos_total = pos_hist.clone().matmul(cum.clone());
        let total = (pos_hist.clone() + neg_hist).matmul(cum);
        let product = pos_hist * pos_total;
        let safe = product.clone().greater_elem(0.0).bool_and(total.clone().greater_elem(0.0));
        let ratio = (product / total.clamp_min(1e-30)).mask_fill(safe.clone().bool_not(), 0.0);
        // PML returns its zero loss when no bin of any anchor is usable.
        let any_safe = safe.float().sum().greater_elem(0.0).float().reshape([1, 1]);
        let ap = ratio.sum_dim(1) / n_pos.clone().clamp_min(1.0); // [n, 1]
        let mut loss = ap.neg().add_scalar(1.0) * any_safe;
        if input.mined.is_some() {
            loss = loss * miner_weights(input, false);
        }
        let has_pos = n_pos.greater_elem(0.0).float();
        Ok(vec![LossTerm::masked(
            "loss",
            TermKind::Element,
            loss.reshape([n]),
            has_pos.reshape([n]),
        )])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use super::*;

    #[test]
    fn rejects_bad_config_naming_the_field() {
        let bad = [
            (FastAPLossConfig::new().with_num_bins(0), "num_bins"),
            (FastAPLossConfig::new().with_distance(Distance::Cosine), "distance"),
            (FastAPLossConfig::new().with_distance(Distance::euclidean(false, 2.0)), "distance"),
            (FastAPLossConfig::new().with_distance(Distance::euclidean(true, 0.0)), "distance"),
            (FastAPLossConfig::new().with_reducer(Reducer::Divisor { divisor: -1.0 }), "divisor"),
        ];
        for (config, name) in bad {
            match config.init() {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(FastAPLossConfig::new().with_distance(Distance::l2()).init().is_ok());
    }

    #[test]
    fn running_sum_matrix_is_a_cumulative_sum() {
        let d = Device::flex();
        let h = Tensor::<2>::from_floats([[1.0, 2.0, 3.0]], &d);
        let s = h.matmul(running_sum_matrix(3, &d)).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(s, vec![1.0, 3.0, 6.0]);
    }

    /// PML returns its zero loss when no anchor has a positive; so does this loss, with the graph
    /// connected. Exact duplicates (zero distances, on a node) give a finite gradient.
    #[test]
    fn no_positive_gives_zero_and_duplicates_are_finite() {
        let device = Device::flex().autodiff();
        let loss = FastAPLossConfig::new().init().unwrap();
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 1, 2], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert_eq!(value.clone().into_scalar::<f32>(), 0.0);
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");

        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert!(value.clone().into_scalar::<f32>().is_finite());
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }

    #[test]
    fn a_reference_set_is_rejected() {
        let device = Device::flex();
        let loss = FastAPLossConfig::new().init().unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 0], &device);
        let input = LossInput::new(e.clone(), y.clone()).with_reference(e, y);
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
        assert!(!loss.accepts_reference());
    }
}
