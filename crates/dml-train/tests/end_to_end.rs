//! End to end on tiny synthetic data: a few steps of every recipe, fine-tuning from a
//! classification checkpoint, exact resume after an interruption, and clear errors for a
//! missing or corrupted checkpoint and for a dataset directory without its files.

use std::path::Path;

use burn::tensor::Device;
use dml_train::config::OptimizerKind;
use dml_train::data::{EvalData, load_data};
use dml_train::evaluate::embed;
use dml_train::presets::preset;
use dml_train::{DatasetKind, LossKind, ScheduleKind, TrainConfig, TrainError, Trainer};

fn tiny(dir: &Path, loss: LossKind) -> TrainConfig {
    let mut c = preset(DatasetKind::Synthetic);
    c.output_dir = dir.to_string_lossy().into_owned();
    c.loss = loss;
    c.embedding_size = 16;
    c.batch_size = 8;
    c.samples_per_class = 2;
    c.epochs = 3;
    c.max_steps_per_epoch = Some(2);
    c.warm = 1;
    c.bn_freeze = false;
    c.schedule = ScheduleKind::Step;
    c.lr_decay_step = 1;
    c.recall_ks = vec![1, 2];
    c
}

/// Burn's random generator is global to the device: tests running in parallel would draw from
/// it between another run's `seed` and its weight initialization, so runs are serialized.
static RUNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(config: TrainConfig, stop_after: Option<usize>) -> Trainer {
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let (train, eval) = load_data(&config).expect("data");
    let mut t = Trainer::new(config, train.num_classes(), &Device::flex()).expect("trainer");
    t.show_progress = false;
    t.fit(&train, &eval, stop_after).expect("fit");
    t
}

fn embeddings(t: &Trainer) -> Vec<f32> {
    let (_, eval) = load_data(&t.config).expect("data");
    let EvalData::Memory(_) = &eval else { panic!("memory data") };
    embed(&t.model, &eval, 8, &t.device).expect("embed").0
}

#[test]
fn every_recipe_trains_a_few_steps_and_writes_its_outputs() {
    use LossKind::*;
    for (loss, optimizer) in [
        (Softmax, OptimizerKind::Sgd),
        (Arcmargin, OptimizerKind::Sgd),
        (NormalizedSoftmax, OptimizerKind::Adamw),
        (Triplet, OptimizerKind::Adamw),
        (Quadruplet, OptimizerKind::Sgd),
        (Eml, OptimizerKind::Adamw),
        (Contrastive, OptimizerKind::Adamw),
        (MultiSimilarity, OptimizerKind::Adamw),
        (ProxyAnchor, OptimizerKind::Adamw),
        (AmLoss, OptimizerKind::Adamw),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = tiny(dir.path(), loss);
        c.optimizer = optimizer;
        c.epochs = 2;
        c.arc_easy_margin = true;
        let t = run(c, None);
        assert_eq!(t.epoch, 2, "{loss:?}");
        assert_eq!(t.step, 4, "{loss:?}");
        assert!(t.history.iter().all(|r| r.loss.is_finite()), "{loss:?}: {:?}", t.history);
        assert!(t.history[0].warmup && !t.history[1].warmup);
        for f in
            ["config.json", "last.ckpt", "best.ckpt", "metrics.csv", "metrics.json", "plot.svg"]
        {
            assert!(dir.path().join(f).exists(), "{loss:?}: {f} missing");
        }
        let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).expect("csv");
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(csv.starts_with(
            "epoch,loss,lr,steps,images_per_second,seconds,warmup,recall_at_1,recall_at_2,map_at_r"
        ));
    }
}

#[test]
fn pair_fine_tuning_starts_from_the_classification_checkpoint() {
    let pre = tempfile::tempdir().expect("tempdir");
    let c = tiny(pre.path(), LossKind::Arcmargin);
    let classifier = run(c, None);
    let fine = tempfile::tempdir().expect("tempdir");
    let mut c = tiny(fine.path(), LossKind::Triplet);
    c.init_from = Some(pre.path().join("last.ckpt").to_string_lossy().into_owned());
    c.epochs = 1;
    c.max_steps_per_epoch = Some(0);
    let t = run(c, None);
    // No step taken: the network is exactly the classification run's.
    assert_eq!(embeddings(&t), embeddings(&classifier));
}

#[test]
fn resume_after_an_interruption_matches_an_uninterrupted_run() {
    for loss in [LossKind::AmLoss, LossKind::Contrastive] {
        let a = tempfile::tempdir().expect("tempdir");
        let full = run(tiny(a.path(), loss), None);

        let b = tempfile::tempdir().expect("tempdir");
        let first = run(tiny(b.path(), loss), Some(1)); // "crash" after epoch 1
        assert_eq!(first.epoch, 1);
        drop(first);
        let mut c = tiny(b.path(), loss);
        c.resume = Some(b.path().join("last.ckpt").to_string_lossy().into_owned());
        let resumed = run(c, None);

        assert_eq!((resumed.epoch, resumed.step), (full.epoch, full.step));
        let (x, y) = (embeddings(&full), embeddings(&resumed));
        let diff = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(diff <= 1e-6, "{loss:?}: embeddings differ by {diff}");
        for (p, q) in full.history.iter().zip(&resumed.history) {
            // The resumed run's earlier epochs come back through JSON (last digit may differ).
            let tol = 1e-12 * p.loss.abs().max(1.0);
            assert!(
                (p.loss - q.loss).abs() <= tol,
                "{loss:?}: epoch {} loss {} vs {}",
                p.epoch,
                p.loss,
                q.loss
            );
        }
        if let (
            dml_train::loss::TrainLoss::Learnable(p),
            dml_train::loss::TrainLoss::Learnable(q),
        ) = (&full.loss, &resumed.loss)
        {
            let (dml_train::loss::LearnableLoss::Am(p), dml_train::loss::LearnableLoss::Am(q)) =
                (p, q)
            else {
                panic!("AMLoss")
            };
            let d = (p.proxies.val() - q.proxies.val()).abs().max().into_scalar::<f32>();
            let m = (p.margins.val() - q.margins.val()).abs().max().into_scalar::<f32>();
            assert!(d <= 1e-6 && m <= 1e-6, "proxies differ by {d}, margins by {m}");
        }
    }
}

#[test]
fn missing_and_corrupted_checkpoints_give_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = tiny(dir.path(), LossKind::ProxyAnchor);
    c.epochs = 1;
    run(c.clone(), None);
    let last = dir.path().join("last.ckpt");
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());

    let mut missing = c.clone();
    missing.resume = Some(dir.path().join("nope.ckpt").to_string_lossy().into_owned());
    let err = Trainer::new(missing, 4, &Device::flex()).err().expect("missing");
    assert!(matches!(err, TrainError::MissingCheckpoint(_)), "{err}");
    assert!(err.to_string().contains("nope.ckpt"), "{err}");

    let mut bytes = std::fs::read(&last).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&last, &bytes).expect("write");
    let mut corrupt = c.clone();
    corrupt.resume = Some(last.to_string_lossy().into_owned());
    let err = Trainer::new(corrupt.clone(), 4, &Device::flex()).err().expect("corrupt");
    assert!(matches!(err, TrainError::CorruptCheckpoint { .. }), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");

    std::fs::write(&last, &bytes[..100]).expect("truncate");
    let err = Trainer::new(corrupt, 4, &Device::flex()).err().expect("truncated");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn dataset_presets_name_the_missing_file_in_an_empty_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in [
        DatasetKind::Cub200,
        DatasetKind::Cars196,
        DatasetKind::Sop,
        DatasetKind::Inshop,
        DatasetKind::FashionMnist,
    ] {
        let mut c = preset(kind);
        c.data_dir = dir.path().to_string_lossy().into_owned();
        c.validate().expect("preset is valid");
        let err = load_data(&c).err().expect("no files");
        let msg = err.to_string();
        assert!(msg.contains(&*dir.path().to_string_lossy()), "{kind:?}: {msg}");
    }
}
