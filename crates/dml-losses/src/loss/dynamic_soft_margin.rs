use burn::config::Config;
use burn::module::{Module, RunningState};
use burn::tensor::{Device, Int, Tensor};

use super::fast_ap::running_sum_matrix;
use super::{DENSE_TRIPLET_BLOCK, LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_count, invalid};
use crate::miner::{Mined, Triplets, pair_product};
use crate::reducer::{LossTerm, Reducer};

const NAME: &str = "DynamicSoftMarginLoss";

/// Configuration of [`DynamicSoftMarginLoss`]; defaults are PML's `DynamicSoftMarginLoss()`.
#[derive(Config, Debug)]
pub struct DynamicSoftMarginLossConfig {
    /// Lower end of the histogram of `d(a, p) - d(a, n)`; the histogram covers
    /// `[min_val, -min_val]` (must be finite and < 0).
    #[config(default = -2.0)]
    pub min_val: f64,
    /// Number of bins of the histogram (its nodes are `min_val + b * delta`,
    /// `delta = 2 |min_val| / num_bins`).
    #[config(default = 10)]
    pub num_bins: usize,
    /// Weight of the current batch's histogram in the running one (in `[0, 1]`; the first
    /// batch that has a triplet sets the histogram on its own).
    #[config(default = 0.01)]
    pub momentum: f64,
    /// How embeddings are compared: an L2 distance of normalized embeddings (PML asserts
    /// `LpDistance(normalize_embeddings=True, p=2)`; the power is free).
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
}

/// Dynamic soft margin loss (Zhang and Rusinkiewicz, "Learning Local Descriptors with a
/// CDF-Based Dynamic Soft Margin", ICCV 2019), as PML's `DynamicSoftMarginLoss` with labels.
///
/// For every triplet `(a, p, n)` of the batch (or what a miner selected, with its
/// multiplicity), `x = d(a, p) - d(a, n)`. A running histogram `h` of `x` over `num_bins`
/// nodes `min_val + b delta` is updated from the batch by linear interpolation between the two
/// nearest nodes (`t = (x - min_val) / delta`, weight `1 - frac(t)` to node `floor(t)`,
/// `frac(t)` to the next), mixed with the previous histogram by `momentum` (1 for the first
/// batch) and normalized to sum 1. With `CDF_b = sum_{b' <= b} h_b'`:
///
/// `loss = mean over triplets of CDF_{floor(t)} * x`
///
/// The gradient flows through `x` and, as in PML, through the current batch's contribution to
/// the histogram. The histogram is the loss's state: a non-trainable buffer (Burn's
/// [`RunningState`]) that each call updates and that is saved and restored with the module's
/// record, so a resumed run continues with it. A batch without a triplet leaves it unchanged and
/// gives 0 with the graph connected.
#[derive(Module, Debug)]
pub struct DynamicSoftMarginLoss {
    /// The running histogram `h`, normalized to sum 1 once a batch with a triplet was seen
    /// (all zeros before).
    ///
    /// # Shapes
    /// - `[num_bins]`
    pub histogram: RunningState<Tensor<1>>,
    #[module(skip)]
    config: DynamicSoftMarginLossConfig,
}

impl DynamicSoftMarginLossConfig {
    /// Checks every field.
    pub fn validate(&self) -> LossResult<()> {
        check_count(NAME, "num_bins", self.num_bins)?;
        if !(self.min_val.is_finite() && self.min_val < 0.0) {
            return Err(invalid(
                NAME,
                "min_val",
                format!(
                    "must be finite and < 0 (the histogram covers [min_val, -min_val]), got {}",
                    self.min_val
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(invalid(
                NAME,
                "momentum",
                format!("must be in [0, 1], got {}", self.momentum),
            ));
        }
        match self.distance {
            Distance::Lp { normalize_embeddings: true, power, p }
                if p == 2.0 && power.is_finite() && power > 0.0 =>
            {
                Ok(())
            }
            _ => Err(invalid(
                NAME,
                "distance",
                "must be an L2 distance of normalized embeddings (Lp with p = 2, \
                 normalize_embeddings and a finite power > 0), as PML asserts",
            )),
        }
    }

    /// Validates the configuration and builds the loss with an empty histogram on `device`.
    pub fn init(&self, device: &Device) -> LossResult<DynamicSoftMarginLoss> {
        self.validate()?;
        let histogram = RunningState::new(Tensor::zeros([self.num_bins], device));
        Ok(DynamicSoftMarginLoss { histogram, config: self.clone() })
    }
}

/// The values `x = d(a, p) - d(a, n)` of a block of triplets and their multiplicities.
struct TripletBlock {
    /// `[k]`
    x: Tensor<1>,
    /// `[k]`
    weight: Tensor<1>,
}

impl DynamicSoftMarginLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &DynamicSoftMarginLossConfig {
        &self.config
    }

    /// The current histogram (detached).
    ///
    /// # Shapes
    /// - returns `[num_bins]`
    pub fn histogram(&self) -> Tensor<1> {
        self.histogram.value_sync()
    }

    /// Replaces the histogram (a run restored from elsewhere; a checkpoint restores it through
    /// the module's record).
    ///
    /// # Shapes
    /// - `histogram`: `[num_bins]`
    ///
    /// # Errors
    /// [`LossError::ShapeMismatch`] when it does not have `num_bins` entries.
    pub fn set_histogram(&self, histogram: Tensor<1>) -> LossResult<()> {
        if histogram.dims() != [self.config.num_bins] {
            return Err(LossError::ShapeMismatch {
                component: NAME,
                detail: format!(
                    "a histogram of {:?} entries for {} bins",
                    histogram.dims(),
                    self.config.num_bins
                ),
            });
        }
        self.store(histogram.detach());
        Ok(())
    }

    fn store(&self, histogram: Tensor<1>) {
        self.histogram.update(histogram);
        // Folds the update in at once, so the value read next (and saved) is this one.
        self.histogram.value_sync();
    }

    /// The triplets of the input as blocks of `x` values with their multiplicities.
    fn triplet_blocks(&self, input: &LossInput, mat: &Tensor<2>) -> Vec<TripletBlock> {
        let [n, m] = mat.dims();
        let dense = |weights: &dyn Fn(usize, usize) -> Tensor<3>| {
            // The [k, num_bins] bin masks are the largest tensors: bound them by the block.
            let per_anchor = (m * m * self.config.num_bins).max(1);
            let block = (DENSE_TRIPLET_BLOCK / per_anchor).max(1);
            let mut blocks = Vec::new();
            let mut start = 0;
            while start < n {
                let end = (start + block).min(n);
                let b = end - start;
                let rows = mat.clone().slice(start..end);
                let ap = rows.clone().reshape([b, m, 1]).expand([b, m, m]);
                let an = rows.reshape([b, 1, m]).expand([b, m, m]);
                blocks.push(TripletBlock {
                    x: (ap - an).reshape([b * m * m]),
                    weight: weights(start, end).reshape([b * m * m]),
                });
                start = end;
            }
            blocks
        };
        match input.mined.as_ref().map(Mined::to_triplets) {
            Some(Triplets::PerAnchor { positive, negative, valid }) => {
                let ap = mat.clone().gather(1, positive.reshape([n, 1]));
                let an = mat.clone().gather(1, negative.reshape([n, 1]));
                vec![TripletBlock { x: (ap - an).reshape([n]), weight: valid }]
            }
            Some(Triplets::Dense(mask)) => dense(&|a, b| mask.clone().slice(a..b)),
            None => {
                let (pos, neg) = input.pair_masks();
                dense(&|a, b| pair_product(&pos.clone().slice(a..b), &neg.clone().slice(a..b)))
            }
        }
    }
}

impl MetricLoss for DynamicSoftMarginLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        // The term is already reduced, which every reducer passes through.
        Reducer::Mean
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        let bins = c.num_bins;
        let delta = 2.0 * c.min_val.abs() / bins as f64;
        let mat = c.distance.matrix(input.embeddings.clone(), input.ref_embeddings());
        let device = mat.device();
        let nodes = Tensor::<1, Int>::arange(0..bins as i64, &device).float().reshape([1, bins]);

        // The batch's histogram, before mixing and normalizing: sum of w (1 - frac t) at node
        // floor(t) and w frac(t) at the next, with t clamped to the nodes (PML indexes past its
        // histogram outside them).
        let mut added = Tensor::<2>::zeros([1, bins], &device);
        let mut total = Tensor::<1>::zeros([1], &device);
        let mut parts = Vec::new();
        for TripletBlock { x, weight } in self.triplet_blocks(input, &mat) {
            let k = x.dims()[0];
            let t = x.clone().sub_scalar(c.min_val).div_scalar(delta);
            let inside = t.clone().greater_equal_elem(0.0).float();
            let clamped = t.clamp(0.0, (bins - 1) as f64);
            let low = clamped.clone().detach().floor();
            let alpha = clamped - low.clone();
            let at = |node: Tensor<1>| {
                node.reshape([k, 1])
                    .expand([k, bins])
                    .equal(nodes.clone().expand([k, bins]))
                    .float()
            };
            let low_mask = at(low.clone());
            let high_mask = at(low.add_scalar(1.0));
            let to_low = (weight.clone() * alpha.clone().neg().add_scalar(1.0)).reshape([1, k]);
            let to_high = (weight.clone() * alpha).reshape([1, k]);
            added = added + to_low.matmul(low_mask.clone()) + to_high.matmul(high_mask);
            total = total + weight.clone().sum();
            parts.push((x, weight, low_mask, inside));
        }

        let old = self.histogram.value_sync().to_device(&device).detach();
        let first = old.clone().sum().equal_elem(0.0).float(); // [1]
        let momentum = first.mul_scalar(1.0 - c.momentum).add_scalar(c.momentum); // [1]
        let mixed =
            old.clone() * momentum.clone().neg().add_scalar(1.0) + added.reshape([bins]) * momentum;
        let any = total.clone().greater_elem(0.0).float(); // [1]
        // Without a triplet the histogram stays as it was (and nothing divides by zero).
        let hist = mixed.clone() / (mixed.sum() + any.clone().neg().add_scalar(1.0));
        self.store(hist.clone().detach() * any.clone() + old * any.neg().add_scalar(1.0));

        let cdf = hist.reshape([1, bins]).matmul(running_sum_matrix(bins, &device)); // [1, B]
        let cdf = cdf.reshape([bins, 1]);
        let mut sum = Tensor::<1>::zeros([1], &device);
        for (x, weight, low_mask, inside) in parts {
            let k = x.dims()[0];
            let at_bin = low_mask.matmul(cdf.clone()).reshape([k]) * inside;
            sum = sum + (weight * at_bin * x).sum();
        }
        let loss = sum / total.clamp_min(1.0);
        Ok(vec![LossTerm::reduced("loss", loss)])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Int, TensorData};

    use super::*;

    fn hist(loss: &DynamicSoftMarginLoss) -> Vec<f32> {
        loss.histogram().into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn rejects_bad_config() {
        let device = Device::flex();
        let bad = [
            ("num_bins", DynamicSoftMarginLossConfig::new().with_num_bins(0)),
            ("min_val", DynamicSoftMarginLossConfig::new().with_min_val(0.0)),
            ("min_val", DynamicSoftMarginLossConfig::new().with_min_val(1.0)),
            ("min_val", DynamicSoftMarginLossConfig::new().with_min_val(f64::NEG_INFINITY)),
            ("momentum", DynamicSoftMarginLossConfig::new().with_momentum(-0.1)),
            ("momentum", DynamicSoftMarginLossConfig::new().with_momentum(1.5)),
            ("distance", DynamicSoftMarginLossConfig::new().with_distance(Distance::Cosine)),
            (
                "distance",
                DynamicSoftMarginLossConfig::new().with_distance(Distance::Lp {
                    normalize_embeddings: false,
                    power: 1.0,
                    p: 2.0,
                }),
            ),
        ];
        for (name, config) in bad {
            match config.init(&device) {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn no_triplet_gives_zero_with_a_connected_graph_and_keeps_the_histogram() {
        let device = Device::flex().autodiff();
        let loss = DynamicSoftMarginLossConfig::new().init(&device).unwrap();
        let e = Tensor::<2>::random([4, 3], Distribution::Default, &device).require_grad();
        let distinct = Tensor::<1, Int>::from_ints([0, 1, 2, 3], &device);
        let value = loss.forward(e.clone(), distinct.clone()).unwrap();
        assert_eq!(value.clone().into_scalar::<f32>(), 0.0);
        assert!(e.grad(&value.backward()).is_some(), "graph connected");
        assert_eq!(hist(&loss), vec![0.0; 10], "an empty histogram stays empty");

        let labels = Tensor::<1, Int>::from_ints([0, 0, 1, 1], &device);
        loss.forward(e.clone(), labels).unwrap();
        let after_first = hist(&loss);
        assert!((after_first.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let value = loss.forward(e.clone(), distinct).unwrap();
        assert_eq!(value.into_scalar::<f32>(), 0.0);
        assert_eq!(hist(&loss), after_first, "a batch without a triplet changes nothing");
    }

    #[test]
    fn the_histogram_is_saved_and_restored_with_the_record() {
        let device = Device::flex();
        let loss = DynamicSoftMarginLossConfig::new().with_momentum(0.5).init(&device).unwrap();
        let e = Tensor::<2>::random([8, 4], Distribution::Default, &device);
        let y = Tensor::<1, Int>::from_ints([0, 0, 1, 1, 2, 2, 3, 3], &device);
        loss.forward(e.clone(), y.clone()).unwrap();
        let saved = loss.clone().valid().into_record();
        let restored = DynamicSoftMarginLossConfig::new()
            .with_momentum(0.5)
            .init(&device)
            .unwrap()
            .load_record(saved);
        assert_eq!(hist(&restored), hist(&loss));
        let f = e.clone().mul_scalar(-1.0);
        let a = loss.forward(f.clone(), y.clone()).unwrap().into_scalar::<f32>();
        let b = restored.forward(f, y).unwrap().into_scalar::<f32>();
        assert_eq!(a, b, "the next call continues from the restored histogram");
        assert_eq!(hist(&restored), hist(&loss));
    }

    #[test]
    fn set_histogram_checks_its_length() {
        let device = Device::flex();
        let loss = DynamicSoftMarginLossConfig::new().init(&device).unwrap();
        let wrong = Tensor::<1>::from_data(TensorData::new(vec![0.5f32; 3], [3]), &device);
        assert!(matches!(loss.set_histogram(wrong), Err(LossError::ShapeMismatch { .. })));
    }

    /// Outside PML's range (where PML indexes past its histogram and fails), the values are
    /// finite: `x` below `min_val` weighs 0, above the last node it weighs 1.
    #[test]
    fn values_outside_the_histogram_are_finite() {
        let device = Device::flex().autodiff();
        // min_val -0.1: almost every x is outside [-0.1, 0.1].
        let loss = DynamicSoftMarginLossConfig::new().with_min_val(-0.1).init(&device).unwrap();
        let e = Tensor::<2>::from_floats(
            [[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [-1.0, 0.0], [0.9, 0.2], [0.0, -1.0]],
            &device,
        )
        .require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1, 1, 2, 2], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert!(value.clone().into_scalar::<f32>().is_finite());
        let g = e.grad(&value.backward()).unwrap();
        assert!(g.to_data().iter::<f32>().all(f32::is_finite));
        assert!(hist(&loss).iter().all(|h| h.is_finite()));
    }
}
