//! ContrastiveLoss and TripletMarginLoss against PML (fixtures from
//! tools/fixtures/gen_pair_triplet.py).

mod common;

use common::*;
use dml::losses::{ContrastiveLossConfig, LossInput, MetricLoss, TripletMarginLossConfig};

fn run_fixture(file: &str, build: impl Fn(&Case) -> Box<dyn MetricLoss>) {
    let fixture = load(file);
    for case in &fixture.cases {
        let device = device();
        let emb = matrix(&case.embeddings, &device).require_grad();
        let y = labels(&case.labels, &device);
        let mut input = LossInput::new(emb.clone(), y.clone());
        if let Some(mined) = mine(case, &emb, &y) {
            input = input.with_mined(mined);
        }
        let loss = build(case).forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
    }
}

#[test]
fn contrastive_matches_pml() {
    run_fixture("contrastive.json", |case| {
        let config = config_from(ContrastiveLossConfig::new(), &case.config);
        Box::new(config.init().unwrap())
    });
}

#[test]
fn triplet_margin_matches_pml() {
    run_fixture("triplet_margin.json", |case| {
        let config = config_from(TripletMarginLossConfig::new(), &case.config);
        Box::new(config.init().unwrap())
    });
}
