//! End to end on tiny synthetic data: every loss and miner of dml-losses trains from a
//! configuration file and lowers its loss, a cross-batch memory trains, fine-tuning starts from
//! a classification checkpoint, resume after an interruption (at an epoch end or mid-epoch)
//! equals an uninterrupted run, and missing or corrupted checkpoints and bad configurations
//! give clear errors.

mod common;

use std::path::Path;

use burn::tensor::Device;
use common::{RUNS, run, tiny};
use dml_losses::{LossConfig, MinerConfig};
use dml_train::config::{OptimizerConfig, Span};
use dml_train::data::{EvalData, TrainData, load_data};
use dml_train::evaluate::embed;
use dml_train::presets::preset;
use dml_train::{DatasetKind, TrainConfig, TrainError, Trainer};

fn embeddings(t: &Trainer) -> Vec<f32> {
    let (_, eval) = load_data(&t.config).expect("data");
    let EvalData::Memory(_) = &eval else { panic!("memory data") };
    embed(&t.model, &eval, 8, &t.device).expect("embed").0
}

/// The loss of `t` on the first batch of epoch 0.
fn loss_on_first_batch(t: &mut Trainer, train: &TrainData) -> f64 {
    let batch = train.epoch_from(0, 0, &t.device).next().expect("a batch").expect("batch");
    let e = t.model.forward(batch.images);
    t.loss.forward(e, &batch.labels).expect("loss").into_scalar::<f32>() as f64
}

/// A miner each loss can use, where one fits (so that every miner is exercised too).
fn miner_for(loss: &str) -> Option<&'static str> {
    match loss {
        "TripletMarginLoss" => Some("BatchHardMiner"),
        "ContrastiveLoss" => Some("PairMarginMiner"),
        "MultiSimilarityLoss" => Some("MultiSimilarityMiner"),
        "MarginLoss" => Some("TripletMarginMiner"),
        "LiftedStructureLoss" => Some("HardestNegativeMiner"),
        "CircleLoss" => Some("SemihardNegativeMiner"),
        "NCALoss" => Some("BatchEasyHardMiner"),
        "SupConLoss" => Some("HDCMiner"),
        "AngularLoss" => Some("AngularMiner"),
        "GeneralizedLiftedStructureLoss" => Some("UniformHistogramMiner"),
        "TupletMarginLoss" => Some("DistanceWeightedMiner"),
        _ => None,
    }
}

/// Whether `loss` can be negative: DynamicSoftMarginLoss weighs `d(a, p) - d(a, n)`, which is
/// below 0 once the triplets are ordered, so a start at 0 (not below it) is what shows a dead
/// loss there.
fn signed(loss: &str) -> bool {
    loss == "DynamicSoftMarginLoss"
}

/// Writes a TOML file naming `loss` (and `miner`) and trains 12 steps from it.
fn train_from_file(
    dir: &Path,
    loss: &str,
    miner: Option<&str>,
    sampler: Option<&str>,
) -> (f64, f64) {
    let file = dir.join("run.toml");
    // The online-metric-learning seed's losses as its README trains them (`--margin 0.1`).
    let settings = if loss.starts_with("Online") { "margin = 0.1\n" } else { "" };
    let mut text = format!(
        "[loss.{loss}]\n{settings}\n[run]\nlength = {{ iterations = 12 }}\neval_every = {{ iterations = 12 }}\n\n[optim]\nlr = 0.002\nfrozen_backbone = {{ epochs = 0 }}\n"
    );
    if loss == "ManifoldLoss" {
        // Its proxies at 10x the rate rather than the preset's 100x: its value counts the proxies
        // within a 5e-4 margin, and proxies that move by 0.2 a step overshoot (see
        // docs/losses/extra3.md).
        text.push_str("loss = { lr_mult = 10.0 }\n");
    }
    if let Some(m) = miner {
        text.push_str(&format!("\n[miner.{m}]\n"));
    }
    if loss == "VICRegLoss" {
        // The second view of each image is the next image of its class in the batch. Its
        // variance and covariance terms are statistics of the batch's 16 dimensions: with 8
        // rows the covariance has rank 7, and unit variances with no covariance cannot both
        // hold, so the batch has more rows than dimensions (see docs/losses/extra3.md).
        text.push_str("\n[data]\nbatch_size = 32\nsampler = { MPerClass = { m = 8 } }\n");
    }
    if loss.starts_with("Online") {
        // The online-metric-learning seed's losses work on the embeddings as given; its README
        // trains them L2-normalized (`--l2norm`), as here. (On raw embeddings at this rate the
        // contrastive one diverges: its squared distances are unbounded.)
        text.push_str("\n[model]\nnormalize_training = true\n");
    }
    if let Some(s) = sampler {
        text.push_str(&format!("\n[data]\nbatch_size = 9\nsampler = \"{s}\"\n"));
    }
    std::fs::write(&file, text).expect("write");
    let mut c = tiny(dir, "ContrastiveLoss").patched_with_file(&file).expect("config file");
    c.run.max_steps_per_epoch = None;
    c.validate().unwrap_or_else(|e| panic!("{loss}: {e}"));
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let (train, eval) = load_data(&c).expect("data");
    let mut t = Trainer::for_data(c, &train, &Device::flex()).expect("trainer");
    t.show_progress = false;
    let before = loss_on_first_batch(&mut t, &train);
    t.fit(&train, &eval, None).unwrap_or_else(|e| panic!("{loss}: {e}"));
    assert_eq!(t.step, 12, "{loss}");
    let after = loss_on_first_batch(&mut t, &train);
    (before, after)
}

#[test]
fn every_loss_and_miner_trains_from_a_config_file_and_lowers_its_loss() {
    let mut miners_used = Vec::new();
    let mut failures = Vec::new();
    for config in LossConfig::defaults() {
        let name = config.name();
        let dir = tempfile::tempdir().expect("tempdir");
        if name == "SelfSupervisedLoss" {
            // It needs two augmented views of every sample, which the trainer does not make:
            // refused before training (tests/parity_compose.rs checks the loss itself).
            let mut c = tiny(dir.path(), name);
            c.run.max_steps_per_epoch = None;
            let err = c.validate().expect_err("two views").to_string();
            assert!(err.contains("needs two augmented views"), "{err}");
            continue;
        }
        let miner = miner_for(name);
        miners_used.extend(miner);
        let (before, after) = train_from_file(dir.path(), name, miner, None);
        let label = format!("{name}{}", miner.map_or(String::new(), |m| format!(" + {m}")));
        let started = if signed(name) { before != 0.0 } else { before > 0.0 };
        if !(before.is_finite() && after.is_finite() && started && after < before) {
            failures.push(format!("{label}: loss {before} -> {after}"));
        }
        for f in [
            "config.json",
            "last.ckpt",
            "best.ckpt",
            "metrics.csv",
            "evaluations.csv",
            "metrics.json",
            "plot.svg",
        ] {
            assert!(dir.path().join(f).exists(), "{name}: {f} missing");
        }
    }
    assert!(failures.is_empty(), "losses that did not learn: {failures:#?}");
    // The packaged-triplets miner needs the triplet sampler.
    let dir = tempfile::tempdir().expect("tempdir");
    let (before, after) = train_from_file(
        dir.path(),
        "TripletMarginLoss",
        Some("EmbeddingsAlreadyPackagedAsTriplets"),
        Some("Triplets"),
    );
    assert!(after < before, "packaged triplets: {before} -> {after}");
    miners_used.push("EmbeddingsAlreadyPackagedAsTriplets");
    for m in MinerConfig::defaults() {
        assert!(miners_used.contains(&m.name()), "miner {} is not exercised", m.name());
    }
}

/// PML's TrainWithClassifier as a MultipleLosses file: a metric loss on a miner's triplets plus
/// a linear classifier's cross-entropy on the same embeddings, weighted.
const JOINT: &str = r#"
[[loss.MultipleLosses.losses]]
name = "metric"
loss.TripletMarginLoss = { margin = 0.1 }
miner = "MultiSimilarityMiner"

[[loss.MultipleLosses.losses]]
name = "classifier"
weight = 0.5
loss = "SoftmaxLoss"
"#;

/// The classifier's weight matrix of a [`JOINT`] run.
fn classifier_weight(t: &Trainer) -> Vec<f32> {
    let dml_losses::Loss::MultipleLosses(m) = t.loss.loss() else { panic!("MultipleLosses") };
    let dml_losses::Loss::SoftmaxLoss(s) = &m.losses[1] else { panic!("SoftmaxLoss") };
    s.weight.val().into_data().convert::<f32>().try_to_vec::<f32>().expect("floats")
}

fn joint_config(dir: &Path) -> TrainConfig {
    let file = dir.join("joint.toml");
    std::fs::write(&file, JOINT).expect("write");
    tiny(dir, "ContrastiveLoss").patched_with_file(&file).expect("config file")
}

#[test]
fn a_metric_plus_classifier_file_trains_every_part_and_resumes() {
    let a = tempfile::tempdir().expect("tempdir");
    let mut c = joint_config(a.path());
    c.run.length = Span::Iterations(12);
    c.run.eval_every = Some(Span::Iterations(12));
    c.run.max_steps_per_epoch = None;
    c.optim.lr = 0.002;
    c.optim.frozen_backbone = Span::Epochs(0);
    c.validate().expect("valid");
    let (before, after, initial, trained) = {
        let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
        let (train, eval) = load_data(&c).expect("data");
        let mut t = Trainer::for_data(c, &train, &Device::flex()).expect("trainer");
        t.show_progress = false;
        let initial = classifier_weight(&t);
        let before = loss_on_first_batch(&mut t, &train);
        t.fit(&train, &eval, None).expect("fit");
        assert_eq!(t.step, 12);
        (before, loss_on_first_batch(&mut t, &train), initial, classifier_weight(&t))
    };
    assert!(before.is_finite() && after < before, "joint loss {before} -> {after}");
    // The classifier's weights are in the loss's optimizer group: they trained.
    let moved = initial.iter().zip(&trained).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    assert!(moved > 1e-4, "the classifier did not train ({moved})");
    assert!(a.path().join("last.ckpt").exists());

    // Interrupted and resumed equals uninterrupted, the classifier's weights included.
    let b = tempfile::tempdir().expect("tempdir");
    let full = run(joint_config(b.path()), None);
    let d = tempfile::tempdir().expect("tempdir");
    let first = run(joint_config(d.path()), Some(3));
    assert_eq!(first.step, 3);
    drop(first);
    let mut c = joint_config(d.path());
    c.run.resume = Some(d.path().join("last.ckpt").to_string_lossy().into_owned());
    let resumed = run(c, None);
    assert_same_run(&full, &resumed, "MultipleLosses");
    assert_eq!(classifier_weight(&full), classifier_weight(&resumed));
}

#[test]
fn a_cross_batch_memory_trains_and_resumes_with_its_queue() {
    let a = tempfile::tempdir().expect("tempdir");
    let mut c = tiny(a.path(), "ContrastiveLoss");
    c = c.patched(&serde_json::json!({"memory": {"memory_size": 24}}), "test").expect("memory");
    let full = run(c.clone(), None);
    assert_eq!(full.step, 6);
    assert!(full.history.epochs.iter().all(|r| r.loss.is_finite() && r.loss > 0.0));

    let b = tempfile::tempdir().expect("tempdir");
    let mut first = c.clone();
    first.run.output_dir = b.path().to_string_lossy().into_owned();
    drop(run(first.clone(), Some(4)));
    first.run.resume = Some(b.path().join("last.ckpt").to_string_lossy().into_owned());
    let resumed = run(first, None);
    let (x, y) = (embeddings(&full), embeddings(&resumed));
    let diff = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    assert!(diff <= 1e-6, "memory run resumed differs by {diff}");
}

#[test]
fn fine_tuning_starts_from_the_classification_checkpoint() {
    let pre = tempfile::tempdir().expect("tempdir");
    let mut c = tiny(pre.path(), "ArcMarginLoss");
    c.optim.optimizer = OptimizerConfig::sgd(0.9);
    let classifier = run(c, None);
    let fine = tempfile::tempdir().expect("tempdir");
    let mut c = tiny(fine.path(), "TripletMarginLoss");
    c.pretrained = Some(pre.path().join("last.ckpt").to_string_lossy().into_owned());
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let (train, _) = load_data(&c).expect("data");
    let t = Trainer::for_data(c, &train, &Device::flex()).expect("trainer");
    // Before its first step, the network is exactly the classification run's.
    assert_eq!(embeddings(&t), embeddings(&classifier));
}

fn assert_same_run(full: &Trainer, resumed: &Trainer, what: &str) {
    assert_eq!(resumed.step, full.step, "{what}");
    let (x, y) = (embeddings(full), embeddings(resumed));
    let diff = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    assert!(diff == 0.0, "{what}: embeddings differ by {diff}");
    assert_eq!(full.history.epochs.len(), resumed.history.epochs.len(), "{what}");
    for (p, q) in full.history.epochs.iter().zip(&resumed.history.epochs) {
        let tol = 1e-12 * p.loss.abs().max(1.0);
        assert!(
            (p.loss - q.loss).abs() <= tol,
            "{what}: epoch {} loss {} vs {}",
            p.epoch,
            p.loss,
            q.loss
        );
        assert_eq!(p.lr, q.lr, "{what}: epoch {} lr", p.epoch);
    }
    let ev = |t: &Trainer| {
        t.history.evaluations.iter().map(|e| (e.step, e.recall_at.clone())).collect::<Vec<_>>()
    };
    assert_eq!(ev(full), ev(resumed), "{what}: evaluations");
}

#[test]
fn resume_after_an_interruption_matches_an_uninterrupted_run() {
    // DynamicSoftMarginLoss: its running histogram is restored from the checkpoint.
    for loss in ["AMLoss", "ContrastiveLoss", "DynamicSoftMarginLoss"] {
        let a = tempfile::tempdir().expect("tempdir");
        let full = run(tiny(a.path(), loss), None);
        let b = tempfile::tempdir().expect("tempdir");
        // Interrupted after 3 steps (mid-epoch 2): the last checkpoint is the end of epoch 1.
        let first = run(tiny(b.path(), loss), Some(3));
        assert_eq!(first.step, 3);
        drop(first);
        let mut c = tiny(b.path(), loss);
        c.run.resume = Some(b.path().join("last.ckpt").to_string_lossy().into_owned());
        let resumed = run(c, None);
        assert_same_run(&full, &resumed, loss);
        if let (dml_losses::Loss::AMLoss(p), dml_losses::Loss::AMLoss(q)) =
            (full.loss.loss(), resumed.loss.loss())
        {
            let d = (p.proxies.val() - q.proxies.val()).abs().max().into_scalar::<f32>();
            let m = (p.margins.val() - q.margins.val()).abs().max().into_scalar::<f32>();
            assert!(d == 0.0 && m == 0.0, "proxies differ by {d}, margins by {m}");
        }
        if let (
            dml_losses::Loss::DynamicSoftMarginLoss(p),
            dml_losses::Loss::DynamicSoftMarginLoss(q),
        ) = (full.loss.loss(), resumed.loss.loss())
        {
            let d = (p.histogram() - q.histogram()).abs().max().into_scalar::<f32>();
            assert!(d == 0.0, "histograms differ by {d}");
        }
    }
}

#[test]
fn an_iteration_based_run_resumes_mid_epoch_and_continues_its_count() {
    let with_steps = |dir: &Path| {
        let mut c = tiny(dir, "MultiSimilarityLoss");
        c.run.length = Span::Iterations(7);
        c.run.max_steps_per_epoch = Some(3);
        c.run.checkpoint_every = Some(Span::Iterations(1));
        c.run.eval_every = Some(Span::Iterations(2));
        c.schedule = dml_train::config::ScheduleConfig::new(
            dml_train::config::LrDecay::MultiStep { milestones: vec![2, 5], gamma: 0.1 },
            dml_train::config::Unit::Iteration,
        );
        c
    };
    let a = tempfile::tempdir().expect("tempdir");
    let full = run(with_steps(a.path()), None);
    assert_eq!(full.step, 7);
    assert_eq!(full.history.evaluations.iter().map(|e| e.step).collect::<Vec<_>>(), [2, 4, 6, 7]);
    let b = tempfile::tempdir().expect("tempdir");
    drop(run(with_steps(b.path()), Some(4))); // a checkpoint after step 4, mid-epoch 2
    let mut c = with_steps(b.path());
    c.run.resume = Some(b.path().join("last.ckpt").to_string_lossy().into_owned());
    let resumed = run(c, None);
    assert_same_run(&full, &resumed, "iterations");
}

#[test]
fn missing_and_corrupted_checkpoints_give_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = tiny(dir.path(), "ProxyAnchorLoss");
    c.run.length = Span::Epochs(1);
    run(c.clone(), None);
    let last = dir.path().join("last.ckpt");
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());

    let mut missing = c.clone();
    missing.run.resume = Some(dir.path().join("nope.ckpt").to_string_lossy().into_owned());
    let err = Trainer::new(missing, 4, 2, &Device::flex()).err().expect("missing");
    assert!(matches!(err, TrainError::MissingCheckpoint(_)), "{err}");
    assert!(err.to_string().contains("nope.ckpt"), "{err}");

    let mut bytes = std::fs::read(&last).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&last, &bytes).expect("write");
    let mut corrupt = c.clone();
    corrupt.run.resume = Some(last.to_string_lossy().into_owned());
    let err = Trainer::new(corrupt.clone(), 4, 2, &Device::flex()).err().expect("corrupt");
    assert!(matches!(err, TrainError::CorruptCheckpoint { .. }), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");

    std::fs::write(&last, &bytes[..100]).expect("truncate");
    let err = Trainer::new(corrupt, 4, 2, &Device::flex()).err().expect("truncated");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn bad_configuration_fails_before_training_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = tiny(dir.path(), "ProxyAnchorLoss");
    let cases: [(&str, &str); 6] = [
        ("[run]\nlenght = { epochs = 2 }\n", "`run.lenght`: unknown setting"),
        ("[optim]\nlr = \"fast\"\n", "optim.lr"),
        ("[loss.ProxyAnchorLoss]\nalpha = -1.0\n", "`loss.ProxyAnchorLoss.alpha`"),
        (
            "[loss.AMLoss]\n[miner.BatchHardMiner]\n",
            "`miner` BatchHardMiner does not fit `loss` AMLoss",
        ),
        ("[loss.NoSuchLoss]\n", "unknown loss `NoSuchLoss`"),
        (
            "[data]\nbatch_size = 9\nsampler = { MPerClass = { m = 2 } }\n",
            "`data.batch_size` (9) must be a multiple",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).expect("write");
        let err = base
            .patched_with_file(&file)
            .and_then(|c: TrainConfig| c.validate().map(|_| c))
            .expect_err(text)
            .to_string();
        assert!(err.contains(expected), "{text}: {err}");
        if !text.contains("lenght") && !text.contains("fast") && !text.contains("NoSuch") {
            continue;
        }
        assert!(err.contains(&format!("bad{i}.toml")), "the file is named: {err}");
    }
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
        c.data.dir = dir.path().to_string_lossy().into_owned();
        c.validate().expect("preset is valid");
        let err = load_data(&c).err().expect("no files");
        let msg = err.to_string();
        assert!(msg.contains(&*dir.path().to_string_lossy()), "{kind:?}: {msg}");
    }
}

/// PML's regularizers from a configuration file: a weight regularizer on a proxy loss and an
/// embedding regularizer on a pair loss train and lower the loss, and the penalty is part of
/// the value a step minimizes (the loss alone gives another value on the same batch).
#[test]
fn weight_and_embedding_regularizers_train_from_a_config_file() {
    for (loss, regularization) in [
        (
            "ProxyAnchorLoss",
            "weight_regularizer = \"RegularFaceRegularizer\"\nweight_reg_weight = 0.5\n",
        ),
        (
            "ContrastiveLoss",
            "embedding_regularizer = { LpRegularizer = { power = 2.0 } }\n\
             embedding_reg_weight = 0.1\n",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("run.toml");
        let text = format!(
            "[loss.{loss}]\n\n[regularization]\n{regularization}\n[run]\nlength = {{ iterations = 12 }}\neval_every = {{ iterations = 12 }}\n\n[optim]\nlr = 0.002\nfrozen_backbone = {{ epochs = 0 }}\n"
        );
        std::fs::write(&file, text).expect("write");
        let mut c = tiny(dir.path(), "ContrastiveLoss").patched_with_file(&file).expect("config");
        c.run.max_steps_per_epoch = None;
        c.validate().unwrap_or_else(|e| panic!("{loss}: {e}"));
        assert!(c.regularization.is_some(), "{loss}");
        let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
        let (train, eval) = load_data(&c).expect("data");
        let mut t = Trainer::for_data(c, &train, &Device::flex()).expect("trainer");
        t.show_progress = false;
        let before = loss_on_first_batch(&mut t, &train);
        t.fit(&train, &eval, None).unwrap_or_else(|e| panic!("{loss}: {e}"));
        let after = loss_on_first_batch(&mut t, &train);
        assert!(before.is_finite() && after < before, "{loss}: {before} -> {after}");
        let batch = train.epoch_from(0, 0, &t.device).next().expect("a batch").expect("batch");
        let e = t.model.forward(batch.images);
        let input = dml_losses::LossInput::from_host_labels(e, &batch.labels);
        let alone = dml_losses::MetricLoss::forward_input(t.loss.loss(), &input).expect("loss");
        let alone = alone.into_scalar::<f32>() as f64;
        // (RegularFace's penalty, a cosine, may be negative.)
        assert!(
            (after - alone).abs() > 1e-4,
            "{loss}: the penalty is in the loss ({after} vs {alone})"
        );
    }
}
