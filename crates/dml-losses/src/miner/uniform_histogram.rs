use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{IndexingUpdateOp, Int, Tensor};

use super::{Mined, Miner, all_pairs};
use crate::distance::Distance;
use crate::error::{LossResult, invalid};

/// Fill value that no real distance or similarity reaches.
const FAR: f64 = 1e30;

/// Configuration of [`UniformHistogramMiner`]; defaults are PML's `UniformHistogramMiner()`,
/// plus the seed of dml's deterministic sampling.
#[derive(Config, Debug)]
pub struct UniformHistogramMinerConfig {
    /// Number of equal-width bins between the smallest and the largest value of each kind.
    #[config(default = 100)]
    pub num_bins: usize,
    /// Positive pairs drawn (with replacement) from every non-empty bin.
    #[config(default = 10)]
    pub pos_per_bin: usize,
    /// Negative pairs drawn (with replacement) from every non-empty bin.
    #[config(default = 10)]
    pub neg_per_bin: usize,
    /// Seed of the draws: the same seed, batches and call order give the same pairs.
    #[config(default = 0)]
    pub seed: u64,
    /// How embeddings are compared.
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
}

/// PML's `UniformHistogramMiner`: the positive pairs' distances (or similarities) are split
/// into `num_bins` equal-width bins between their minimum and maximum, and `pos_per_bin` pairs
/// are drawn uniformly, with replacement, from every non-empty bin; the same for the negative
/// pairs with `neg_per_bin`. A pair drawn twice counts twice.
///
/// PML draws with `torch.multinomial`; here the draws come from a seeded counter-based
/// generator on the host (uploaded, nothing read back), so a run is reproducible from
/// [`UniformHistogramMinerConfig::seed`]; each call advances the generator.
#[derive(Module, Debug)]
pub struct UniformHistogramMiner {
    #[module(skip)]
    config: UniformHistogramMinerConfig,
    /// Number of calls so far (the generator's counter).
    #[module(skip)]
    calls: Arc<AtomicU64>,
}

impl UniformHistogramMinerConfig {
    /// Validates the configuration and builds the miner.
    pub fn init(&self) -> LossResult<UniformHistogramMiner> {
        const NAME: &str = "UniformHistogramMiner";
        for (field, v) in [
            ("num_bins", self.num_bins),
            ("pos_per_bin", self.pos_per_bin),
            ("neg_per_bin", self.neg_per_bin),
        ] {
            if v == 0 {
                return Err(invalid(NAME, field, "must be at least 1"));
            }
        }
        self.distance.validate(NAME)?;
        Ok(UniformHistogramMiner { config: self.clone(), calls: Arc::new(AtomicU64::new(0)) })
    }
}

/// SplitMix64: the `i`-th output of the stream `seed`.
fn splitmix64(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `count` uniform numbers in `[0, 1)` (24 bits each, exact in float32) of stream `stream`.
pub(crate) fn uniforms(seed: u64, stream: u64, count: usize) -> Vec<f32> {
    let key = splitmix64(seed, stream);
    (0..count as u64).map(|i| (splitmix64(key, i) >> 40) as f32 / (1u64 << 24) as f32).collect()
}

/// The bin of every entry of `values` among `bins` equal-width bins between the smallest and
/// the largest entry where `valid` is 1 (PML's `torch.linspace` edges, half-open bins, the
/// last one closed); `bins` for entries that are not valid.
///
/// # Shapes
/// - `values`, `valid`: `[p]` -> `[p]`
pub(crate) fn histogram_bins(values: &Tensor<1>, valid: &Tensor<1>, bins: usize) -> Tensor<1, Int> {
    let [p] = values.dims();
    let device = values.device();
    let invalid = valid.clone().lower_equal_elem(0.0);
    let low = values.clone().mask_fill(invalid.clone(), FAR).min(); // [1]
    let high = values.clone().mask_fill(invalid.clone(), -FAR).max(); // [1]
    let b = bins as f64;
    let step = (high.clone() - low.clone()).div_scalar(b);
    // The interior edges 1..bins-1, from the lower end in the first half and from the upper
    // end in the second, as torch.linspace.
    let steps = bins + 1;
    let half = steps / 2;
    let mut edges = Vec::with_capacity(bins.saturating_sub(1));
    let mut from_low = Vec::with_capacity(bins.saturating_sub(1));
    for i in 1..bins {
        edges.push(if i < half { i as f32 } else { (bins - i) as f32 });
        from_low.push(if i < half { 1.0f32 } else { 0.0 });
    }
    let bin = if bins > 1 {
        let k = Tensor::<1>::from_floats(edges.as_slice(), &device);
        let lowm = Tensor::<1>::from_floats(from_low.as_slice(), &device);
        let step_k = step.expand([bins - 1]) * k;
        let e = (low.expand([bins - 1]) + step_k.clone()) * lowm.clone()
            + (high.expand([bins - 1]) - step_k) * lowm.neg().add_scalar(1.0);
        values
            .clone()
            .reshape([p, 1])
            .expand([p, bins - 1])
            .greater_equal(e.reshape([1, bins - 1]).expand([p, bins - 1]))
            .int()
            .sum_dim(1)
            .reshape([p])
    } else {
        Tensor::<1, Int>::zeros([p], &device)
    };
    bin.mask_fill(invalid, bins as i64)
}

impl UniformHistogramMiner {
    /// Multiplicities of the pairs drawn from `valid`, `per_bin` from every non-empty bin.
    fn draw(
        &self,
        values: Tensor<2>,
        valid: Tensor<2>,
        per_bin: usize,
        uniform: Vec<f32>,
    ) -> Tensor<2> {
        let [n, m] = values.dims();
        let p = n * m;
        let bins = self.config.num_bins;
        let device = values.device();
        let v = values.reshape([p]);
        let w = valid.reshape([p]);
        let bin = histogram_bins(&v, &w, bins);
        let counts = crate::ops::one_hot(&bin, bins + 1).float().sum_dim(0).reshape([bins + 1]);
        let counts = counts.slice(0..bins);
        let starts = counts.clone().cumsum(0) - counts.clone();
        // Pairs ordered by bin (then by index): every bin is a contiguous run.
        let key = bin.mul_scalar(p as i64) + Tensor::<1, Int>::arange(0..p as i64, &device);
        let order = key.argsort(0);
        let u = Tensor::<1>::from_floats(uniform.as_slice(), &device).reshape([bins, per_bin]);
        let c = counts.clone().reshape([bins, 1]).expand([bins, per_bin]);
        let r = (u * c.clone()).floor().min_pair(c.clone().sub_scalar(1.0).clamp_min(0.0));
        let at = (starts.reshape([bins, 1]).expand([bins, per_bin]) + r).reshape([bins * per_bin]);
        let weight = c.greater_elem(0.0).float().reshape([bins * per_bin]);
        let sorted = Tensor::<1>::zeros([p], &device).select_assign(
            0,
            at.int(),
            weight,
            IndexingUpdateOp::Add,
        );
        sorted.gather(0, order.argsort(0)).reshape([n, m])
    }
}

impl Miner for UniformHistogramMiner {
    fn name(&self) -> &'static str {
        "UniformHistogramMiner"
    }

    fn mine_against(
        &self,
        embeddings: Tensor<2>,
        labels: &Tensor<1, Int>,
        ref_embeddings: Tensor<2>,
        ref_labels: &Tensor<1, Int>,
        same_set: bool,
    ) -> LossResult<Mined> {
        let c = &self.config;
        let mat = c.distance.matrix(embeddings, ref_embeddings);
        let (pos, neg) = all_pairs(labels, ref_labels, same_set);
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let b = c.num_bins;
        let u_pos = uniforms(c.seed, 2 * call, b * c.pos_per_bin);
        let u_neg = uniforms(c.seed, 2 * call + 1, b * c.neg_per_bin);
        let positive = self.draw(mat.clone(), pos, c.pos_per_bin, u_pos);
        let negative = self.draw(mat, neg, c.neg_per_bin, u_neg);
        Ok(Mined::Pairs { positive, negative })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;
    use burn::tensor::Device;

    #[test]
    fn rejects_zero_bins_or_draws() {
        let c = UniformHistogramMinerConfig::new;
        for (config, name) in [
            (c().with_num_bins(0), "num_bins"),
            (c().with_pos_per_bin(0), "pos_per_bin"),
            (c().with_neg_per_bin(0), "neg_per_bin"),
        ] {
            let err = config.init().unwrap_err();
            assert!(matches!(err, LossError::InvalidConfig { field, .. } if field == name));
        }
    }

    #[test]
    fn uniforms_are_in_0_1_and_reproducible() {
        let a = uniforms(7, 3, 1000);
        assert_eq!(a, uniforms(7, 3, 1000));
        assert_ne!(a, uniforms(8, 3, 1000));
        assert!(a.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = a.iter().map(|&x| x as f64).sum::<f64>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05);
    }

    #[test]
    fn every_non_empty_bin_gives_its_draws_and_one_class_mines_no_negative() {
        let device = Device::flex();
        let e = Tensor::<2>::from_floats([[0.0, 1.0], [0.1, 1.0], [1.0, 0.0], [0.9, 0.2]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 0, 0, 0], &device);
        let miner = UniformHistogramMinerConfig::new().with_num_bins(3).init().unwrap();
        let Mined::Pairs { positive, negative } = miner.mine(e, y).unwrap() else {
            panic!("pairs expected")
        };
        let pos: Vec<f32> = positive.into_data().try_to_vec().unwrap();
        let neg: Vec<f32> = negative.into_data().try_to_vec().unwrap();
        assert!(neg.iter().all(|&x| x == 0.0));
        for i in 0..4 {
            assert_eq!(pos[i * 4 + i], 0.0, "an embedding paired with itself");
        }
        let total: f32 = pos.iter().sum();
        assert!(total > 0.0 && total % 10.0 == 0.0 && total <= 30.0);
    }
}
