//! The per-dataset defaults of the training examples.
//!
//! CUB-200 / Cars-196 / SOP / In-shop: LDM's published ResNet-50 commands (its README), run
//! through the LDM dialect ([`crate::seeds::ldm`]) so that they are exactly what LDM's
//! `train.py` does with them, with dml's own output directory and the CPU as the device. The
//! quickstart: a small CNN on Fashion-MNIST (see docs/quickstart.md).

use clap::Parser;
use dml_backbones::{BackboneConfig, EmbeddingModelConfig, Pooling, SmallCnnConfig};
use dml_losses::{LossConfig, ProxyAnchorLossConfig};

use crate::config::{
    DataConfig, DatasetKind, LrDecay, OptimConfig, OptimizerConfig, ParamGroupConfig,
    ScheduleConfig, Span, TrainConfig, Unit,
};
use crate::seeds::ldm::LdmArgs;

/// LDM's README command for ResNet-50 on `dataset` (`cub`, `cars`, `SOP`, `Inshop`).
fn ldm_resnet50(dataset: &str) -> Vec<String> {
    let mut args: Vec<&str> = vec![
        "ldm",
        "--gpu-id",
        "0",
        "--loss",
        "AMLoss",
        "--model",
        "resnet50",
        "--embedding-size",
        "512",
    ];
    match dataset {
        "cub" | "cars" => args.extend([
            "--batch-size",
            "120",
            "--lr",
            "1e-4",
            "--dataset",
            dataset,
            "--warm",
            "5",
            "--bn-freeze",
            "1",
            "--lr-decay-step",
            "10",
            "--alphap",
            "48",
            "--alphan",
            "48",
        ]),
        _ => args.extend([
            "--batch-size",
            "180",
            "--lr",
            "6e-4",
            "--dataset",
            dataset,
            "--warm",
            "5",
            "--bn-freeze",
            "0",
            "--lr-decay-step",
            "10",
            "--lr-decay-gamma",
            "0.5",
            "--epoch",
            "60",
        ]),
    }
    args.into_iter().map(str::to_string).collect()
}

/// The defaults of the example for `dataset`.
pub fn preset(dataset: DatasetKind) -> TrainConfig {
    let ldm = |name: &str| {
        LdmArgs::try_parse_from(ldm_resnet50(name)).ok().and_then(|a| a.to_config().ok()).map(
            |mut c| {
                c.run.device = "cpu".into();
                c
            },
        )
    };
    let seeded = match dataset {
        DatasetKind::Cub200 => ldm("cub"),
        DatasetKind::Cars196 => ldm("cars"),
        DatasetKind::Sop => ldm("SOP"),
        DatasetKind::Inshop => ldm("Inshop"),
        DatasetKind::FashionMnist | DatasetKind::Synthetic => None,
    };
    let mut c = seeded.unwrap_or_else(quickstart);
    c.data.dataset = dataset;
    c.run.output_dir = format!(
        "runs/{}",
        serde_json::to_value(dataset)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    );
    c
}

/// The quickstart: a small CNN (64-d embedding) trained with Proxy-Anchor on
/// Fashion-MNIST classes 0-4, AdamW at 1e-3 (proxies x100), a per-epoch cosine schedule, two
/// epochs of shuffled batches of 128.
fn quickstart() -> TrainConfig {
    let mut data = DataConfig::new(DatasetKind::FashionMnist, "/usr/share/datasets/fashion-mnist");
    data.image_size = 28;
    data.resize = 28;
    data.batch_size = 128;
    data.test_batch_size = 128;
    data.num_workers = 0;
    let model = EmbeddingModelConfig::new(BackboneConfig::SmallCnn(SmallCnnConfig::new()))
        .with_embedding_size(Some(64))
        .with_pooling(Pooling::AvgPlusMax);
    let loss = LossConfig::ProxyAnchorLoss(ProxyAnchorLossConfig::new(0, 0));
    let mut c = TrainConfig::new(data, model, loss, Span::Epochs(2), "runs/fashion_mnist");
    c.optim = OptimConfig::new(OptimizerConfig::adamw(), 1e-3);
    c.optim.weight_decay = 1e-4;
    c.optim.clip_grad_value = Some(10.0);
    c.optim.loss = ParamGroupConfig::scaled(100.0);
    c.schedule = ScheduleConfig::new(LrDecay::Cosine { t_max: None, min_factor: 0.0 }, Unit::Epoch);
    c.run.recall_ks = vec![1, 2, 4, 8];
    c.run.eval_before = true;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_the_benchmarks_follow_ldm() {
        for kind in [
            DatasetKind::Cub200,
            DatasetKind::Cars196,
            DatasetKind::Sop,
            DatasetKind::Inshop,
            DatasetKind::FashionMnist,
            DatasetKind::Synthetic,
        ] {
            let c = preset(kind);
            c.validate().unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(c.data.dataset, kind);
        }
        let cub = preset(DatasetKind::Cub200);
        assert!(matches!(&cub.loss, LossConfig::AMLoss(a) if a.alpha_pos == 48.0));
        assert_eq!((cub.data.batch_size, cub.run.length), (120, Span::Epochs(40)));
        assert_eq!(preset(DatasetKind::Sop).run.length, Span::Epochs(60));
    }
}
