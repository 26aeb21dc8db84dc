//! Further PML 2.9 miners (BatchEasyHardMiner, HDCMiner; AngularMiner) against PML (fixtures
//! from tools/fixtures/gen_miners.py and gen_miners2.py): each case mines its batch with the
//! miner it names and compares the value and the embedding gradient of the loss it names
//! (`extra.loss`) on the mined tuples.

mod common;

use common::*;
use dml::losses::{ContrastiveLossConfig, MetricLoss, TripletMarginLossConfig};

/// The loss a case names in `extra.loss`, with the case's configuration.
fn loss_of(case: &Case) -> Box<dyn MetricLoss> {
    match case.extra.get("loss").and_then(|v| v.as_str()) {
        Some("ContrastiveLoss") => {
            Box::new(config_from(ContrastiveLossConfig::new(), &case.config).init().unwrap())
        }
        Some("TripletMarginLoss") => {
            Box::new(config_from(TripletMarginLossConfig::new(), &case.config).init().unwrap())
        }
        other => panic!("{}: unknown loss {other:?}", case.name),
    }
}

#[test]
fn batch_easy_hard_miner_matches_pml() {
    run_loss_fixture("batch_easy_hard_miner.json", loss_of);
}

#[test]
fn hdc_miner_matches_pml() {
    run_loss_fixture("hdc_miner.json", loss_of);
}

#[test]
fn angular_miner_matches_pml() {
    run_loss_fixture("angular_miner.json", loss_of);
}
