use burn::config::Config;

use super::ArcFaceLossConfig;
use super::class_head::{ClassHead, ClassHeadConfig, HeadSpec, class_head_constructors};
use crate::reducer::Reducer;

/// Configuration of [`SubCenterArcFaceLoss`]; defaults are PML's
/// `SubCenterArcFaceLoss(num_classes=..., embedding_size=...)`.
#[derive(Config, Debug)]
pub struct SubCenterArcFaceLossConfig {
    /// Number of classes `C` (labels must be in `0..C`).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Additive angular margin, in degrees.
    #[config(default = 28.6)]
    pub margin: f64,
    /// Multiplier of the cosine logits.
    #[config(default = 64.0)]
    pub scale: f64,
    /// Number of sub-centers `k` per class.
    #[config(default = 3)]
    pub sub_centers: usize,
    /// How the per-embedding cross-entropies are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Sub-center ArcFace loss (Deng et al. 2020, "Sub-center ArcFace: Boosting Face Recognition
/// by Large-Scale Noisy Web Faces"), as PML's `SubCenterArcFaceLoss` (the loss only, not its
/// outlier-detection helper).
///
/// `W` is `[d, C * k]`; column `j * k + s` is sub-center `s` of class `j` (PML's
/// `view(-1, C, k)`). The cosine of embedding `i` with class `j` is the largest cosine with the
/// class's sub-centers, `c_ij = max_s x^_i . w^_{jk+s}` (the gradient goes to the chosen
/// sub-center), and the rest is [`ArcFaceLoss`](super::ArcFaceLoss): the target logit is
/// `cos(theta + m)` (or `cos(theta) - m sin(m)` past `pi - m`), everything times `scale`,
/// softmax cross-entropy per embedding, reduced by the configured reducer (mean by default).
///
/// `W` is drawn from `N(0, 1)`, as PML's default `torch.nn.init.normal_`; its cosines with each
/// class are [`ClassHead::class_cosine`]. Mined pairs or triplets are rejected (PML would turn
/// them into per-embedding weights).
pub type SubCenterArcFaceLoss = ClassHead<SubCenterArcFaceLossConfig>;

impl ClassHeadConfig for SubCenterArcFaceLossConfig {
    const NAME: &'static str = "SubCenterArcFaceLoss";

    /// ArcFace's head (PML's `SubCenterArcFaceLoss` subclasses `ArcFaceLoss`) with
    /// `sub_centers` columns per class.
    fn head(&self) -> HeadSpec {
        let arc_face = ArcFaceLossConfig::new(self.num_classes, self.embedding_size)
            .with_margin(self.margin)
            .with_scale(self.scale)
            .with_reducer(self.reducer.clone());
        arc_face.head().with_sub_centers(self.sub_centers)
    }
}

class_head_constructors!(SubCenterArcFaceLossConfig, SubCenterArcFaceLoss);

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
            SubCenterArcFaceLossConfig::new(0, 4),
            SubCenterArcFaceLossConfig::new(3, 0),
            SubCenterArcFaceLossConfig::new(3, 4).with_sub_centers(0),
            SubCenterArcFaceLossConfig::new(3, 4).with_scale(0.0),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
        let wrong = Tensor::<2>::zeros([4, 3], &device);
        assert!(matches!(
            SubCenterArcFaceLossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn rejects_out_of_range_labels() {
        let device = Device::flex();
        let loss = SubCenterArcFaceLossConfig::new(2, 2).init(&device).unwrap();
        let x = Tensor::<2>::ones([2, 2], &device);
        let y = Tensor::<1, Int>::from_ints([0, 5], &device);
        assert!(matches!(loss.forward(x, y), Err(LossError::LabelOutOfRange { label: 5, .. })));
    }
}
