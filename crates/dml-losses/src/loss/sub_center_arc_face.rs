use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::arc_face::arc_margin_cosine;
use super::classification::{
    check_class_counts, check_input, class_weight_param, cosine_with_columns, cross_entropy,
    normal_matrix, target_mask,
};
use super::{LossInput, MetricLoss};
use crate::error::{LossResult, check_count, check_finite, check_positive};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "SubCenterArcFaceLoss";

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
#[derive(Module, Debug)]
pub struct SubCenterArcFaceLoss {
    /// The sub-center weights `W`, `sub_centers` consecutive columns per class.
    ///
    /// # Shapes
    /// - `[embedding_size, num_classes * sub_centers]`
    pub weight: Param<Tensor<2>>,
    #[module(skip)]
    config: SubCenterArcFaceLossConfig,
}

impl SubCenterArcFaceLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)?;
        check_count(NAME, "sub_centers", self.sub_centers)?;
        check_finite(NAME, "margin", self.margin)?;
        check_positive(NAME, "scale", self.scale)?;
        self.reducer.validate()
    }

    /// Validates the configuration and builds the loss with `W` drawn from `N(0, 1)`, as PML's
    /// default `torch.nn.init.normal_`.
    pub fn init(&self, device: &Device) -> LossResult<SubCenterArcFaceLoss> {
        self.validate()?;
        let w =
            normal_matrix([self.embedding_size, self.num_classes * self.sub_centers], 1.0, device);
        self.init_with(w)
    }

    /// Validates the configuration and builds the loss with the given sub-center weights.
    ///
    /// # Shapes
    /// - `weight`: `[embedding_size, num_classes * sub_centers]`
    pub fn init_with(&self, weight: Tensor<2>) -> LossResult<SubCenterArcFaceLoss> {
        self.validate()?;
        let weight = class_weight_param(
            NAME,
            weight,
            self.embedding_size,
            self.num_classes * self.sub_centers,
        )?;
        Ok(SubCenterArcFaceLoss { weight, config: self.clone() })
    }
}

impl SubCenterArcFaceLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &SubCenterArcFaceLossConfig {
        &self.config
    }

    /// Cosine of each embedding with its closest sub-center of each class.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]` -> `[n, C]`
    pub fn class_cosine(&self, embeddings: Tensor<2>) -> Tensor<2> {
        let n = embeddings.dims()[0];
        let (classes, k) = (self.config.num_classes, self.config.sub_centers);
        let all = cosine_with_columns(embeddings, self.weight.val());
        all.reshape([n, classes, k]).max_dim(2).reshape([n, classes])
    }
}

impl MetricLoss for SubCenterArcFaceLoss {
    /// Compares embeddings with class weights or proxies, so a single embedding is enough.
    fn needs_pairs(&self) -> bool {
        false
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn accepts_mined(&self) -> bool {
        false
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    /// The sub-centers as PML's `W.t()`: `[C K, d]`, class-major.
    fn class_weights(&self) -> Option<super::ClassWeights> {
        Some(super::ClassWeights {
            weights: self.weight.val().transpose(),
            centers_per_class: self.config.sub_centers,
        })
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        check_input(self.name(), input, c.embedding_size, c.num_classes)?;
        let target = target_mask(&input.labels, c.num_classes);
        let cosine = self.class_cosine(input.embeddings.clone());
        let modified = arc_margin_cosine(cosine.clone(), c.margin.to_radians());
        let logits = (cosine.clone() + (modified - cosine) * target.clone()).mul_scalar(c.scale);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, cross_entropy(logits, target))])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, Tensor};

    use super::*;
    use crate::error::LossError;

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
