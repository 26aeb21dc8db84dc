//! The seed systems' published hyperparameters as per-dataset defaults.
//!
//! CUB-200 / Cars-196 / SOP / In-shop: LDM's (AMLoss, `wyfan714/LDM`) ResNet-50 commands
//! from its README, on Proxy-Anchor's training code (AdamW, weight decay 1e-4, proxies x100,
//! clip 10, 60 epochs). The quickstart: a small CNN on Fashion-MNIST (see docs/quickstart.md).

use crate::config::{DatasetKind, LossKind, ModelKind, ScheduleKind, TrainConfig};

/// The defaults for `dataset`.
pub fn preset(dataset: DatasetKind) -> TrainConfig {
    let mut c = TrainConfig::base(dataset);
    c.output_dir = format!(
        "runs/{}",
        serde_json::to_value(dataset)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    );
    match dataset {
        DatasetKind::Cub200 | DatasetKind::Cars196 => {
            // --loss AMLoss --model resnet50 --embedding-size 512 --batch-size 120 --lr 1e-4
            // --warm 5 --bn-freeze 1 --lr-decay-step 10 --alphap 48 --alphan 48
            c.data_dir =
                if dataset == DatasetKind::Cub200 { "data/CUB_200_2011" } else { "data/cars196" }
                    .into();
            c.loss = LossKind::AmLoss;
            c.batch_size = 120;
            c.lr = 1e-4;
            c.warm = 5;
            c.bn_freeze = true;
            c.lr_decay_step = 10;
            c.alpha = 48.0;
        }
        DatasetKind::Sop | DatasetKind::Inshop => {
            // --batch-size 180 --lr 6e-4 --warm 5 --bn-freeze 0 --lr-decay-step 10
            // --lr-decay-gamma 0.5 --epoch 60
            c.data_dir = if dataset == DatasetKind::Sop {
                "data/Stanford_Online_Products"
            } else {
                "data/Inshop_Clothes"
            }
            .into();
            c.loss = LossKind::AmLoss;
            c.batch_size = 180;
            c.lr = 6e-4;
            c.warm = 5;
            c.bn_freeze = false;
            c.lr_decay_step = 10;
            c.lr_decay_gamma = 0.5;
            c.recall_ks = if dataset == DatasetKind::Sop {
                vec![1, 10, 100, 1000]
            } else {
                vec![1, 10, 20, 30, 40, 50]
            };
        }
        DatasetKind::FashionMnist | DatasetKind::Synthetic => {
            c.data_dir = "/usr/share/datasets/fashion-mnist".into();
            c.model = ModelKind::SmallCnn;
            c.embedding_size = 64;
            c.loss = LossKind::ProxyAnchor;
            c.batch_size = 128;
            c.lr = 1e-3;
            c.proxy_lr_mult = 100.0;
            c.warm = 0;
            c.bn_freeze = false;
            c.schedule = ScheduleKind::Cosine;
            c.epochs = 2;
            c.image_size = 28;
            c.resize = 28;
            c.recall_ks = vec![1, 2, 4, 8];
            c.num_workers = 0;
        }
    }
    c
}
