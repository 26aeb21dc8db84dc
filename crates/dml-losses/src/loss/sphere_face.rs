use burn::config::Config;

use super::LargeMarginSoftmaxLossConfig;
use super::class_head::{
    ClassHead, ClassHeadConfig, HeadSpec, LogitNorms, class_head_constructors,
};
use crate::reducer::Reducer;

/// Configuration of [`SphereFaceLoss`]; defaults are PML's
/// `SphereFaceLoss(num_classes, embedding_size)` (those of `LargeMarginSoftmaxLoss`).
#[derive(Config, Debug)]
pub struct SphereFaceLossConfig {
    /// Number of classes `C` (labels must be in `0..C`).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// The integer angle multiplier `m` applied to the target class's angle (at least 1).
    #[config(default = 4)]
    pub margin: usize,
    /// Multiplier of the logits.
    #[config(default = 1.0)]
    pub scale: f64,
    /// How the per-embedding cross-entropies are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// SphereFace loss (Liu et al. 2017, "SphereFace: Deep Hypersphere Embedding for Face
/// Recognition", A-Softmax), as PML's `SphereFaceLoss`.
///
/// The large-margin softmax of [`super::LargeMarginSoftmaxLoss`] with unit class weights: the
/// target logit uses `psi(theta) = (-1)^k cos(m theta) - 2k`, `k = floor(m theta / pi)`, the
/// others the cosine `c_ij` of embedding `i` with column `j` of `W` (`[d, C]`), and every logit
/// is multiplied by `|x_i| scale` only (the column norms do not enter). Softmax cross-entropy,
/// one value per embedding (times PML's miner weight when pairs or triplets were mined), reduced
/// by the configured reducer (mean by default).
///
/// `W` is drawn from `N(0, 1)`, as PML's default `torch.nn.init.normal_`.
pub type SphereFaceLoss = ClassHead<SphereFaceLossConfig>;

impl ClassHeadConfig for SphereFaceLossConfig {
    const NAME: &'static str = "SphereFaceLoss";

    /// L-Softmax's head (PML's `SphereFaceLoss` subclasses `LargeMarginSoftmaxLoss`) with the
    /// embedding norm only in the logits.
    fn head(&self) -> HeadSpec {
        let large_margin = LargeMarginSoftmaxLossConfig::new(self.num_classes, self.embedding_size)
            .with_margin(self.margin)
            .with_scale(self.scale)
            .with_reducer(self.reducer.clone());
        large_margin.head().with_norms(LogitNorms::Embedding)
    }
}

class_head_constructors!(SphereFaceLossConfig, SphereFaceLoss);

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use super::*;
    use crate::error::LossError;
    use crate::loss::MetricLoss;

    #[test]
    fn rejects_bad_config() {
        let device = Device::flex();
        let bad = [
            SphereFaceLossConfig::new(0, 4),
            SphereFaceLossConfig::new(3, 0),
            SphereFaceLossConfig::new(3, 4).with_margin(0),
            SphereFaceLossConfig::new(3, 4).with_scale(-1.0),
            SphereFaceLossConfig::new(3, 4).with_scale(f64::INFINITY),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
        let wrong = Tensor::<2>::zeros([4, 2], &device);
        assert!(matches!(
            SphereFaceLossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn column_norms_do_not_matter() {
        let device = Device::flex();
        let w = Tensor::<2>::from_floats([[1.0, 0.5], [0.2, -1.0]], &device);
        let x = Tensor::<2>::from_floats([[2.0, 0.3], [-0.5, 1.5]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let value = |w: Tensor<2>| {
            let loss = SphereFaceLossConfig::new(2, 2).init_with(w).unwrap();
            loss.forward(x.clone(), y.clone()).unwrap().into_scalar::<f32>()
        };
        let scaled = w.clone() * Tensor::<2>::from_floats([[3.0, 0.25]], &device);
        assert!((value(w) - value(scaled)).abs() < 1e-5);
    }

    #[test]
    fn degenerate_inputs_are_finite_with_a_connected_graph() {
        let device = Device::flex().autodiff();
        // a zero class column, and cosines of exactly 1 and -1 with the target class
        let w = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 0.0]], &device);
        let loss = SphereFaceLossConfig::new(2, 2).init_with(w).unwrap();
        let x =
            Tensor::<2>::from_floats([[2.0, 0.0], [-3.0, 0.0], [0.0, 0.0], [0.0, 1.0]], &device)
                .require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 0, 1], &device);
        let value = loss.forward(x.clone(), y).unwrap();
        assert!(value.to_data().iter::<f32>().all(f32::is_finite));
        let grads = value.backward();
        let gx = x.grad(&grads).expect("embeddings in the graph").to_data();
        assert!(gx.iter::<f32>().all(f32::is_finite));
        let gw = loss.weight.val().grad(&grads).expect("weight in the graph").to_data();
        assert!(gw.iter::<f32>().all(f32::is_finite));
    }
}
