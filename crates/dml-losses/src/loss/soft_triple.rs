use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

use super::classification::{check_class_counts, check_shape, cross_entropy, target_mask};
use super::proxy_common::{check_proxy_input, miner_weights};
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_count, check_finite, check_positive, invalid};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "SoftTripleLoss";

/// Configuration of [`SoftTripleLoss`]; defaults are PML's
/// `SoftTripleLoss(num_classes, embedding_size, centers_per_class=10, la=20, gamma=0.1,
/// margin=0.01)`.
#[derive(Config, Debug)]
pub struct SoftTripleLossConfig {
    /// Number of classes `C` (labels must be in `0..C`).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Number of centers `K` per class.
    #[config(default = 10)]
    pub centers_per_class: usize,
    /// Scale `lambda` of the class logits in the cross-entropy (PML's `la`).
    #[config(default = 20.0)]
    pub la: f64,
    /// Temperature `gamma` of the softmax over a class's centers: the similarities are
    /// multiplied by `1 / gamma` inside it.
    #[config(default = 0.1)]
    pub gamma: f64,
    /// Margin `delta` subtracted from the target class's similarity.
    #[config(default = 0.01)]
    pub margin: f64,
    /// How embeddings are compared with centers; must be a similarity (PML asserts it; the
    /// default is cosine).
    #[config(default = "Distance::Cosine")]
    pub distance: Distance,
    /// How the per-embedding cross-entropies are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// SoftTriple loss (Qian et al., "SoftTriple Loss: Deep Metric Learning Without Triplet
/// Sampling", ICCV 2019), as PML's `SoftTripleLoss`.
///
/// Each class `c` has `K` learnable centers `w_c1 .. w_cK` (columns of `centers`). With
/// `s_ick = S(x_i, w_ck)` (cosine by default), the similarity of embedding `i` to class `c` is
/// the softmax-weighted mean of its centers' similarities,
/// `S_ic = sum_k softmax_k(s_ick / gamma) s_ick`, and
///
/// `loss_i = w_i * CE(la * (S_i - delta e_{y_i}), y_i)`
///
/// a softmax cross-entropy over classes with the margin `delta` on the target class. `w_i` is 1,
/// or PML's miner weight (how often `i` occurs in the mined pairs or triplets, divided by the
/// largest count) when something was mined. As in PML, the paper's regularizer on the centers
/// is not part of the loss.
#[derive(Module, Debug)]
pub struct SoftTripleLoss {
    /// The learnable centers, as PML's `fc`: column `c * K + k` is center `k` of class `c`.
    ///
    /// # Shapes
    /// - `[embedding_size, num_classes * centers_per_class]`
    pub centers: Param<Tensor<2>>,
    #[module(skip)]
    config: SoftTripleLossConfig,
}

impl SoftTripleLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)?;
        check_count(NAME, "centers_per_class", self.centers_per_class)?;
        check_positive(NAME, "la", self.la)?;
        check_positive(NAME, "gamma", self.gamma)?;
        check_finite(NAME, "margin", self.margin)?;
        if !self.distance.is_inverted() {
            return Err(invalid(
                NAME,
                "distance",
                "must be a similarity (Cosine or DotProduct), as PML asserts",
            ));
        }
        self.distance.validate(NAME)?;
        self.reducer.validate()
    }

    /// Number of center columns, `num_classes * centers_per_class`.
    pub fn num_centers(&self) -> usize {
        self.num_classes * self.centers_per_class
    }

    /// Validates the configuration and builds the loss with centers drawn as PML does:
    /// `kaiming_uniform_(a=sqrt(5))` on the `[d, C K]` matrix, i.e. uniform in
    /// `[-1/sqrt(C K), 1/sqrt(C K)]` (PyTorch's fan-in of that matrix is its column count).
    pub fn init(&self, device: &Device) -> LossResult<SoftTripleLoss> {
        self.validate()?;
        let bound = 1.0 / (self.num_centers() as f64).sqrt();
        let centers = Tensor::<2>::random(
            [self.embedding_size, self.num_centers()],
            Distribution::Uniform(-bound, bound),
            device,
        );
        self.init_with(centers)
    }

    /// Validates the configuration and builds the loss with the given initial centers.
    ///
    /// # Shapes
    /// - `centers`: `[embedding_size, num_classes * centers_per_class]`
    pub fn init_with(&self, centers: Tensor<2>) -> LossResult<SoftTripleLoss> {
        self.validate()?;
        check_shape(NAME, "centers", &centers.dims(), &[self.embedding_size, self.num_centers()])?;
        Ok(SoftTripleLoss { centers: Param::from_tensor(centers), config: self.clone() })
    }
}

impl SoftTripleLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &SoftTripleLossConfig {
        &self.config
    }

    /// The similarity `S_ic` of every embedding to every class: the softmax-weighted (over the
    /// class's centers, at temperature `gamma`) mean of its similarities to the centers.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]` -> `[n, num_classes]`
    pub fn class_similarities(&self, embeddings: Tensor<2>) -> Tensor<2> {
        let c = &self.config;
        let n = embeddings.dims()[0];
        let (classes, k) = (c.num_classes, c.centers_per_class);
        let sim = c.distance.matrix(embeddings, self.centers.val().transpose()); // [n, C K]
        let sim = sim.reshape([n, classes, k]);
        let scaled = sim.clone().div_scalar(c.gamma);
        let max = scaled.clone().max_dim(2).detach();
        let weights = (scaled - max).exp();
        let norm = weights.clone().sum_dim(2);
        let mean = (weights * sim).sum_dim(2) / norm; // [n, C, 1]
        mean.reshape([n, classes])
    }
}

impl MetricLoss for SoftTripleLoss {
    /// Compares embeddings with class centers, so a single embedding is enough.
    fn needs_pairs(&self) -> bool {
        false
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    /// The centers as PML's `fc.t()`: `[C K, d]`, class-major.
    fn class_weights(&self) -> Option<super::ClassWeights> {
        Some(super::ClassWeights {
            weights: self.centers.val().transpose(),
            centers_per_class: self.config.centers_per_class,
        })
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        check_proxy_input(NAME, input, c.num_classes, c.embedding_size)?;
        let n = input.batch_size();
        let target = target_mask(&input.labels, c.num_classes);
        let sim = self.class_similarities(input.embeddings.clone());
        let logits = (sim - target.clone().mul_scalar(c.margin)).mul_scalar(c.la);
        let mut loss = cross_entropy(logits, target);
        if input.mined.is_some() {
            loss = loss * miner_weights(input, false).reshape([n]);
        }
        Ok(vec![LossTerm::dense("loss", TermKind::Element, loss)])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Int;

    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config_naming_the_field() {
        let bad = [
            (SoftTripleLossConfig::new(0, 4), "num_classes"),
            (SoftTripleLossConfig::new(3, 0), "embedding_size"),
            (SoftTripleLossConfig::new(3, 4).with_centers_per_class(0), "centers_per_class"),
            (SoftTripleLossConfig::new(3, 4).with_la(0.0), "la"),
            (SoftTripleLossConfig::new(3, 4).with_gamma(-0.1), "gamma"),
            (SoftTripleLossConfig::new(3, 4).with_gamma(f64::NAN), "gamma"),
            (SoftTripleLossConfig::new(3, 4).with_margin(f64::INFINITY), "margin"),
            (SoftTripleLossConfig::new(3, 4).with_distance(Distance::l2()), "distance"),
            (
                SoftTripleLossConfig::new(3, 4).with_reducer(Reducer::Divisor { divisor: 0.0 }),
                "divisor",
            ),
        ];
        for (config, name) in bad {
            match config.validate() {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        let d = Device::flex();
        let wrong = Tensor::<2>::zeros([4, 3], &d);
        assert!(matches!(
            SoftTripleLossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn rejects_out_of_range_labels_and_a_reference_set() {
        let d = Device::flex();
        let loss = SoftTripleLossConfig::new(3, 2).init(&d).unwrap();
        let x = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &d);
        let y = Tensor::<1, Int>::from_ints([0, 3], &d);
        assert!(matches!(
            loss.forward(x.clone(), y.clone()),
            Err(LossError::LabelOutOfRange { label: 3, num_classes: 3, .. })
        ));
        let ok = Tensor::<1, Int>::from_ints([0, 1], &d);
        let input = LossInput::new(x.clone(), ok.clone()).with_reference(x, ok);
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
    }

    #[test]
    fn init_draws_kaiming_uniform_centers() {
        let d = Device::flex();
        let loss = SoftTripleLossConfig::new(4, 64).init(&d).unwrap();
        let w = loss.centers.val();
        assert_eq!(w.dims(), [64, 40]);
        let bound = 1.0 / 40f32.sqrt();
        let max: f32 = w.clone().abs().max().into_scalar();
        assert!(max <= bound, "{max} > {bound}");
        // uniform on [-b, b] has variance b^2 / 3
        let var: f32 = w.square().mean().into_scalar();
        assert!((var - bound * bound / 3.0).abs() < 0.2 * bound * bound / 3.0, "variance {var}");
    }

    /// One embedding is enough, a zero embedding gives a finite gradient, and identical centers
    /// (a softmax over equal values) are fine.
    #[test]
    fn finite_on_a_single_zero_embedding_with_equal_centers() {
        let d = Device::flex().autodiff();
        let centers = Tensor::<2>::ones([2, 4], &d);
        let loss = SoftTripleLossConfig::new(2, 2).with_centers_per_class(2).init_with(centers);
        let loss = loss.unwrap();
        let x = Tensor::<2>::zeros([1, 2], &d).require_grad();
        let y = Tensor::<1, Int>::from_ints([1], &d);
        let value = loss.forward(x.clone(), y).unwrap();
        let v: f32 = value.clone().into_scalar();
        assert!(v.is_finite());
        let g = x.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }
}
