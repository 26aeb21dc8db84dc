//! Seed-system losses (QuadrupletLoss, EmlLoss), the remaining miners and CrossBatchMemory
//! against their references (fixtures from tools/fixtures/gen_seed.py).

mod common;

use common::*;
use dml::losses::{
    ContrastiveLossConfig, CrossBatchMemory, CrossBatchMemoryConfig, EmlLossConfig, MetricLoss,
    Miner, PairMarginMinerConfig, QuadrupletLossConfig, TripletMarginLossConfig,
};

#[test]
fn quadruplet_matches_pml() {
    run_loss_fixture("quadruplet.json", |case| {
        Box::new(config_from(QuadrupletLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn eml_matches_pml() {
    run_loss_fixture("eml.json", |case| {
        Box::new(config_from(EmlLossConfig::new(), &case.config).init().unwrap())
    });
}

/// The crate's ContrastiveLoss or TripletMarginLoss, as the case's `extra.loss` names it.
fn pair_or_triplet_loss(case: &Case) -> Box<dyn MetricLoss> {
    match case.extra.get("loss").and_then(|v| v.as_str()) {
        Some("Contrastive") => {
            Box::new(config_from(ContrastiveLossConfig::new(), &case.config).init().unwrap())
        }
        Some("TripletMargin") => {
            Box::new(config_from(TripletMarginLossConfig::new(), &case.config).init().unwrap())
        }
        other => panic!("{}: unknown loss {other:?}", case.name),
    }
}

#[test]
fn multi_similarity_miner_matches_pml() {
    run_loss_fixture("multi_similarity_miner.json", pair_or_triplet_loss);
}

#[test]
fn pair_margin_miner_matches_pml() {
    run_loss_fixture("pair_margin_miner.json", pair_or_triplet_loss);
}

#[test]
fn hardest_negative_miner_matches_pml() {
    run_loss_fixture("hardest_negative_miner.json", pair_or_triplet_loss);
}

#[test]
fn semihard_negative_miner_matches_pml() {
    run_loss_fixture("semihard_negative_miner.json", pair_or_triplet_loss);
}

/// Builds the miner a case names, boxed, for use inside a memory.
fn boxed_miner(case: &Case) -> Option<Box<dyn Miner>> {
    let spec = case.miner.as_ref()?;
    match spec.kind.as_str() {
        "PairMargin" => {
            Some(Box::new(config_from(PairMarginMinerConfig::new(), &spec.config).init().unwrap()))
        }
        other => panic!("{}: unknown miner {other}", case.name),
    }
}

/// A memory whose loss is chosen at run time.
fn new_memory(case: &Case, device: &burn::tensor::Device) -> CrossBatchMemory<Box<dyn MetricLoss>> {
    let size = case.extra["memory_size"].as_u64().unwrap() as usize;
    let dim = case.embeddings[0].len();
    let mut cbm = CrossBatchMemoryConfig::new(dim)
        .with_memory_size(size)
        .init(pair_or_triplet_loss(case), device)
        .unwrap();
    if let Some(miner) = boxed_miner(case) {
        cbm = cbm.with_boxed_miner(miner);
    }
    cbm
}

#[test]
fn cross_batch_memory_matches_pml() {
    let fixture = load("cross_batch_memory.json");
    let device = device();
    let mut memory: Option<CrossBatchMemory<Box<dyn MetricLoss>>> = None;
    for case in &fixture.cases {
        if case.extra["step"].as_u64() == Some(0) {
            memory = Some(new_memory(case, &device));
        }
        let cbm = memory.as_mut().expect("a sequence starts at step 0");
        let emb = matrix(&case.embeddings, &device).require_grad();
        let y = labels(&case.labels, &device);
        let loss = cbm.forward(emb.clone(), y).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
        assert_eq!(
            cbm.queue_idx() as u64,
            case.extra["queue_idx"].as_u64().unwrap(),
            "{}",
            case.name
        );
        assert_eq!(
            cbm.has_been_filled(),
            case.extra["has_been_filled"].as_bool().unwrap(),
            "{}",
            case.name
        );
    }
}
