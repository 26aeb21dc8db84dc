use burn::config::Config;
use burn::tensor::Tensor;

use super::Regularizer;
use super::regularizer_trait::check_reducer;
use crate::error::LossResult;
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "ZeroMeanRegularizer";

/// Configuration of [`ZeroMeanRegularizer`]; defaults are PML's `ZeroMeanRegularizer()`.
#[derive(Config, Debug)]
pub struct ZeroMeanRegularizerConfig {
    /// How the per-row values are reduced; `None`: PML's default, the mean.
    #[config(default = "None")]
    pub reducer: Option<Reducer>,
}

/// The absolute sum of each row (PML's `ZeroMeanRegularizer`): `|sum_k x_ik|`, one value per
/// row, reduced by the mean; pushes each vector's components to average zero.
#[derive(Clone, Debug)]
pub struct ZeroMeanRegularizer {
    config: ZeroMeanRegularizerConfig,
}

impl ZeroMeanRegularizerConfig {
    /// Validates the configuration and builds the regularizer.
    pub fn init(&self) -> LossResult<ZeroMeanRegularizer> {
        check_reducer(NAME, &self.reducer)?;
        Ok(ZeroMeanRegularizer { config: self.clone() })
    }
}

impl Regularizer for ZeroMeanRegularizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone().unwrap_or(Reducer::Mean)
    }

    fn terms(&self, x: Tensor<2>) -> LossResult<Vec<LossTerm>> {
        let rows = x.dims()[0];
        let reg = x.sum_dim(1).abs().reshape([rows]);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, reg)])
    }
}
