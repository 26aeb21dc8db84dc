//! [`RegularizerConfig`]: every regularizer of this crate as one configuration type, tagged
//! with PML's class names.

// The variants are PML's class names, which end in "Regularizer"; the lint also fires on the
// code `#[derive(Config)]` generates for the enum, which an attribute on the enum does not reach.
#![allow(clippy::enum_variant_names)]

use burn::config::Config;

use super::*;
use crate::error::LossResult;

/// The configuration of any regularizer, tagged with PML's class name. In JSON:
/// `{"LpRegularizer": {"p": 2, "power": 1}}`; in TOML:
/// `embedding_regularizer = { LpRegularizer = { power = 2 } }`.
#[derive(Config, Debug)]
pub enum RegularizerConfig {
    /// PML's `CenterInvariantRegularizer`: the spread of the squared row norms.
    CenterInvariantRegularizer(CenterInvariantRegularizerConfig),
    /// PML's `LpRegularizer`: the Lp norm of each row.
    LpRegularizer(LpRegularizerConfig),
    /// PML's `RegularFaceRegularizer`: each row's similarity to its nearest other row.
    RegularFaceRegularizer(RegularFaceRegularizerConfig),
    /// PML's `SparseCentersRegularizer`: the distances between the centers of each class.
    SparseCentersRegularizer(SparseCentersRegularizerConfig),
    /// PML's `ZeroMeanRegularizer`: the absolute sum of each row.
    ZeroMeanRegularizer(ZeroMeanRegularizerConfig),
}

impl RegularizerConfig {
    /// One configuration per regularizer, with PML's defaults (SparseCenters' counts 0: taken
    /// from the loss).
    pub fn defaults() -> Vec<RegularizerConfig> {
        vec![
            Self::CenterInvariantRegularizer(CenterInvariantRegularizerConfig::new()),
            Self::LpRegularizer(LpRegularizerConfig::new()),
            Self::RegularFaceRegularizer(RegularFaceRegularizerConfig::new()),
            Self::SparseCentersRegularizer(SparseCentersRegularizerConfig::new()),
            Self::ZeroMeanRegularizer(ZeroMeanRegularizerConfig::new()),
        ]
    }

    /// The variant's name: PML's class name (`"LpRegularizer"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::CenterInvariantRegularizer(_) => "CenterInvariantRegularizer",
            Self::LpRegularizer(_) => "LpRegularizer",
            Self::RegularFaceRegularizer(_) => "RegularFaceRegularizer",
            Self::SparseCentersRegularizer(_) => "SparseCentersRegularizer",
            Self::ZeroMeanRegularizer(_) => "ZeroMeanRegularizer",
        }
    }

    /// Validates the configuration and builds the regularizer.
    pub fn init(&self) -> LossResult<Box<dyn Regularizer>> {
        Ok(match self {
            Self::CenterInvariantRegularizer(c) => Box::new(c.init()?),
            Self::LpRegularizer(c) => Box::new(c.init()?),
            Self::RegularFaceRegularizer(c) => Box::new(c.init()?),
            Self::SparseCentersRegularizer(c) => Box::new(c.init()?),
            Self::ZeroMeanRegularizer(c) => Box::new(c.init()?),
        })
    }

    /// This configuration as a weight regularizer of a loss whose class weights have `rows`
    /// rows, `centers_per_class` per class: the counts SparseCenters leaves at 0 are filled in.
    pub fn for_class_weights(&self, rows: usize, centers_per_class: usize) -> Self {
        match self {
            Self::SparseCentersRegularizer(c) => {
                Self::SparseCentersRegularizer(c.filled_from(rows, centers_per_class))
            }
            other => other.clone(),
        }
    }

    /// Checks the settings that do not depend on the loss (SparseCenters' counts may be 0 when
    /// `weight_regularizer` will fill them in).
    pub fn validate(&self, filled_by_loss: bool) -> LossResult<()> {
        match self {
            Self::SparseCentersRegularizer(c) if filled_by_loss => {
                let k = if c.centers_per_class == 0 { 2 } else { c.centers_per_class };
                let n = if c.num_classes == 0 { 1 } else { c.num_classes };
                let probe = SparseCentersRegularizerConfig {
                    num_classes: n,
                    centers_per_class: k,
                    ..c.clone()
                };
                probe.init().map(drop)
            }
            other => other.init().map(drop),
        }
    }
}
