use burn::config::Config;
use burn::tensor::Tensor;

use super::Regularizer;
use super::regularizer_trait::check_reducer;
use crate::distance::Distance;
use crate::error::{LossResult, invalid};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "LpRegularizer";

/// Configuration of [`LpRegularizer`]; defaults are PML's `LpRegularizer(p=2, power=1)`.
#[derive(Config, Debug)]
pub struct LpRegularizerConfig {
    /// Order of the norm (finite, at least 1).
    #[config(default = 2.0)]
    pub p: f64,
    /// Exponent applied to each norm (finite, > 0).
    #[config(default = 1.0)]
    pub power: f64,
    /// How the per-row values are reduced; `None`: PML's default, the mean.
    #[config(default = "None")]
    pub reducer: Option<Reducer>,
}

/// The Lp norm of each row raised to `power` (PML's `LpRegularizer`): `|x_i|_p^power`, one
/// value per row, reduced by the mean. The norm has value 0 and gradient 0 for a zero row.
#[derive(Clone, Debug)]
pub struct LpRegularizer {
    config: LpRegularizerConfig,
}

impl LpRegularizerConfig {
    /// Validates the configuration and builds the regularizer.
    pub fn init(&self) -> LossResult<LpRegularizer> {
        if !(self.p.is_finite() && self.p >= 1.0) {
            return Err(invalid(NAME, "p", format!("must be finite and >= 1, got {}", self.p)));
        }
        if !(self.power.is_finite() && self.power > 0.0) {
            return Err(invalid(
                NAME,
                "power",
                format!("must be finite and > 0, got {}", self.power),
            ));
        }
        check_reducer(NAME, &self.reducer)?;
        Ok(LpRegularizer { config: self.clone() })
    }
}

impl Regularizer for LpRegularizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone().unwrap_or(Reducer::Mean)
    }

    fn terms(&self, x: Tensor<2>) -> LossResult<Vec<LossTerm>> {
        let rows = x.dims()[0];
        let distance = Distance::Lp { normalize_embeddings: false, power: 1.0, p: self.config.p };
        let mut reg = distance.norms(x);
        if self.config.power != 1.0 {
            reg = reg.powf_scalar(self.config.power);
        }
        Ok(vec![LossTerm::dense("loss", TermKind::Element, reg.reshape([rows]))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn bad_settings_name_their_field() {
        for (config, field) in [
            (LpRegularizerConfig::new().with_p(0.5), "p"),
            (LpRegularizerConfig::new().with_p(f64::INFINITY), "p"),
            (LpRegularizerConfig::new().with_power(0.0), "power"),
            (LpRegularizerConfig::new().with_reducer(Some(Reducer::None)), "reducer"),
        ] {
            let err = config.init().unwrap_err();
            assert!(
                matches!(err, LossError::InvalidConfig { field: f, .. } if f == field),
                "{err}"
            );
        }
    }
}
