use burn::config::Config;
use burn::tensor::Tensor;

use super::Regularizer;
use super::regularizer_trait::check_reducer;
use crate::distance::Distance;
use crate::error::{LossResult, invalid};
use crate::ops::{MASKED_LOGIT, off_diagonal};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "RegularFaceRegularizer";

/// Configuration of [`RegularFaceRegularizer`]; defaults are PML's `RegularFaceRegularizer()`
/// (`CosineSimilarity()`).
#[derive(Config, Debug)]
pub struct RegularFaceRegularizerConfig {
    /// How rows are compared: a similarity (`Cosine`, or `DotProduct`), as PML asserts.
    #[config(default = "Distance::Cosine")]
    pub distance: Distance,
    /// How the per-row values are reduced; `None`: PML's default, the mean.
    #[config(default = "None")]
    pub reducer: Option<Reducer>,
}

/// RegularFace's exclusive regularization (Zhao et al., "RegularFace: Deep Face Recognition
/// via Exclusive Regularization", CVPR 2019; PML's `RegularFaceRegularizer`): for each row
/// `i`, its similarity to the most similar other row, `max_{j != i} s(w_i, w_j)`, reduced by
/// the mean; pushes class weights apart. The nearest row is chosen without gradient, as PML
/// does (a single row is compared with itself, as PML's fully masked row picks column 0).
#[derive(Clone, Debug)]
pub struct RegularFaceRegularizer {
    config: RegularFaceRegularizerConfig,
}

impl RegularFaceRegularizerConfig {
    /// Validates the configuration and builds the regularizer.
    pub fn init(&self) -> LossResult<RegularFaceRegularizer> {
        self.distance.validate(NAME)?;
        if !self.distance.is_inverted() {
            return Err(invalid(
                NAME,
                "distance",
                "must be a similarity (Cosine or DotProduct), as PML asserts",
            ));
        }
        check_reducer(NAME, &self.reducer)?;
        Ok(RegularFaceRegularizer { config: self.clone() })
    }
}

impl Regularizer for RegularFaceRegularizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone().unwrap_or(Reducer::Mean)
    }

    fn terms(&self, x: Tensor<2>) -> LossResult<Vec<LossTerm>> {
        let rows = x.dims()[0];
        let device = x.device();
        let sim = self.config.distance.matrix(x.clone(), x); // [rows, rows]
        let others = off_diagonal(rows, rows, &device);
        let nearest = sim.clone().detach().mask_fill(others.bool_not(), MASKED_LOGIT).argmax(1);
        let reg = sim.gather(1, nearest).reshape([rows]);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, reg)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn a_distance_is_refused() {
        let err =
            RegularFaceRegularizerConfig::new().with_distance(Distance::l2()).init().unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "distance", .. }), "{err}");
    }
}
