use burn::config::Config;
use burn::tensor::Tensor;

use super::Regularizer;
use super::regularizer_trait::check_reducer;
use crate::distance::Distance;
use crate::error::{LossResult, invalid};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "CenterInvariantRegularizer";

/// Configuration of [`CenterInvariantRegularizer`]; defaults are PML's
/// `CenterInvariantRegularizer()` (`LpDistance(power=1, normalize_embeddings=False)`).
#[derive(Config, Debug)]
pub struct CenterInvariantRegularizerConfig {
    /// The norm of the rows: an `Lp` distance with `power = 1` and no normalization (PML
    /// asserts both); its `p` is the norm's order.
    #[config(default = "Distance::euclidean(false, 1.0)")]
    pub distance: Distance,
    /// How the per-row values are reduced; `None`: PML's default, the mean.
    #[config(default = "None")]
    pub reducer: Option<Reducer>,
}

/// Center-invariant loss (Wu et al., "Deep Face Recognition with Center Invariant Loss",
/// ACM MM Thematic Workshops 2017; PML's `CenterInvariantRegularizer`): with `s_i = |w_i|^2`
/// the squared norm of row `i`, `(s_i - mean_j s_j)^2 / 4` per row, reduced by the mean;
/// pushes every class weight (or embedding) to the same norm.
#[derive(Clone, Debug)]
pub struct CenterInvariantRegularizer {
    config: CenterInvariantRegularizerConfig,
}

impl CenterInvariantRegularizerConfig {
    /// Validates the configuration and builds the regularizer.
    pub fn init(&self) -> LossResult<CenterInvariantRegularizer> {
        self.distance.validate(NAME)?;
        if !matches!(
            self.distance,
            Distance::Lp { normalize_embeddings: false, power, .. } if power == 1.0
        ) {
            return Err(invalid(
                NAME,
                "distance",
                "must be Lp with power = 1 and normalize_embeddings = false, as PML asserts",
            ));
        }
        check_reducer(NAME, &self.reducer)?;
        Ok(CenterInvariantRegularizer { config: self.clone() })
    }
}

impl Regularizer for CenterInvariantRegularizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone().unwrap_or(Reducer::Mean)
    }

    fn terms(&self, x: Tensor<2>) -> LossResult<Vec<LossTerm>> {
        let rows = x.dims()[0];
        let squared = match self.config.distance {
            // |w|_2^2 directly: the same value, and gradient 2w also at a zero row.
            Distance::Lp { p: 2.0, .. } => x.square().sum_dim(1),
            d => d.norms(x).square(),
        };
        let deviation = squared.clone() - squared.mean_dim(0);
        let reg = deviation.square().div_scalar(4.0).reshape([rows]);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, reg)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn only_an_unnormalized_norm_is_accepted() {
        for d in [Distance::l2(), Distance::Cosine, Distance::euclidean(false, 2.0)] {
            let err = CenterInvariantRegularizerConfig::new().with_distance(d).init().unwrap_err();
            assert!(matches!(err, LossError::InvalidConfig { field: "distance", .. }), "{err}");
        }
    }
}
