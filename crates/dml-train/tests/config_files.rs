//! The example configuration files of configs/ (one per recipe, shown in docs/training.md)
//! resolve and validate, and the small one trains on the Fashion-MNIST fixture.

use std::path::PathBuf;

use burn::tensor::Device;
use clap::Parser;
use dml_losses::{LossConfig, MinerConfig};
use dml_train::cli::Args;
use dml_train::config::{DatasetKind, SamplerConfig, Span};
use dml_train::data::load_data;
use dml_train::presets::preset;
use dml_train::{TrainConfig, Trainer};

fn resolve(name: &str, extra: &[&str]) -> TrainConfig {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs").join(name);
    let mut argv =
        vec!["train".to_string(), "--config".into(), file.to_string_lossy().into_owned()];
    argv.extend(extra.iter().map(|s| s.to_string()));
    Args::try_parse_from(argv)
        .expect("flags")
        .resolve(preset(DatasetKind::FashionMnist))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_example_configuration_resolves_to_what_it_says() {
    let c = resolve("cub_proxy_anchor.toml", &[]);
    assert_eq!(c.data.dataset, DatasetKind::Cub200);
    assert!(matches!(c.loss, LossConfig::ProxyAnchorLoss(_)));
    assert_eq!((c.optim.loss.lr_mult, c.optim.frozen_backbone), (100.0, Span::Epochs(5)));
    let c = resolve("sop_arcmargin_iterations.toml", &[]);
    assert_eq!((c.model.embedding_size, c.run.length), (None, Span::Iterations(30_001)));
    assert_eq!(c.data.sampler, SamplerConfig::Cycle);
    let c = resolve("cub_triplet_batch_hard.toml", &[]);
    assert!(matches!(c.miner, Some(MinerConfig::BatchHardMiner(_))));
    assert_eq!(c.schedule.warmup, Span::Iterations(200));
    let c = resolve("sop_contrastive_memory.toml", &[]);
    assert_eq!(c.memory.as_ref().map(|m| m.memory_size), Some(8192));
    let c = resolve("fashion_mnist_multi_similarity.toml", &[]);
    assert!(matches!(c.miner, Some(MinerConfig::MultiSimilarityMiner(_))));
    let c = resolve("cub_triplet_classifier_joint.toml", &[]);
    let LossConfig::MultipleLosses(m) = &c.loss else { panic!("{:?}", c.loss) };
    let (metric, classifier) = (&m.losses[0], &m.losses[1]);
    assert!(matches!(&metric.loss, LossConfig::TripletMarginLoss(t) if t.margin == 0.1));
    assert!(
        matches!(&metric.miner, Some(MinerConfig::MultiSimilarityMiner(s)) if s.epsilon == 0.1)
    );
    assert!(matches!(classifier.loss, LossConfig::SoftmaxLoss(_)) && classifier.miner.is_none());
    assert_eq!((metric.weight, classifier.weight), (1.0, 0.5));
    assert_eq!((c.optim.head.lr_mult, c.optim.loss.lr_mult), (10.0, 10.0));
    assert!(c.miner.is_none());
}

#[test]
fn every_file_in_configs_resolves_and_validates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("configs/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml") || n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "{names:?}");
    for name in names {
        resolve(&name, &[]).validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn the_small_example_trains_on_the_fashion_mnist_fixture() {
    let data =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/data/fashion-mnist");
    let out = tempfile::tempdir().expect("tempdir");
    let c = resolve(
        "fashion_mnist_multi_similarity.toml",
        &[
            "--data-dir",
            &data.to_string_lossy(),
            "--output-dir",
            &out.path().to_string_lossy(),
            "--max-steps",
            "2",
            "--set",
            "data.sampler.MPerClass.m=2",
            "--batch-size",
            "8",
            "--set",
            "run.recall_ks=[1]",
        ],
    );
    let (train, eval) = load_data(&c).expect("fixture");
    let mut t = Trainer::for_data(c, &train, &Device::flex()).expect("trainer");
    t.show_progress = false;
    t.fit(&train, &eval, None).expect("trains");
    assert_eq!(t.step, 2);
    assert!(out.path().join("config.json").exists());
    // The written configuration reads back into the same run.
    let back = TrainConfig::load(&out.path().join("config.json")).expect("reads back");
    assert_eq!(back, t.config);
}
