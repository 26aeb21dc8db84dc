//! Further PML 2.9 losses (NCA, TupletMargin, IntraPairVariance, Angular,
//! SignalToNoiseRatioContrastive, Instance) against PML (fixtures from
//! tools/fixtures/gen_extra.py): value, embedding gradient and, for the reference-set cases, the
//! gradient of the reference embeddings.

mod common;

use common::*;
use dml::losses::{
    AngularLossConfig, InstanceLossConfig, IntraPairVarianceLossConfig, NCALossConfig,
    SignalToNoiseRatioContrastiveLossConfig, TupletMarginLossConfig,
};

#[test]
fn nca_matches_pml() {
    run_loss_fixture("nca.json", |case| {
        Box::new(config_from(NCALossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn tuplet_margin_matches_pml() {
    run_loss_fixture("tuplet_margin.json", |case| {
        Box::new(config_from(TupletMarginLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn intra_pair_variance_matches_pml() {
    run_loss_fixture("intra_pair_variance.json", |case| {
        Box::new(config_from(IntraPairVarianceLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn angular_matches_pml() {
    run_loss_fixture("angular.json", |case| {
        Box::new(config_from(AngularLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn signal_to_noise_ratio_contrastive_matches_pml() {
    run_loss_fixture("signal_to_noise_ratio_contrastive.json", |case| {
        let defaults = SignalToNoiseRatioContrastiveLossConfig::new();
        Box::new(config_from(defaults, &case.config).init().unwrap())
    });
}

#[test]
fn instance_matches_pml() {
    run_loss_fixture("instance.json", |case| {
        Box::new(config_from(InstanceLossConfig::new(), &case.config).init().unwrap())
    });
}
