//! ContrastiveLoss and TripletMarginLoss against PML (fixtures from
//! tools/fixtures/gen_pair_triplet.py).

mod common;

use common::*;
use dml::losses::{ContrastiveLossConfig, TripletMarginLossConfig};

#[test]
fn contrastive_matches_pml() {
    run_loss_fixture("contrastive.json", |case| {
        let config = config_from(ContrastiveLossConfig::new(), &case.config);
        Box::new(config.init().unwrap())
    });
}

#[test]
fn triplet_margin_matches_pml() {
    run_loss_fixture("triplet_margin.json", |case| {
        let config = config_from(TripletMarginLossConfig::new(), &case.config);
        Box::new(config.init().unwrap())
    });
}
