//! A third group of PML 2.9 losses (ThresholdConsistentMargin)
//! against PML (fixtures from tools/fixtures/gen_extra3.py): value, embedding gradient and, for
//! the losses with learnable state, the gradients of the parameters.

mod common;

use common::*;
use dml::losses::ThresholdConsistentMarginLossConfig;

#[test]
fn threshold_consistent_margin_matches_pml() {
    run_loss_fixture("threshold_consistent_margin.json", |case| {
        let defaults = ThresholdConsistentMarginLossConfig::new();
        Box::new(config_from(defaults, &case.config).init().unwrap())
    });
}
