use burn::config::Config;

use super::{Regularized, RegularizerConfig};
use crate::error::{LossResult, check_finite, invalid};
use crate::loss::{LossConfig, MetricLoss};

/// Regularizers attached to a loss, as PML's `EmbeddingRegularizerMixin` and
/// `WeightRegularizerMixin` keyword arguments (same names, same defaults): each regularizer's
/// reduced value times its weight joins the loss as the sub-loss `embedding_reg_loss` or
/// `weight_reg_loss`, which every reducer passes through. In TOML:
///
/// ```toml
/// [regularization]
/// embedding_regularizer = { LpRegularizer = { power = 2 } }
/// embedding_reg_weight = 0.1
/// ```
#[derive(Config, Debug)]
pub struct RegularizationConfig {
    /// Penalty on the batch's embeddings (the query embeddings, not a reference set).
    #[config(default = "None")]
    pub embedding_regularizer: Option<RegularizerConfig>,
    /// Factor of the embedding penalty.
    #[config(default = 1.0)]
    pub embedding_reg_weight: f64,
    /// Penalty on the loss's learnable class weights or proxies, one row per class (or per
    /// center); only for losses that have them.
    #[config(default = "None")]
    pub weight_regularizer: Option<RegularizerConfig>,
    /// Factor of the weight penalty.
    #[config(default = 1.0)]
    pub weight_reg_weight: f64,
}

impl RegularizationConfig {
    /// Checks every field, and that a weight regularizer is only asked of a loss with
    /// learnable class weights, without building anything.
    pub fn validate_for(&self, loss: &LossConfig) -> LossResult<()> {
        const NAME: &str = "regularization";
        check_finite(NAME, "embedding_reg_weight", self.embedding_reg_weight)?;
        check_finite(NAME, "weight_reg_weight", self.weight_reg_weight)?;
        if let Some(r) = &self.embedding_regularizer {
            r.validate(false)?;
        }
        if let Some(r) = &self.weight_regularizer {
            if !loss.has_class_weights() {
                return Err(no_weights(loss.name()));
            }
            let k = Self::centers_per_class_of(loss);
            let weighted = loss.class_weight_loss().unwrap_or(loss);
            let classes = weighted.classes().map_or(1, |(c, _)| c.max(1));
            r.for_class_weights(classes * k, k).validate(true)?;
        }
        Ok(())
    }

    /// Rows per class of the class weights `loss` will hand a weight regularizer
    /// ([`crate::ClassWeights::centers_per_class`]), known from its configuration (inside a
    /// composite, of [`LossConfig::class_weight_loss`]).
    pub fn centers_per_class_of(loss: &LossConfig) -> usize {
        match loss.class_weight_loss().unwrap_or(loss) {
            LossConfig::SoftTripleLoss(c) => c.centers_per_class,
            LossConfig::SubCenterArcFaceLoss(c) => c.sub_centers,
            _ => 1,
        }
    }

    /// Validates the configuration and wraps `loss` with the regularizers.
    ///
    /// # Errors
    /// [`crate::LossError::InvalidConfig`] naming the field: a bad regularizer setting, or a
    /// `weight_regularizer` for a loss without learnable class weights.
    pub fn init<L: MetricLoss>(&self, loss: L) -> LossResult<Regularized<L>> {
        const NAME: &str = "regularization";
        check_finite(NAME, "embedding_reg_weight", self.embedding_reg_weight)?;
        check_finite(NAME, "weight_reg_weight", self.weight_reg_weight)?;
        let embedding = match &self.embedding_regularizer {
            Some(r) => Some((r.init()?, self.embedding_reg_weight)),
            None => None,
        };
        let weight = match &self.weight_regularizer {
            Some(r) => {
                let Some(cw) = loss.class_weights() else {
                    return Err(no_weights(loss.name()));
                };
                let rows = cw.weights.dims()[0];
                Some((
                    r.for_class_weights(rows, cw.centers_per_class).init()?,
                    self.weight_reg_weight,
                ))
            }
            None => None,
        };
        Ok(Regularized::new(loss, embedding, weight))
    }
}

fn no_weights(loss: &'static str) -> crate::error::LossError {
    invalid(
        loss,
        "weight_regularizer",
        "needs a loss with learnable class weights or proxies (ProxyAnchorLoss, SoftTripleLoss, \
         ArcFaceLoss, ...; in a MultipleLosses, exactly one of its losses with them); use \
         embedding_regularizer for a penalty on the embeddings",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;
    use crate::loss::{ContrastiveLossConfig, ProxyAnchorLossConfig, SoftTripleLossConfig};
    use crate::regularizer::SparseCentersRegularizerConfig;

    fn sparse() -> RegularizationConfig {
        let r = RegularizerConfig::SparseCentersRegularizer(SparseCentersRegularizerConfig::new());
        RegularizationConfig::new().with_weight_regularizer(Some(r))
    }

    #[test]
    fn a_weight_regularizer_needs_learnable_class_weights_with_enough_centers() {
        let pair = LossConfig::ContrastiveLoss(ContrastiveLossConfig::new());
        let err = sparse().validate_for(&pair).unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "weight_regularizer", .. }));
        let one = LossConfig::ProxyAnchorLoss(ProxyAnchorLossConfig::new(5, 4));
        let err = sparse().validate_for(&one).unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "centers_per_class", .. }));
        let three =
            LossConfig::SoftTripleLoss(SoftTripleLossConfig::new(5, 4).with_centers_per_class(3));
        sparse().validate_for(&three).unwrap();
        let bad = RegularizationConfig::new().with_embedding_reg_weight(f64::NAN);
        assert!(bad.validate_for(&pair).is_err());
    }
}
