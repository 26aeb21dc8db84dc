//! Seed-system losses (QuadrupletLoss, EmlLoss), the remaining miners and CrossBatchMemory
//! against their references (fixtures from tools/fixtures/gen_seed.py).

mod common;

use common::*;
use dml::losses::{EmlLossConfig, LossInput, MetricLoss, QuadrupletLossConfig};

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
fn quadruplet_matches_pml() {
    run_fixture("quadruplet.json", |case| {
        Box::new(config_from(QuadrupletLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn eml_matches_pml() {
    run_fixture("eml.json", |case| {
        Box::new(config_from(EmlLossConfig::new(), &case.config).init().unwrap())
    });
}
