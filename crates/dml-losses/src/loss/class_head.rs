//! [`ClassHead`]: the one class-weight head behind `LargeMarginSoftmaxLoss`, `SphereFaceLoss`,
//! `ArcFaceLoss`, `CosFaceLoss`, `NormalizedSoftmaxLoss`, `SubCenterArcFaceLoss` and
//! `ArcMarginLoss`; each of those is `ClassHead<its configuration>`, and the configuration
//! says, through [`ClassHeadConfig::head`], which [`HeadSpec`] (margin rule, scale, norms,
//! sub-centers, initialisation) it computes.

use std::fmt::Debug;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::classification::{
    check_class_counts, check_class_input, class_weight_param, cosine_with_columns, cross_entropy,
    normal_matrix, target_mask,
};
use super::margin_rule::MarginRule;
use super::proxy_common::miner_weights;
use super::{ClassWeights, LossInput, MetricLoss};
use crate::error::{LossResult, check_count, check_positive};
use crate::ops::safe_sqrt;
use crate::reducer::{LossTerm, Reducer, TermKind};

/// A configuration of a class-weight head loss: its name and the [`HeadSpec`] its fields
/// describe. Implemented by the configurations of the losses that are [`ClassHead`]s.
pub trait ClassHeadConfig: Clone + Debug + Send + Sync + 'static {
    /// The loss's name (the reference's class name), used in errors.
    const NAME: &'static str;

    /// What the loss computes with these fields.
    fn head(&self) -> HeadSpec;
}

/// How the logits are scaled after the margin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LogitScale {
    /// Multiplied by the configuration's `scale` (finite and positive).
    Times(f64),
    /// Divided by the configuration's `temperature` (finite and positive).
    DividedBy(f64),
}

/// The vector norms that multiply the logits (the cosines with the margin), besides the scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitNorms {
    /// None: the logits are the (scaled) cosines.
    Unit,
    /// The embedding's norm `|x_i|` (`SphereFaceLoss`).
    Embedding,
    /// The embedding's and the class column's norms, `|x_i| |w_j|` (`LargeMarginSoftmaxLoss`:
    /// the logit is `x_i . w_j` without the margin).
    EmbeddingAndClass,
}

/// What a [`ClassHead`] computes, as its configuration describes it (built with
/// [`HeadSpec::new`] and the `with_*` methods).
///
/// For each embedding `x_i` (label `y_i`) and class `j` the head takes the cosine `c_ij` of
/// `x_i` with the class's column of `W` (with sub-centers, the largest cosine with the class's
/// columns), puts the [`MarginRule`] on the target cosine `c_{i y_i}`, multiplies by the
/// [`LogitNorms`] and the [`LogitScale`], and takes the softmax cross-entropy of the row, times
/// PML's miner weight of `x_i` when the head takes mined pairs or triplets.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadSpec {
    /// Number of classes `C`.
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Columns of `W` per class (1; `SubCenterArcFaceLoss`'s `sub_centers`).
    pub sub_centers: usize,
    /// The margin on the target cosine.
    pub rule: MarginRule,
    /// The multiplier of the logits.
    pub scale: LogitScale,
    /// The norms that multiply the logits.
    pub norms: LogitNorms,
    /// The standard deviation of the `N(0, std^2)` draw of the initial `W`.
    pub init_std: f64,
    /// Whether mined pairs or triplets are taken, as per-embedding weights (PML's
    /// `convert_to_weights`); without, a configuration with a miner is rejected.
    pub miner_weights: bool,
    /// How the per-embedding cross-entropies are reduced.
    pub reducer: Reducer,
}

impl HeadSpec {
    /// A head of `num_classes` classes of size `embedding_size` with the given margin rule
    /// and scale: one column per class, no norms in the logits, `W` from `N(0, 1)` (PML's
    /// default `torch.nn.init.normal_`), no mined input.
    pub fn new(
        num_classes: usize,
        embedding_size: usize,
        rule: MarginRule,
        scale: LogitScale,
        reducer: Reducer,
    ) -> Self {
        HeadSpec {
            num_classes,
            embedding_size,
            sub_centers: 1,
            rule,
            scale,
            norms: LogitNorms::Unit,
            init_std: 1.0,
            miner_weights: false,
            reducer,
        }
    }

    /// With `sub_centers` columns per class.
    pub fn with_sub_centers(self, sub_centers: usize) -> Self {
        HeadSpec { sub_centers, ..self }
    }

    /// With the given norms in the logits.
    pub fn with_norms(self, norms: LogitNorms) -> Self {
        HeadSpec { norms, ..self }
    }

    /// With `W` drawn from `N(0, init_std^2)`.
    pub fn with_init_std(self, init_std: f64) -> Self {
        HeadSpec { init_std, ..self }
    }

    /// Taking mined pairs or triplets as per-embedding weights.
    pub fn with_miner_weights(self) -> Self {
        HeadSpec { miner_weights: true, ..self }
    }

    /// The number of columns of `W`: `num_classes * sub_centers`.
    pub fn columns(&self) -> usize {
        self.num_classes.saturating_mul(self.sub_centers)
    }

    /// Checks every field, naming the configuration's: the class count, the embedding size,
    /// the sub-center count, the margin, the scale (or temperature) and the reducer.
    pub fn validate(&self, component: &'static str) -> LossResult<()> {
        check_class_counts(component, self.num_classes, self.embedding_size)?;
        check_count(component, "sub_centers", self.sub_centers)?;
        self.rule.validate(component)?;
        match self.scale {
            LogitScale::Times(scale) => check_positive(component, "scale", scale)?,
            LogitScale::DividedBy(temperature) => {
                check_positive(component, "temperature", temperature)?
            }
        }
        self.reducer.validate()
    }
}

/// A classification head with a learnable class weight matrix `W` (`[d, C k]`, one column per
/// class, or `k` consecutive columns per class with sub-centers) and a softmax cross-entropy
/// over the classes, with the margin, scale and norms that the configuration `C` describes
/// (its [`HeadSpec`]). See the aliases [`super::ArcFaceLoss`], [`super::CosFaceLoss`],
/// [`super::SphereFaceLoss`], [`super::LargeMarginSoftmaxLoss`],
/// [`super::NormalizedSoftmaxLoss`], [`super::SubCenterArcFaceLoss`] and
/// [`super::ArcMarginLoss`] for each loss's formula and reference.
///
/// Per embedding `i`: `loss_i = w_i (logsumexp_j z_ij - z_{i y_i})` with the logits
/// `z_ij = scale * norms_ij * (rule(c_ij) if j = y_i else c_ij)`, `c_ij` the cosine of `x_i`
/// with class `j` and `w_i` 1 (or PML's miner weight); reduced by the configured reducer
/// (mean by default). A reference set is rejected.
#[derive(Module, Debug)]
pub struct ClassHead<C: ClassHeadConfig> {
    /// The class weights `W`, one column per class (`sub_centers` consecutive columns per
    /// class for `SubCenterArcFaceLoss`: column `j k + s` is sub-center `s` of class `j`).
    ///
    /// # Shapes
    /// - `[embedding_size, num_classes * sub_centers]`
    pub weight: Param<Tensor<2>>,
    #[module(skip)]
    config: C,
}

impl<C: ClassHeadConfig> ClassHead<C> {
    /// Validates `config` and builds the head with `W` drawn from `N(0, init_std^2)`.
    pub fn new(config: &C, device: &Device) -> LossResult<Self> {
        let spec = config.head();
        spec.validate(C::NAME)?;
        let w = normal_matrix([spec.embedding_size, spec.columns()], spec.init_std, device);
        Self::with_weight(config, w)
    }

    /// Validates `config` and builds the head with the given class weights.
    ///
    /// # Shapes
    /// - `weight`: `[embedding_size, num_classes * sub_centers]`
    pub fn with_weight(config: &C, weight: Tensor<2>) -> LossResult<Self> {
        let spec = config.head();
        spec.validate(C::NAME)?;
        let weight = class_weight_param(C::NAME, weight, spec.embedding_size, spec.columns())?;
        Ok(ClassHead { weight, config: config.clone() })
    }

    /// The configuration the loss was built with.
    pub fn config(&self) -> &C {
        &self.config
    }

    /// Cosine of each embedding with each class: with the class's column, or the largest
    /// with its sub-centers' columns (the gradient goes to the chosen sub-center).
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]` -> `[n, C]`
    pub fn class_cosine(&self, embeddings: Tensor<2>) -> Tensor<2> {
        let spec = self.config.head();
        let n = embeddings.dims()[0];
        let all = cosine_with_columns(embeddings, self.weight.val());
        if spec.sub_centers == 1 {
            return all;
        }
        let (classes, k) = (spec.num_classes, spec.sub_centers);
        all.reshape([n, classes, k]).max_dim(2).reshape([n, classes])
    }

    /// The logits: the class cosines with the margin rule on the target classes, times the
    /// norms and the scale.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `target`: `[n, C]` (one-hot) -> `[n, C]`
    fn logits(&self, spec: &HeadSpec, embeddings: Tensor<2>, target: Tensor<2>) -> Tensor<2> {
        let cosine = self.class_cosine(embeddings.clone());
        let logits = spec.rule.apply(cosine, target);
        let logits = match spec.norms {
            LogitNorms::Unit => logits,
            LogitNorms::Embedding => logits * row_norms(embeddings),
            LogitNorms::EmbeddingAndClass => {
                let w_norm = row_norms(self.weight.val().transpose()).transpose(); // [1, C]
                logits * row_norms(embeddings) * w_norm
            }
        };
        match spec.scale {
            LogitScale::Times(scale) => logits.mul_scalar(scale),
            LogitScale::DividedBy(temperature) => logits.div_scalar(temperature),
        }
    }
}

/// Euclidean norm of every row, with gradient 0 for a zero row (as PyTorch's `norm`).
///
/// # Shapes
/// - `x`: `[n, d]` -> `[n, 1]`
fn row_norms(x: Tensor<2>) -> Tensor<2> {
    safe_sqrt(x.square().sum_dim(1))
}

impl<C: ClassHeadConfig> MetricLoss for ClassHead<C> {
    /// Compares embeddings with class weights, so a single embedding is enough.
    fn needs_pairs(&self) -> bool {
        false
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn accepts_mined(&self) -> bool {
        self.config.head().miner_weights
    }

    fn name(&self) -> &'static str {
        C::NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.head().reducer
    }

    /// PML's `W.t()`: `W` transposed, one row per column as stored (`[C, d]`; `[C k, d]` with
    /// sub-centers, class-major: rows `j k .. (j + 1) k` are class `j`'s). `W` as stored,
    /// `[d, C k]`, is the `weight` field.
    fn class_weights(&self) -> Option<ClassWeights> {
        let centers_per_class = self.config.head().sub_centers;
        Some(ClassWeights { weights: self.weight.val().transpose(), centers_per_class })
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let spec = self.config.head();
        let (classes, d) = (spec.num_classes, spec.embedding_size);
        check_class_input(C::NAME, input, d, classes, spec.miner_weights)?;
        let target = target_mask(&input.labels, classes);
        let logits = self.logits(&spec, input.embeddings.clone(), target.clone());
        let mut loss = cross_entropy(logits, target);
        if spec.miner_weights && input.mined.is_some() {
            loss = loss * miner_weights(input, false).reshape([input.batch_size()]);
        }
        Ok(vec![LossTerm::dense("loss", TermKind::Element, loss)])
    }
}

/// The constructors every class-head configuration has: `validate`, `init` and `init_with`,
/// as inherent methods of the configuration `$config` building the loss type `$loss`.
macro_rules! class_head_constructors {
    ($config:ty, $loss:ty) => {
        impl $config {
            /// Checks every field without building the loss (no random draws).
            pub fn validate(&self) -> $crate::error::LossResult<()> {
                $crate::loss::ClassHeadConfig::head(self)
                    .validate(<Self as $crate::loss::ClassHeadConfig>::NAME)
            }

            /// Validates the configuration and builds the loss with `W` drawn from
            /// `N(0, std^2)`, the reference's initialisation (see the loss).
            pub fn init(&self, device: &burn::tensor::Device) -> $crate::error::LossResult<$loss> {
                <$loss>::new(self, device)
            }

            /// Validates the configuration and builds the loss with the given class weights.
            ///
            /// # Shapes
            /// - `weight`: `[embedding_size, num_classes]` (`[embedding_size, num_classes *
            ///   sub_centers]` with sub-centers)
            pub fn init_with(
                &self,
                weight: burn::tensor::Tensor<2>,
            ) -> $crate::error::LossResult<$loss> {
                <$loss>::with_weight(self, weight)
            }
        }
    };
}

pub(crate) use class_head_constructors;

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, Tensor};

    use super::*;
    use crate::error::LossError;
    use crate::loss::{
        ArcFaceLossConfig, LargeMarginSoftmaxLossConfig, NormalizedSoftmaxLossConfig,
        SubCenterArcFaceLossConfig,
    };
    use crate::miner::Mined;

    #[test]
    fn class_weights_are_the_stored_columns_as_rows() {
        let device = Device::flex();
        let arc = ArcFaceLossConfig::new(3, 4).init(&device).unwrap();
        let w = arc.class_weights().unwrap();
        assert_eq!((w.weights.dims(), w.centers_per_class), ([3, 4], 1));
        let sub = SubCenterArcFaceLossConfig::new(3, 4).with_sub_centers(2).init(&device).unwrap();
        let w = sub.class_weights().unwrap();
        assert_eq!((w.weights.dims(), w.centers_per_class), ([6, 4], 2));
        let stored = sub.weight.val().transpose().to_data().try_to_vec::<f32>().unwrap();
        assert_eq!(w.weights.to_data().try_to_vec::<f32>().unwrap(), stored);
    }

    #[test]
    fn sub_centers_give_each_class_its_best_column() {
        let device = Device::flex();
        // class 0: columns 0, 1; class 1: columns 2, 3
        let w = Tensor::<2>::from_floats([[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, -1.0]], &device);
        let config = SubCenterArcFaceLossConfig::new(2, 2).with_sub_centers(2);
        let loss = config.init_with(w).unwrap();
        let x = Tensor::<2>::from_floats([[0.0, 2.0], [-3.0, 0.0]], &device);
        let got = loss.class_cosine(x).to_data().try_to_vec::<f32>().unwrap();
        assert_eq!(got, vec![1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn errors_name_the_configuration_field() {
        let device = Device::flex();
        let field = |r: LossResult<()>| match r {
            Err(LossError::InvalidConfig { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(NormalizedSoftmaxLossConfig::new(2, 2).with_temperature(0.0).validate()),
            "temperature"
        );
        assert_eq!(
            field(SubCenterArcFaceLossConfig::new(2, 2).with_sub_centers(0).validate()),
            "sub_centers"
        );
        assert_eq!(field(ArcFaceLossConfig::new(2, 2).with_scale(f64::NAN).validate()), "scale");
        assert_eq!(
            field(LargeMarginSoftmaxLossConfig::new(2, 2).with_margin(0).validate()),
            "margin"
        );
        let failed = ArcFaceLossConfig::new(0, 2).init(&device).map(drop);
        assert_eq!(field(failed), "num_classes");
    }

    #[test]
    fn mined_input_only_where_the_head_takes_miner_weights() {
        let device = Device::flex();
        let x = Tensor::<2>::ones([2, 2], &device);
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let pairs = Tensor::<2>::from_floats([[0.0, 1.0], [0.0, 0.0]], &device);
        let mined = Mined::Pairs { positive: pairs.zeros_like(), negative: pairs };
        let input = LossInput::new(x, y).with_mined(mined);
        let arc = ArcFaceLossConfig::new(2, 2).init(&device).unwrap();
        assert!(!arc.accepts_mined());
        assert!(matches!(arc.forward_input(&input), Err(LossError::Unsupported { .. })));
        let large = LargeMarginSoftmaxLossConfig::new(2, 2).init(&device).unwrap();
        assert!(large.accepts_mined());
        let value = large.forward_input(&input).unwrap().into_scalar::<f32>();
        assert!(value.is_finite());
    }
}
