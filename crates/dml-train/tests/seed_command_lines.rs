//! Conformance: every training command line of the four seed READMEs (../shared/seeds/), run
//! verbatim through `train <seed> ...` (only the dataset and output paths pointed at the
//! fixture trees and a temporary directory, plus a step limit), resolves to that seed's
//! hyperparameters field by field, then trains 2 steps.
//!
//! The 2 training steps run on this CPU with the fixture trees: the resolved configuration is
//! trained with its loss, miner, sampler, optimizer groups and schedule as resolved, but with
//! 32-pixel images, batches that fit the fixtures' 3-9 images per split, the CPU as the device
//! (the commands ask for a GPU) and Recall@1 only (the fixtures hold fewer test images than
//! Recall@1000 needs). Those changes are made in code below, not on the command line.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use dml_backbones::{BackboneConfig, Pooling};
use dml_data::{Normalization, SopSubset, Transform};
use dml_losses::{Distance, LossConfig, MinerConfig, OnlineMining, Reducer};
use dml_train::config::{
    DatasetKind, Keep, LrDecay, OptimizerConfig, SamplerConfig, ScheduleConfig, Span, Unit,
};
use dml_train::data::load_data;
use dml_train::run::resolve_command_line;
use dml_train::{TrainConfig, Trainer};

fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/data")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

/// A README command line (`python3 train.py \` continuation lines joined), split into
/// arguments after `${VAR}` / placeholder substitution, prefixed with `train <seed>`.
fn argv(seed: &str, command: &str, subs: &[(&str, &str)]) -> Vec<String> {
    let mut text = command.replace("\\\n", " ");
    for (from, to) in subs {
        text = text.replace(from, to);
    }
    let mut words = text.split_whitespace().map(str::to_string);
    let script = words.next().expect("python");
    assert!(script.starts_with("python"), "{script}");
    words.next(); // the script's file name
    ["train".to_string(), seed.to_string()].into_iter().chain(words).collect()
}

static RUNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Shrinks the resolved configuration to the fixtures and the CPU, then trains 2 steps.
fn train_two_steps(mut c: TrainConfig, batch: usize) {
    let shrink = |steps: &mut Vec<Transform>| {
        for s in steps {
            match s {
                Transform::Resize { size }
                | Transform::CenterCrop { size }
                | Transform::RandomCrop { size } => *size = if *size >= 256 { 36 } else { 32 },
                Transform::ResizeExact { width, height } => {
                    *width = if *width >= 256 { 36 } else { 32 };
                    *height = *width;
                }
                Transform::RandomResizedCrop { size, .. } => *size = 32,
                Transform::HorizontalFlip { .. } => {}
            }
        }
    };
    c.data.image_size = 32;
    c.data.resize = 36;
    for t in [&mut c.data.train_transform, &mut c.data.test_transform].into_iter().flatten() {
        shrink(&mut t.steps);
    }
    c.data.batch_size = batch;
    c.data.test_batch_size = 4;
    c.data.num_workers = 1;
    if c.data.sop_subset != SopSubset::Full {
        c.data.sop_subset = SopSubset::First { train: 18, test: 18 };
        c.data.num_classes = None;
    }
    c.run.device = "cpu".into();
    c.run.recall_ks = vec![1];
    c.run.max_steps = Some(2);
    c.validate().expect("the shrunk configuration is valid");
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let (train, eval) = load_data(&c).expect("fixture data");
    let mut t = Trainer::for_data(c, &train, &Device::flex()).expect("trainer");
    t.show_progress = false;
    t.fit(&train, &eval, None).expect("trains");
    assert_eq!(t.step, 2);
    assert!(t.history.epochs.iter().all(|e| e.loss.is_finite()));
    assert!(t.output_dir().join("last.ckpt").exists());
}

fn step(step_size: usize, gamma: f64) -> ScheduleConfig {
    ScheduleConfig::new(LrDecay::Step { step_size, gamma }, Unit::Epoch)
}

/// One row of LDM's README: what its command sets (and its defaults).
struct LdmRow {
    dataset: DatasetKind,
    bn_inception: bool,
    loss: &'static str,
    batch: usize,
    lr: f64,
    warm: usize,
    bn_freeze: bool,
    decay: (usize, f64),
    epochs: usize,
    alpha: f64,
}

/// LDM's hyperparameters for one README row, asserted field by field.
fn assert_ldm(c: &TrainConfig, row: &LdmRow) {
    let LdmRow { dataset, bn_inception, loss, batch, lr, warm, bn_freeze, decay, epochs, alpha } =
        *row;
    assert_eq!(c.data.dataset, dataset);
    assert!(matches!(c.model.backbone, BackboneConfig::BnInception(_)) == bn_inception);
    assert_eq!(c.model.embedding_size, Some(512));
    assert_eq!(c.model.pooling, Pooling::AvgPlusMax);
    assert!(c.model.normalize_training && c.model.normalize);
    assert_eq!(c.model.freeze_batch_norm, bn_freeze);
    assert_eq!((c.data.batch_size, c.data.test_batch_size), (batch, batch));
    assert_eq!(c.data.sampler, SamplerConfig::Random);
    assert_eq!(c.data.num_workers, 2);
    assert!(c.data.train_transform.is_none() && c.data.test_transform.is_none());
    assert_eq!((c.data.image_size, c.data.resize), (224, 256));
    match (loss, &c.loss) {
        ("AMLoss", LossConfig::AMLoss(a)) => {
            assert_eq!((a.alpha_pos, a.alpha_neg), (alpha, alpha));
            assert_eq!((a.neg_margin, a.init_margin), (0.1, 0.1));
            assert_eq!((a.proxy_margin_delta, a.proxy_weight), (0.1, 1.0));
            // The margins: their own AdamW at mrg_lr 1e-4, the run's weight decay, StepLR(10, 0.5).
            let m = &c.optim.margins;
            assert_eq!(m.lr, Some(1e-4));
            assert_eq!(m.optimizer, Some(OptimizerConfig::adamw()));
            assert_eq!(m.weight_decay, None);
            assert_eq!(m.schedule, Some(step(10, 0.5)));
        }
        ("Proxy_Anchor", LossConfig::ProxyAnchorLoss(p)) => {
            assert_eq!((p.alpha, p.margin), (32.0, 0.1));
            assert_eq!(p.distance, Distance::Cosine);
        }
        (want, got) => panic!("expected {want}, resolved {}", got.name()),
    }
    assert!(c.miner.is_none() && c.memory.is_none());
    assert_eq!(c.optim.optimizer, OptimizerConfig::adamw());
    assert_eq!((c.optim.lr, c.optim.weight_decay), (lr, 1e-4));
    assert_eq!(c.optim.clip_grad_value, Some(10.0));
    assert_eq!(
        (c.optim.backbone.lr_mult, c.optim.head.lr_mult, c.optim.loss.lr_mult),
        (1.0, 1.0, 100.0)
    );
    assert!(c.optim.decay_batch_norm);
    assert_eq!(c.optim.frozen_backbone, Span::Epochs(warm));
    assert!(c.optim.frozen_backbone_releases_batch_norm);
    assert_eq!(c.schedule, step(decay.0, decay.1));
    assert_eq!(c.run.length, Span::Epochs(epochs));
    assert_eq!(c.run.eval_every, Some(Span::Epochs(1)));
    assert_eq!(c.run.seed, 1);
    assert_eq!(c.run.device, "gpu:0");
    let ks: &[usize] = match dataset {
        DatasetKind::Sop => &[1, 10, 100, 1000],
        DatasetKind::Inshop => &[1, 10, 20, 30, 40, 50],
        _ => &[1, 2, 4, 8, 16, 32],
    };
    assert_eq!(c.run.recall_ks, ks);
}

const LDM: [&str; 8] = [
    "python3 train.py --gpu-id 0 \\\n --loss AMLoss \\\n --model bn_inception \\\n --embedding-size 512 \\\n --batch-size 180 \\\n --lr 1e-4 \\\n --dataset cub \\\n --warm 1 \\\n --bn-freeze 1 \\\n --lr-decay-step 20 \\\n --alphap 48 \\\n --alphan 48",
    "python3 train.py --gpu-id 0 \\\n --loss AMLoss \\\n --model resnet50 \\\n --embedding-size 512 \\\n --batch-size 120 \\\n --lr 1e-4 \\\n --dataset cub \\\n --warm 5 \\\n --bn-freeze 1 \\\n --lr-decay-step 10 \\\n --alphap 48 \\\n --alphan 48",
    "python3 train.py --gpu-id 0 \\\n --loss AMLoss \\\n --model bn_inception \\\n --embedding-size 512 \\\n --batch-size 180 \\\n --lr 1e-4 \\\n --dataset cars \\\n --warm 1 \\\n --bn-freeze 1 \\\n --lr-decay-step 20 \\\n --alphap 48 \\\n --alphan 48",
    "python3 train.py --gpu-id 0 \\\n --loss AMLoss \\\n --model resnet50 \\\n --embedding-size 512 \\\n --batch-size 120 \\\n --lr 1e-4 \\\n --dataset cars \\\n --warm 5 \\\n --bn-freeze 1 \\\n --lr-decay-step 10 \\\n --alphap 48 \\\n --alphan 48",
    "python3 train.py --gpu-id 0 \\\n --loss AMLoss \\\n --model bn_inception \\\n --embedding-size 512 \\\n --batch-size 180 \\\n --lr 6e-4 \\\n --dataset SOP \\\n --warm 1 \\\n --bn-freeze 0 \\\n --lr-decay-step 20 \\\n --lr-decay-gamma 0.25",
    "python3 train.py --gpu-id 0 \\\n --loss AMLoss \\\n --model resnet50 \\\n --embedding-size 512 \\\n --batch-size 180 \\\n --lr 6e-4 \\\n --dataset SOP \\\n --warm 5 \\\n --bn-freeze 0 \\\n --lr-decay-step 10 \\\n --lr-decay-gamma 0.5 \\\n --epoch 60",
    "python3 train.py --gpu-id 0 \\\n --loss Proxy_Anchor \\\n --model bn_inception \\\n --embedding-size 512 \\\n --batch-size 180 \\\n --lr 6e-4 \\\n --dataset Inshop \\\n --warm 1 \\\n --bn-freeze 0 \\\n --lr-decay-step 20 \\\n --lr-decay-gamma 0.25",
    "python3 train.py --gpu-id 0 \\\n --loss AMLoss \\\n --model resnet50 \\\n --embedding-size 512 \\\n --batch-size 180 \\\n --lr 6e-4 \\\n --dataset Inshop \\\n --warm 5 \\\n --bn-freeze 0 \\\n --lr-decay-step 10 \\\n --lr-decay-gamma 0.5 \\\n --epoch 60",
];

#[test]
fn ldm_readme_commands_resolve_to_ldm_hyperparameters_and_train() {
    use DatasetKind::*;
    let row = |dataset, bn_inception, loss, batch, lr, warm, bn_freeze, decay, epochs, alpha| {
        LdmRow { dataset, bn_inception, loss, batch, lr, warm, bn_freeze, decay, epochs, alpha }
    };
    let rows = [
        row(Cub200, true, "AMLoss", 180, 1e-4, 1, true, (20, 0.5), 40, 48.0),
        row(Cub200, false, "AMLoss", 120, 1e-4, 5, true, (10, 0.5), 40, 48.0),
        row(Cars196, true, "AMLoss", 180, 1e-4, 1, true, (20, 0.5), 40, 48.0),
        row(Cars196, false, "AMLoss", 120, 1e-4, 5, true, (10, 0.5), 40, 48.0),
        row(Sop, true, "AMLoss", 180, 6e-4, 1, false, (20, 0.25), 40, 32.0),
        row(Sop, false, "AMLoss", 180, 6e-4, 5, false, (10, 0.5), 60, 32.0),
        row(Inshop, true, "Proxy_Anchor", 180, 6e-4, 1, false, (20, 0.25), 40, 32.0),
        row(Inshop, false, "AMLoss", 180, 6e-4, 5, false, (10, 0.5), 60, 32.0),
    ];
    for (command, row) in LDM.iter().zip(rows) {
        let data = match row.dataset {
            Cub200 => fixture("cub/CUB_200_2011"),
            Cars196 => fixture("cars196"),
            Sop => fixture("sop/Stanford_Online_Products"),
            _ => fixture("inshop"),
        };
        let out = tempfile::tempdir().expect("tempdir");
        let mut args = argv("ldm", command, &[]);
        args.extend(["--data-dir".into(), data, "--output-dir".into()]);
        args.push(out.path().to_string_lossy().into_owned());
        args.extend(["--max-steps".into(), "2".into()]);
        let c = resolve_command_line(&args).unwrap_or_else(|e| panic!("{command}: {e}"));
        assert_ldm(&c, &row);
        train_two_steps(c, 4);
    }
}

#[test]
fn ldm_output_directory_is_ldm_s_log_path_when_no_output_dir_is_given() {
    let args = argv("ldm", LDM[1], &[]);
    let c = resolve_command_line(&args).expect("resolves");
    assert_eq!(
        c.run.output_dir,
        "./AMDML/logs/logs_cub/512_embedding/120_batchsize/resnet50_AMLoss_alphap48.0_alphan48.0_mrg0.1_adamw_lr0.0001_mrglr0.0001_epochs40_delta0.1_lambda1.0"
    );
    assert_eq!(c.data.dir, "data/CUB_200_2011");
}

const PADDLE_ELEM: &str = "python train_elem.py  \\\n        --model=ResNet50 \\\n        --train_batch_size=256 \\\n        --test_batch_size=50 \\\n        --lr=0.01 \\\n        --total_iter_num=30000 \\\n        --use_gpu=True \\\n        --pretrained_model=${path_to_pretrain_imagenet_model} \\\n        --model_save_dir=${output_model_path} \\\n        --loss_name=arcmargin \\\n        --arc_scale=80.0 \\\n        --arc_margin=0.15 \\\n        --arc_easy_margin=False";
const PADDLE_PAIR: &str = "python train_pair.py  \\\n        --model=ResNet50 \\\n        --train_batch_size=160 \\\n        --test_batch_size=50 \\\n        --lr=0.0001 \\\n        --total_iter_num=100000 \\\n        --use_gpu=True \\\n        --pretrained_model=${path_to_pretrain_arcmargin_model} \\\n        --model_save_dir=${output_model_path} \\\n        --loss_name=eml \\\n        --samples_each_class=2";

fn imagenet_resnet50() -> Option<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/generated/backbones/resnet50.pth");
    if p.exists() {
        return Some(p.to_string_lossy().into_owned());
    }
    assert!(
        std::env::var_os("DML_SKIP_GENERATED_FIXTURES").is_some(),
        "{} is missing: run tools/test.sh (or set DML_SKIP_GENERATED_FIXTURES=1)",
        p.display()
    );
    None
}

fn assert_paddle_common(c: &TrainConfig, out: &Path) {
    assert_eq!(c.data.dataset, DatasetKind::Sop);
    assert_eq!(c.data.sop_subset, SopSubset::Full);
    assert!(matches!(c.model.backbone, BackboneConfig::ResNet50(_)));
    assert_eq!(c.model.embedding_size, None, "the 2048-d pooled feature");
    assert_eq!(c.model.pooling, Pooling::Avg);
    assert!(c.model.normalize && !c.model.normalize_training && !c.model.freeze_batch_norm);
    assert_eq!((c.data.image_size, c.data.resize, c.data.test_batch_size), (224, 224, 50));
    assert_eq!(c.optim.optimizer, OptimizerConfig::sgd(0.9));
    assert_eq!(c.optim.weight_decay, 1e-4);
    assert!(c.optim.clip_grad_value.is_none());
    assert_eq!(c.optim.frozen_backbone, Span::Epochs(0));
    for g in [&c.optim.backbone, &c.optim.head, &c.optim.loss, &c.optim.margins] {
        assert_eq!((g.lr_mult, g.lr, g.weight_decay), (1.0, None, None));
    }
    assert_eq!(c.run.recall_ks, vec![1]);
    assert_eq!(c.run.keep_checkpoints, Keep::All);
    assert_eq!(c.run.log_every, Some(10));
    assert_eq!(c.run.device, "gpu:0");
    assert_eq!(c.run.output_dir, format!("{}/ResNet50", out.display()));
}

#[test]
fn paddle_readme_commands_resolve_to_paddle_hyperparameters_and_train() {
    let out = tempfile::tempdir().expect("tempdir");
    let pretrained = imagenet_resnet50();
    let imagenet = pretrained.clone().unwrap_or_else(|| "resnet50.pth".into());
    let subs = [
        ("${path_to_pretrain_imagenet_model}", imagenet.as_str()),
        ("${output_model_path}", &*out.path().to_string_lossy()),
    ];
    let mut args = argv("paddle-train-elem", PADDLE_ELEM, &subs);
    args.extend([
        "--data-dir".into(),
        fixture("sop/Stanford_Online_Products"),
        "--max-steps".into(),
        "2".into(),
    ]);
    let mut c = resolve_command_line(&args).expect("train_elem resolves");
    assert_paddle_common(&c, out.path());
    match &c.loss {
        LossConfig::ArcMarginLoss(a) => {
            assert_eq!((a.scale, a.margin, a.easy_margin), (80.0, 0.15, false));
            assert_eq!(a.reducer, Reducer::Mean);
        }
        other => panic!("{}", other.name()),
    }
    assert!(c.miner.is_none());
    assert_eq!(c.data.sampler, SamplerConfig::Cycle);
    assert_eq!(c.data.batch_size, 256);
    assert_eq!(c.data.num_classes, Some(11_318));
    assert_eq!(c.optim.lr, 0.01);
    assert_eq!(
        c.schedule,
        ScheduleConfig::new(
            LrDecay::MultiStep { milestones: vec![15_000, 25_000], gamma: 0.1 },
            Unit::Iteration
        )
    );
    assert_eq!(c.run.length, Span::Iterations(30_001));
    assert_eq!(c.run.eval_every, Some(Span::Iterations(1000)));
    assert_eq!(c.run.checkpoint_every, Some(Span::Iterations(1000)));
    assert_eq!(c.pretrained.as_deref(), Some(imagenet.as_str()));
    c.pretrained = pretrained;
    // class_dim 11318 is SOP's; the fixture has 6 training classes.
    c.data.num_classes = None;
    train_two_steps(c.clone(), 4);

    // Fine-tuning from the arcmargin run's checkpoint, as the README chains them.
    let elem_ckpt = format!("{}/ResNet50/last.ckpt", out.path().display());
    let pair_out = tempfile::tempdir().expect("tempdir");
    let subs = [
        ("${path_to_pretrain_arcmargin_model}", elem_ckpt.as_str()),
        ("${output_model_path}", &*pair_out.path().to_string_lossy()),
    ];
    let mut args = argv("paddle-train-pair", PADDLE_PAIR, &subs);
    args.extend([
        "--data-dir".into(),
        fixture("sop/Stanford_Online_Products"),
        "--max-steps".into(),
        "2".into(),
    ]);
    let c = resolve_command_line(&args).expect("train_pair resolves");
    assert_paddle_common(&c, pair_out.path());
    assert!(matches!(&c.loss, LossConfig::EmlLoss(e) if e.beta == 100_000.0));
    assert!(c.miner.is_none());
    assert_eq!(c.data.sampler, SamplerConfig::MPerClass { m: 2, length: None });
    assert_eq!(c.data.batch_size, 160);
    assert_eq!(c.optim.lr, 1e-4);
    assert_eq!(
        c.schedule,
        ScheduleConfig::new(
            LrDecay::MultiStep { milestones: vec![100_000], gamma: 0.1 },
            Unit::Iteration
        )
    );
    assert_eq!(c.run.length, Span::Iterations(100_001));
    assert_eq!(c.run.eval_every, Some(Span::Iterations(5000)));
    assert_eq!(c.pretrained.as_deref(), Some(elem_ckpt.as_str()));
    train_two_steps(c, 4);
}

#[test]
fn online_metric_learning_readme_commands_resolve_and_train() {
    for (dataset, data) in
        [("CUB-200-2011", fixture("cub/CUB_200_2011")), ("In-shop", fixture("inshop"))]
    {
        let out = tempfile::tempdir().expect("tempdir");
        let command = format!(
            "python3 main.py --dataroot DATASET_PATH --batch_size 128 --batch_size_test 32 --embedding_dim 128 --eval_interval 50 --loss contrastive --dataset {dataset} --seed 18 --checkpoints_path SAVING_PATH --margin 0.1 --lr 1e-4 --maxiter 10000 --decay_iter_step 5000 --decay_gamma 0.1 --l2norm --cuda"
        );
        let subs =
            [("DATASET_PATH", data.as_str()), ("SAVING_PATH", &*out.path().to_string_lossy())];
        let mut args = argv("online-ml", &command, &subs);
        args.extend(["--max-steps".into(), "2".into()]);
        let c = resolve_command_line(&args).unwrap_or_else(|e| panic!("{dataset}: {e}"));
        let cub = dataset == "CUB-200-2011";
        assert_eq!(c.data.dataset, if cub { DatasetKind::Cub200 } else { DatasetKind::Inshop });
        assert_eq!(c.data.dir, data);
        assert!(matches!(c.model.backbone, BackboneConfig::ResNet50(_)));
        assert_eq!((c.model.embedding_size, c.model.pooling), (Some(128), Pooling::Avg));
        assert!(c.model.normalize_training && c.model.normalize && !c.model.freeze_batch_norm);
        assert!(matches!(&c.loss, LossConfig::OnlineContrastiveLoss(l) if l.margin == 0.1));
        assert!(c.miner.is_none());
        assert_eq!((c.data.batch_size, c.data.test_batch_size, c.data.num_workers), (128, 32, 10));
        let sampler = if cub {
            SamplerConfig::ClassChunks { min: 5, max: 10 }
        } else {
            SamplerConfig::ClassHalves
        };
        assert_eq!(c.data.sampler, sampler);
        let train_steps = &c.data.train_transform.as_ref().expect("train transform").steps;
        assert_eq!(
            train_steps,
            &vec![
                Transform::ResizeExact { width: 256, height: 256 },
                Transform::RandomCrop { size: 224 },
                Transform::HorizontalFlip { probability: 0.5 }
            ]
        );
        assert_eq!(c.optim.optimizer, OptimizerConfig::adam());
        assert_eq!((c.optim.lr, c.optim.weight_decay, c.optim.clip_grad_value), (1e-4, 0.0, None));
        let mut schedule =
            ScheduleConfig::new(LrDecay::Step { step_size: 5000, gamma: 0.1 }, Unit::Iteration);
        schedule.offset = 1;
        assert_eq!(c.schedule, schedule);
        assert_eq!(c.run.length, Span::Iterations(10_000));
        assert_eq!(c.run.eval_every, Some(Span::Iterations(50)));
        assert!(c.run.eval_before && !c.run.eval_at_end);
        assert_eq!(c.run.clustering_metrics, cub);
        assert_eq!(c.run.seed, 18);
        assert_eq!(c.run.checkpoint_every, None);
        assert_eq!(c.run.output_dir, out.path().to_string_lossy());
        train_two_steps(c, 4);
    }
}

#[test]
fn mindspore_gpu_scripts_resolve_to_its_config_dictionaries_and_train() {
    for loss in ["softmax", "triplet", "quadruplet"] {
        let out = tempfile::tempdir().expect("tempdir");
        let data = fixture("sop/Stanford_Online_Products");
        // run_standalone_train_gpu.sh [DATASET_PATH] [DEVICE_ID] [LOSS_NAME]
        let command = format!(
            "python train.py --device_target=\"GPU\" --dataset_path={data} --device_id=0 --loss_name={loss} --run_eval=False"
        )
        .replace('"', "");
        let mut args = argv("mindspore", &command, &[]);
        args.extend(["--output-dir".into(), out.path().to_string_lossy().into_owned()]);
        args.extend(["--max-steps".into(), "2".into()]);
        let c = resolve_command_line(&args).unwrap_or_else(|e| panic!("{loss}: {e}"));
        assert_eq!(
            (c.data.dataset, c.data.sop_subset, c.data.num_classes),
            (DatasetKind::Sop, SopSubset::Half, Some(5184))
        );
        assert_eq!(c.model.embedding_size, None);
        assert_eq!(c.model.pooling, Pooling::Avg);
        assert_eq!(c.optim.optimizer, OptimizerConfig::sgd(0.9));
        assert_eq!(c.optim.weight_decay, 1e-4);
        assert!(!c.optim.decay_batch_norm);
        assert_eq!(c.run.loss_scale, 1024.0);
        assert_eq!(c.run.checkpoint_every, Some(Span::Epochs(1)));
        assert_eq!(c.run.keep_checkpoints, Keep::Last(5));
        assert_eq!((c.run.eval_every, c.run.eval_at_end), (None, false));
        let norm = Normalization::Custom {
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            bgr: true,
        };
        assert_eq!(c.data.train_transform.as_ref().map(|t| t.normalization.clone()), Some(norm));
        let (batch, epochs, lr) = match loss {
            "softmax" => (10, 30, 1e-5),
            "triplet" => (9, 4, 1e-4),
            _ => (20, 40, 1e-4),
        };
        assert_eq!(
            (c.data.batch_size, c.run.length, c.optim.lr),
            (batch, Span::Epochs(epochs), lr)
        );
        let mut constant = ScheduleConfig::new(LrDecay::Constant, Unit::Iteration);
        constant.length = Some(Span::Epochs(epochs));
        assert_eq!(c.schedule, constant);
        let small_batch = match loss {
            "softmax" => {
                assert!(matches!(c.loss, LossConfig::SoftmaxLoss(_)));
                assert_eq!(c.data.sampler, SamplerConfig::Random);
                4
            }
            "triplet" => {
                match &c.loss {
                    LossConfig::TripletMarginLoss(t) => {
                        assert_eq!(
                            (t.margin, t.distance, t.reducer.clone()),
                            (0.1, Distance::squared_l2(), Reducer::Sum)
                        );
                    }
                    other => panic!("{}", other.name()),
                }
                assert!(matches!(
                    c.miner,
                    Some(MinerConfig::EmbeddingsAlreadyPackagedAsTriplets(_))
                ));
                assert_eq!(c.data.sampler, SamplerConfig::Triplets);
                6
            }
            _ => {
                assert!(matches!(&c.loss, LossConfig::QuadrupletLoss(q) if q.margin == 0.1));
                assert_eq!(c.data.sampler, SamplerConfig::MPerClass { m: 2, length: None });
                4
            }
        };
        train_two_steps(c, small_batch);
    }
}

#[test]
fn flags_a_seed_does_not_run_are_errors_naming_them() {
    for (seed, flags, expected) in [
        ("ldm", "--loss Circle", "--loss Circle"),
        ("ldm", "--loss AMLoss --optimizer sgd", "--optimizer sgd"),
        ("ldm", "--loss Proxy_Anchor --alphap 48", "--alphap"),
        ("ldm", "--gpu-id -1", "--gpu-id -1"),
        ("ldm", "--gpu-id -1 --devices cpu", "--gpu-id -1"),
        ("ldm", "--dataset market", "--dataset market"),
        ("paddle-train-pair", "--loss_name=npairs", "--loss_name npairs"),
        ("paddle-train-elem", "--lr_strategy=cosine_decay", "--lr_strategy cosine_decay"),
        ("paddle-train-elem", "--samples_each_class=2", "--samples_each_class"),
        ("mindspore", "--loss_name=triplet", "--device_target Ascend"),
        ("mindspore", "--device_target=GPU --run_distribute=True", "--run_distribute"),
        ("ldm", "--no-such-flag 1", "--no-such-flag"),
    ] {
        let args: Vec<String> = ["train", seed]
            .into_iter()
            .map(str::to_string)
            .chain(flags.split(' ').map(str::to_string))
            .collect();
        let err = resolve_command_line(&args).expect_err(flags).to_string();
        assert!(err.contains(expected), "{seed} {flags}: {err}");
    }
    let mining = "--dataroot d --batch_size 4 --batch_size_test 4 --embedding_dim 8 --loss triplet --dataset CUB-200-2011 --seed 1 --decay_iter_step 5 --decay_gamma 0.1 --margin 0.1 --lr 1e-4 --maxiter 10";
    let args: Vec<String> = ["train", "online-ml"]
        .into_iter()
        .map(str::to_string)
        .chain(mining.split(' ').map(str::to_string))
        .collect();
    let err = resolve_command_line(&args).expect_err("no mining").to_string();
    assert!(err.contains("--mining"), "{err}");
    let mut with = args.clone();
    with.extend(["--mining".into(), "semi".into()]);
    let c = resolve_command_line(&with).expect("semi");
    assert!(
        matches!(&c.loss, LossConfig::OnlineTripletLoss(t) if t.mining == OnlineMining::Semihard)
    );
}

#[test]
fn the_seeds_multi_device_flags_train_data_parallel_on_the_devices_named() {
    // LDM's `--gpu-id -1` (DataParallel: the loss on the gathered batch) with the GPUs named.
    let args = argv("ldm", "python3 train.py --gpu-id -1 --devices cpu,cpu", &[]);
    let c = resolve_command_line(&args).expect("ldm --gpu-id -1 --devices");
    assert_eq!(c.run.devices, ["cpu", "cpu"]);
    assert!(!c.run.loss_per_device);
    assert_eq!(c.data.batch_size, 90, "LDM's batch is the global batch");
    // MindSpore's `--run_distribute=True`: one rank per device, `batch_size` per rank, the loss
    // per rank.
    let out = tempfile::tempdir().expect("tempdir");
    let data = fixture("sop/Stanford_Online_Products");
    let command = format!(
        "python train.py --device_target=GPU --dataset_path={data} --device_id=0 --loss_name=triplet --run_distribute=True --devices cpu,cpu"
    );
    let mut args = argv("mindspore", &command, &[]);
    args.extend(["--output-dir".into(), out.path().to_string_lossy().into_owned()]);
    let c = resolve_command_line(&args).expect("mindspore --run_distribute");
    assert_eq!(c.run.devices, ["cpu", "cpu"]);
    assert!(c.run.loss_per_device);
    assert_eq!(c.data.batch_size, 2 * 9, "9 triplet samples per rank");
    // Two ranks of 3 samples (one packaged triplet each) train.
    train_two_steps(c, 6);
}

#[test]
fn sync_batch_norm_is_a_flag_of_every_dialect_and_off_by_default() {
    let args = argv("ldm", "python3 train.py --gpu-id -1 --devices cpu,cpu", &[]);
    let c = resolve_command_line(&args).expect("ldm --devices");
    assert!(!c.run.sync_batch_norm);
    let args = argv("ldm", "python3 train.py --gpu-id -1 --devices cpu,cpu --sync-batch-norm", &[]);
    let c = resolve_command_line(&args).expect("ldm --sync-batch-norm");
    assert_eq!(c.run.devices, ["cpu", "cpu"]);
    assert!(c.run.sync_batch_norm);
    // The configuration key, through --set.
    let args = argv(
        "ldm",
        "python3 train.py --gpu-id -1 --devices cpu,cpu --set run.sync_batch_norm=true",
        &[],
    );
    assert!(resolve_command_line(&args).expect("--set").run.sync_batch_norm);
}
