use burn::config::Config;

use super::class_head::{
    ClassHead, ClassHeadConfig, HeadSpec, LogitScale, class_head_constructors,
};
use super::margin_rule::{AngleVariant, MarginRule};
use crate::reducer::Reducer;

/// Configuration of [`ArcFaceLoss`]; defaults are PML's `ArcFaceLoss(num_classes, embedding_size)`.
#[derive(Config, Debug)]
pub struct ArcFaceLossConfig {
    /// Number of classes `C` (labels must be in `0..C`).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Additive angular margin, in degrees (PML converts it to radians).
    #[config(default = 28.6)]
    pub margin: f64,
    /// Multiplier of the cosine logits.
    #[config(default = 64.0)]
    pub scale: f64,
    /// How the per-embedding cross-entropies are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// ArcFace loss (Deng et al. 2019, "ArcFace: Additive Angular Margin Loss for Deep Face
/// Recognition"), as PML's `ArcFaceLoss`.
///
/// With `c_ij = x^_i . w^_j` (cosine of embedding `i` with the column `j` of `W`, `[d, C]`),
/// `theta = acos(clamp(c, -1, 1))` and the margin `m` in radians, the target logit is
/// `cos(theta + m)` when `theta <= pi - m` and `cos(theta) - m sin(m)` otherwise; the other
/// logits are `c_ij`. Everything is multiplied by `scale` and fed to a softmax cross-entropy,
/// one value per embedding, reduced by the configured reducer (mean by default).
///
/// `cos(theta + m)` is computed as `c cos(m) - sqrt(1 - c^2) sin(m)` with a square root whose
/// gradient is 0 at 0, so the gradient stays finite when `c = +-1` exactly (PyTorch's `acos`
/// gives an infinite one there).
///
/// `W` is drawn from `N(0, 1)`, as PML's default `torch.nn.init.normal_`. Mined pairs or
/// triplets are rejected (PML would turn them into per-embedding weights).
pub type ArcFaceLoss = ClassHead<ArcFaceLossConfig>;

impl ClassHeadConfig for ArcFaceLossConfig {
    const NAME: &'static str = "ArcFaceLoss";

    fn head(&self) -> HeadSpec {
        let rule = MarginRule::AdditiveAngle {
            margin: self.margin.to_radians(),
            variant: AngleVariant::Pml,
        };
        let scale = LogitScale::Times(self.scale);
        HeadSpec::new(self.num_classes, self.embedding_size, rule, scale, self.reducer.clone())
    }
}

class_head_constructors!(ArcFaceLossConfig, ArcFaceLoss);

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
            ArcFaceLossConfig::new(0, 4),
            ArcFaceLossConfig::new(3, 0),
            ArcFaceLossConfig::new(3, 4).with_scale(0.0),
            ArcFaceLossConfig::new(3, 4).with_scale(-1.0),
            ArcFaceLossConfig::new(3, 4).with_margin(f64::NAN),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
        let wrong = Tensor::<2>::zeros([4, 2], &device);
        assert!(matches!(
            ArcFaceLossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn rejects_out_of_range_labels() {
        let device = Device::flex();
        let loss = ArcFaceLossConfig::new(3, 2).init(&device).unwrap();
        let x = Tensor::<2>::ones([2, 2], &device);
        let y = Tensor::<1, Int>::from_ints([0, 3], &device);
        assert!(matches!(
            loss.forward(x, y),
            Err(LossError::LabelOutOfRange { label: 3, num_classes: 3, .. })
        ));
    }

    #[test]
    fn finite_gradient_when_aligned_with_a_class() {
        let device = Device::flex().autodiff();
        let w = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let loss = ArcFaceLossConfig::new(2, 2).init_with(w).unwrap();
        // cosines of exactly 1 and -1 with the target class, and exactly 1 with a non-target
        let x =
            Tensor::<2>::from_floats([[2.0, 0.0], [-3.0, 0.0], [0.0, 1.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 0], &device);
        let value = loss.forward(x.clone(), y).unwrap();
        assert!(value.to_data().iter::<f32>().all(f32::is_finite));
        let grads = value.backward();
        let g = x.grad(&grads).unwrap().to_data();
        assert!(g.iter::<f32>().all(f32::is_finite));
        let gw = loss.weight.val().grad(&grads).unwrap().to_data();
        assert!(gw.iter::<f32>().all(f32::is_finite));
    }
}
