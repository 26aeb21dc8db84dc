use burn::config::Config;

use super::class_head::{
    ClassHead, ClassHeadConfig, HeadSpec, LogitNorms, LogitScale, class_head_constructors,
};
use super::margin_rule::MarginRule;
use crate::reducer::Reducer;

/// Configuration of [`LargeMarginSoftmaxLoss`]; defaults are PML's
/// `LargeMarginSoftmaxLoss(num_classes, embedding_size)`.
#[derive(Config, Debug)]
pub struct LargeMarginSoftmaxLossConfig {
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

/// Large-margin softmax loss (Liu et al. 2016, "Large-Margin Softmax Loss for Convolutional
/// Neural Networks", L-Softmax), as PML's `LargeMarginSoftmaxLoss`.
///
/// With `c_ij` the cosine of embedding `i` with column `j` of `W` (`[d, C]`) and
/// `theta = acos(clamp(c, -1, 1))`, the target logit uses
/// `psi(theta) = (-1)^k cos(m theta) - 2k`, `k = floor(m theta / pi)`, instead of the cosine;
/// every logit is multiplied by `|x_i| |w_j| scale` and fed to a softmax cross-entropy, one value
/// per embedding (times PML's miner weight when pairs or triplets were mined), reduced by the
/// configured reducer (mean by default).
///
/// `W` is drawn from `N(0, 1)`, as PML's default `torch.nn.init.normal_`.
pub type LargeMarginSoftmaxLoss = ClassHead<LargeMarginSoftmaxLossConfig>;

impl ClassHeadConfig for LargeMarginSoftmaxLossConfig {
    const NAME: &'static str = "LargeMarginSoftmaxLoss";

    fn head(&self) -> HeadSpec {
        let rule = MarginRule::MultiplicativeAngle { margin: self.margin };
        let scale = LogitScale::Times(self.scale);
        HeadSpec::new(self.num_classes, self.embedding_size, rule, scale, self.reducer.clone())
            .with_norms(LogitNorms::EmbeddingAndClass)
            .with_miner_weights()
    }
}

class_head_constructors!(LargeMarginSoftmaxLossConfig, LargeMarginSoftmaxLoss);

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use super::*;
    use crate::error::LossError;
    use crate::loss::{LossInput, MetricLoss};

    #[test]
    fn rejects_bad_config() {
        let device = Device::flex();
        let bad = [
            LargeMarginSoftmaxLossConfig::new(0, 4),
            LargeMarginSoftmaxLossConfig::new(3, 0),
            LargeMarginSoftmaxLossConfig::new(3, 4).with_margin(0),
            LargeMarginSoftmaxLossConfig::new(3, 4).with_scale(0.0),
            LargeMarginSoftmaxLossConfig::new(3, 4).with_scale(f64::NAN),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
        let wrong = Tensor::<2>::zeros([4, 2], &device);
        assert!(matches!(
            LargeMarginSoftmaxLossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn degenerate_inputs_are_finite_with_a_connected_graph() {
        let device = Device::flex().autodiff();
        // a zero class column, and cosines of exactly 1 and -1 with the target class
        let w = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 0.0]], &device);
        let loss = LargeMarginSoftmaxLossConfig::new(2, 2).init_with(w).unwrap();
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

    #[test]
    fn rejects_out_of_range_labels_and_a_reference_set() {
        let device = Device::flex();
        let loss = LargeMarginSoftmaxLossConfig::new(3, 2).init(&device).unwrap();
        let x = Tensor::<2>::ones([2, 2], &device);
        let y = Tensor::<1, Int>::from_ints([0, 3], &device);
        assert!(matches!(
            loss.forward(x.clone(), y),
            Err(LossError::LabelOutOfRange { label: 3, num_classes: 3, .. })
        ));
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let input = LossInput::new(x.clone(), y.clone()).with_reference(x, y);
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
    }
}
