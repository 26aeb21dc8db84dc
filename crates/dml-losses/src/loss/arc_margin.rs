use burn::config::Config;

use super::class_head::{
    ClassHead, ClassHeadConfig, HeadSpec, LogitScale, class_head_constructors,
};
use super::margin_rule::{AngleVariant, MarginRule};
use crate::reducer::Reducer;

/// Configuration of [`ArcMarginLoss`]; defaults are those of PaddleClas's `ArcMargin` head as
/// used for classification pre-training (margin 0.15 rad, scale 80).
#[derive(Config, Debug)]
pub struct ArcMarginLossConfig {
    /// Number of classes `C` (labels must be in `0..C`; Paddle's `class_num`).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Additive angular margin `m`, in radians.
    #[config(default = 0.15)]
    pub margin: f64,
    /// Multiplier `s` of the logits.
    #[config(default = 80.0)]
    pub scale: f64,
    /// Apply the margin only where the cosine is positive (and no fallback elsewhere).
    #[config(default = false)]
    pub easy_margin: bool,
    /// How the per-embedding cross-entropies are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// PaddlePaddle's `ArcMargin` classification head (PaddleClas `ppcls/arch/gears/arcmargin.py`,
/// after Deng et al. 2019, "ArcFace") followed by softmax cross-entropy.
///
/// With `c_ij = x^_i . w^_j` (`W` is `[d, C]`, rows of `x` and columns of `W` L2-normalized),
/// `sin = sqrt(max(1 - c^2 + 1e-6, 0))` and `phi = c cos(m) - sin sin(m)`:
/// - default: `phi' = phi` where `c > cos(pi - m)`, else `c - m sin(m)`;
/// - `easy_margin`: `phi' = phi` where `c > 0`, else `c`.
///
/// The logits are `s (onehot * phi' + (1 - onehot) * c)`; the loss is the softmax
/// cross-entropy per embedding, reduced by the configured reducer (mean by default).
///
/// This is [`ArcFaceLoss`](super::ArcFaceLoss)'s additive angle in Paddle's transcription
/// ([`AngleVariant::Paddle`] / [`AngleVariant::PaddleEasy`]: no clamp, `1e-6` under the square
/// root, a strict threshold, the margin in radians), computed for the target cosines only. The
/// square root has gradient 0 where its argument is 0 (Paddle's is infinite there); the two
/// agree wherever the argument exceeds `1e-16`, i.e. for every `|c| < 1 + 5e-7`. `W` is drawn
/// with Xavier-normal initialisation (`N(0, 2 / (d + C))`), as PaddleClas does. Mined pairs or
/// triplets are rejected.
pub type ArcMarginLoss = ClassHead<ArcMarginLossConfig>;

impl ClassHeadConfig for ArcMarginLossConfig {
    const NAME: &'static str = "ArcMarginLoss";

    fn head(&self) -> HeadSpec {
        let variant =
            if self.easy_margin { AngleVariant::PaddleEasy } else { AngleVariant::Paddle };
        let rule = MarginRule::AdditiveAngle { margin: self.margin, variant };
        let scale = LogitScale::Times(self.scale);
        let xavier_std = (2.0 / (self.embedding_size + self.num_classes) as f64).sqrt();
        HeadSpec::new(self.num_classes, self.embedding_size, rule, scale, self.reducer.clone())
            .with_init_std(xavier_std)
    }
}

class_head_constructors!(ArcMarginLossConfig, ArcMarginLoss);

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
            ArcMarginLossConfig::new(0, 4),
            ArcMarginLossConfig::new(3, 0),
            ArcMarginLossConfig::new(3, 4).with_scale(0.0),
            ArcMarginLossConfig::new(3, 4).with_margin(f64::NAN),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
    }

    #[test]
    fn rejects_out_of_range_labels() {
        let device = Device::flex();
        let loss = ArcMarginLossConfig::new(2, 2).init(&device).unwrap();
        let x = Tensor::<2>::ones([2, 2], &device);
        let y = Tensor::<1, Int>::from_ints([0, 2], &device);
        assert!(matches!(loss.forward(x, y), Err(LossError::LabelOutOfRange { label: 2, .. })));
    }
}
