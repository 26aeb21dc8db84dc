//! Data-parallel training on several devices: the batch sharded over 2 or 3 devices (here
//! repeated CPU devices, the multi-device setup this machine has; `tools/test_backends.sh` runs
//! the same on libtorch and the software Vulkan device) trains the same parameters as one device
//! with the same global batch, for a pair loss with batch-hard mining, a proxy loss and a
//! cross-batch memory (NTXent), and a checkpoint of a 2-device run resumes on one device.
//! With BatchNorm in training mode, per-device statistics (the default) change the run, and
//! synchronized statistics (`run.sync_batch_norm`) give the one-device run again, running
//! statistics included; a synced checkpoint resumes on one device.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use common::{RUNS, tiny};
use dml_backbones::Backbone;
use dml_train::config::{OptimizerConfig, Span};
use dml_train::data::load_data;
use dml_train::{TrainConfig, Trainer};

/// Every float parameter of a module, flattened in visiting order.
struct Flatten(Vec<f32>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let data = param.val().into_data().convert::<f32>();
        self.0.extend(data.try_to_vec::<f32>().expect("f32 data"));
    }
}

fn params<M: Module>(m: &M) -> Vec<f32> {
    let mut f = Flatten(Vec::new());
    m.visit(&mut f);
    f.0
}

/// The test's device, `DML_TEST_DEVICE` (`tch:cpu`, `wgpu:cpu`, ...), or the CPU.
fn device_name() -> String {
    std::env::var("DML_TEST_DEVICE").unwrap_or_else(|_| "cpu".into())
}

/// Trains `config` on `devices` copies of the test device (stopping after `stop_after`
/// steps when given).
fn train_on(mut config: TrainConfig, devices: usize, stop_after: Option<usize>) -> Trainer {
    let name = device_name();
    config.run.devices = if devices > 1 { vec![name.clone(); devices] } else { Vec::new() };
    config.run.device = name.clone();
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let (train, eval) = load_data(&config).expect("data");
    let device = dml_train::device::resolve_device(&name).expect("device");
    let mut t = Trainer::for_data(config, &train, &device).expect("trainer");
    assert_eq!(t.replicas.len(), devices - 1);
    t.show_progress = false;
    t.fit(&train, &eval, stop_after).expect("fit");
    t
}

/// The largest difference between two runs' model and loss parameters, relative to the
/// largest parameter magnitude.
fn relative_difference(a: &Trainer, b: &Trainer) -> f32 {
    // The visitor reads BatchNorm's running statistics with `RunningState::value`, which can be
    // one update behind until `value_sync` folds the pending one in: settle them first.
    let _ = (running_statistics(a), running_statistics(b));
    let (mut x, mut y) = (params(&a.model), params(&b.model));
    x.extend(params(a.loss.loss()));
    y.extend(params(b.loss.loss()));
    assert_eq!(x.len(), y.len());
    let scale = x.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max) / scale
}

/// The tiny run of `loss` (6 steps, batches of 8 with 2 images per class) with BatchNorm
/// frozen, so that a shard's statistics are not its own, every parameter trained from the
/// first step, and SGD with momentum. (AdamW's first step divides each gradient by its own
/// magnitude, which turns the rounding of a near-zero gradient into a parameter difference of
/// about 1e-6 relative, constant after that step; SGD shows the gradients' own agreement.)
fn recipe(dir: &std::path::Path, loss: &str) -> TrainConfig {
    let mut c = tiny(dir, loss);
    c.model.freeze_batch_norm = true;
    c.optim.frozen_backbone = Span::Epochs(0);
    c.optim.optimizer = OptimizerConfig::sgd(0.9);
    c.optim.lr = 0.01;
    c
}

/// Float tolerance of a 6-step run whose sums are taken in another order, relative to the
/// largest parameter: 40 float32 roundings of it. Measured: 2e-8 to 3e-7 on the CPU and on
/// libtorch, up to 1.5e-6 on lavapipe (ProxyAnchor's proxies, at 100 times the learning rate).
const TOLERANCE: f32 = 5e-6;

/// The three losses the data-parallel runs are compared on: (loss, miner, in a memory).
const CASES: [(&str, Option<&str>, bool); 3] = [
    ("TripletMarginLoss", Some("BatchHardMiner"), false),
    ("ProxyAnchorLoss", None, false),
    // In the memory, a loss without a hinge: a contrastive pair crossing its margin in one
    // run and not in the other (a float-rounding coin flip) changes the average's count,
    // which is not a difference of the device count.
    ("NTXentLoss", None, true),
];

/// [`recipe`] for a case of [`CASES`].
fn case_recipe(
    dir: &std::path::Path,
    loss: &str,
    miner: Option<&str>,
    memory: bool,
) -> TrainConfig {
    let mut c = recipe(dir, loss);
    if let Some(m) = miner {
        c = c.patched(&serde_json::json!({ "miner": m }), "test").expect("miner");
    }
    if memory {
        c = c.patched(&serde_json::json!({"memory": {"memory_size": 24}}), "test").expect("memory");
    }
    c
}

#[test]
fn two_and_three_devices_train_the_same_parameters_as_one() {
    for (loss, miner, memory) in CASES {
        let run = |devices: usize| {
            let dir = tempfile::tempdir().expect("tempdir");
            train_on(case_recipe(dir.path(), loss, miner, memory), devices, None)
        };
        let one = run(1);
        assert_eq!(one.step, 6);
        for devices in [2, 3] {
            let many = run(devices);
            assert_eq!(many.step, 6);
            let diff = relative_difference(&one, &many);
            eprintln!("{loss} on {devices} devices: relative parameter difference {diff:e}");
            assert!(diff <= TOLERANCE, "{loss} on {devices} devices: parameters differ by {diff}");
            for (p, q) in one.history.epochs.iter().zip(&many.history.epochs) {
                let tol = 1e-5 * p.loss.abs().max(1.0);
                assert!((p.loss - q.loss).abs() <= tol, "{loss}: loss {} vs {}", p.loss, q.loss);
            }
            if memory {
                // The queue holds the global batch's embeddings, as on one device.
                let (a, b) = (one.loss.memory_bytes(), many.loss.memory_bytes());
                let (a, b) = (a.expect("memory").expect("a"), b.expect("memory").expect("b"));
                assert_eq!(a.len(), b.len(), "{loss}: memory sizes");
            }
        }
    }
}

#[test]
fn batch_norm_in_training_mode_normalizes_each_shard_with_its_own_statistics() {
    // The comparison above is sensitive: with BatchNorm training, each device normalizes its
    // own half of the batch (PyTorch DDP's default), which is not the one-device computation.
    let run = |devices: usize| {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = recipe(dir.path(), "MultiSimilarityLoss");
        c.model.freeze_batch_norm = false;
        train_on(c, devices, None)
    };
    let diff = relative_difference(&run(1), &run(2));
    eprintln!("BatchNorm training, 2 devices: relative parameter difference {diff:e}");
    assert!(diff > 100.0 * TOLERANCE, "per-device statistics left the run unchanged ({diff})");
}

#[test]
fn a_two_device_checkpoint_resumes_on_one_device() {
    let a = tempfile::tempdir().expect("tempdir");
    let full = train_on(recipe(a.path(), "ProxyAnchorLoss"), 1, None);
    let b = tempfile::tempdir().expect("tempdir");
    // Interrupted after 3 steps on 2 devices: the last checkpoint is the end of epoch 1.
    let first = train_on(recipe(b.path(), "ProxyAnchorLoss"), 2, Some(3));
    assert_eq!(first.step, 3);
    drop(first);
    let mut c = recipe(b.path(), "ProxyAnchorLoss");
    c.run.resume = Some(b.path().join("last.ckpt").to_string_lossy().into_owned());
    let resumed = train_on(c, 1, None);
    assert_eq!(resumed.step, 6);
    let diff = relative_difference(&full, &resumed);
    assert!(diff <= TOLERANCE, "resumed on one device: parameters differ by {diff}");
    // The move is recorded in the run's history, not refused.
    let segments = &resumed.segments;
    assert_eq!(segments.len(), 2);
    assert!(
        segments[1].changes.iter().any(|c| c.starts_with("run.devices")),
        "changes recorded: {:?}",
        segments[1].changes
    );
}

#[test]
fn more_devices_than_samples_in_a_batch_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = recipe(dir.path(), "ContrastiveLoss");
    c.run.devices = vec!["cpu".into(); 9];
    let err = c.validate().expect_err("9 devices, batches of 8");
    let text = err.to_string();
    assert!(text.contains("run.devices") && text.contains("data.batch_size"), "{text}");
}

#[test]
fn the_loss_per_device_is_the_mean_of_the_shards_losses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = recipe(dir.path(), "TripletMarginLoss");
    c.run.devices = vec![device_name(); 2];
    c.run.device = device_name();
    c.run.loss_per_device = true;
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let (train, eval) = load_data(&c).expect("data");
    let device = dml_train::device::resolve_device(&device_name()).expect("device");
    let mut t = Trainer::for_data(c, &train, &device).expect("trainer");
    t.show_progress = false;
    // The shards' losses before the first step, each on its 4 samples (2 classes x 2).
    let batch = train.epoch_from(0, 0, &t.device).next().expect("a batch").expect("batch");
    let mut expected = 0.0;
    for half in [0..4, 4..8] {
        let images = batch.images.clone().narrow(0, half.start, half.len());
        let e = t.model.forward(images);
        let l = t.loss.forward(e, &batch.labels[half]).expect("loss");
        expected += l.into_scalar::<f32>() as f64 / 2.0;
    }
    // The global batch's loss differs: it mines across the shards.
    let global = {
        let e = t.model.forward(batch.images.clone());
        t.loss.forward(e, &batch.labels).expect("loss").into_scalar::<f32>() as f64
    };
    t.fit(&train, &eval, Some(1)).expect("fit");
    let got = t.partial.loss_sum;
    assert!((got - expected).abs() <= 1e-6 * expected.abs().max(1.0), "{got} vs {expected}");
    assert!((got - global).abs() > 1e-4, "per-device {got} equals the global loss {global}");
}

/// The running mean and variance of every BatchNorm of the tiny run's small CNN, in order.
fn running_statistics(t: &Trainer) -> Vec<f32> {
    let Backbone::SmallCnn(cnn) = &t.model.backbone else {
        panic!("the tiny run's backbone is the small CNN")
    };
    let mut out = Vec::new();
    for bn in [&cnn.block1.bn, &cnn.block2.bn, &cnn.block3.bn] {
        for state in [&bn.running_mean, &bn.running_var] {
            let data = state.value_sync().into_data().convert::<f32>();
            out.extend(data.try_to_vec::<f32>().expect("f32 data"));
        }
    }
    out
}

/// The largest difference between two runs' running statistics, relative to the largest
/// magnitude among them.
fn running_difference(a: &Trainer, b: &Trainer) -> f32 {
    let (x, y) = (running_statistics(a), running_statistics(b));
    assert_eq!(x.len(), y.len());
    let scale = x.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max) / scale
}

/// `c` with BatchNorm in training mode and, when `sync`, synchronized statistics.
fn batch_norm_training(c: TrainConfig, sync: bool) -> TrainConfig {
    let mut c = c;
    c.model.freeze_batch_norm = false;
    c.run.sync_batch_norm = sync;
    c
}

/// Float tolerance of the 6-step runs with BatchNorm in training mode, relative to the largest
/// parameter (or running statistic). After one step the synced runs agree with the one-device
/// run to a rounding (checked first, against [`TOLERANCE`]: measured 2e-8 to 9.3e-7 on every
/// backend). Training then amplifies the roundings: normalizing with the batch's statistics
/// divides by the σ of low-variance channels, and a max-pool or ReLU choice between two
/// near-equal values can go either way. Measured after 6 steps: 1.6e-7 to 9.1e-6 on the CPU and
/// on lavapipe for every case, and on libtorch for TripletMargin and NTXent (6.7e-6). ProxyAnchor
/// on libtorch (α = 32, its proxies at 100 times the learning rate) reaches 3.8e-6 at step 2
/// and jumps to 1.3e-4 at step 3, all in the first convolution's weights: the signature of
/// such a flip; 2.3e-4 at step 6. Per-device statistics differ by 0.28 to 0.34, over 280 times
/// this tolerance.
const BATCH_NORM_TOLERANCE: f32 = 1e-3;

#[test]
fn synchronized_batch_norm_on_two_and_three_devices_trains_as_one_device() {
    for (loss, miner, memory) in CASES {
        // `devices` devices, synced, stopping after `stop_after` steps when given.
        let run = |devices: usize, stop_after: Option<usize>| {
            let dir = tempfile::tempdir().expect("tempdir");
            let c = batch_norm_training(case_recipe(dir.path(), loss, miner, memory), true);
            train_on(c, devices, stop_after)
        };
        // On one device the option changes nothing: the same run as without it.
        let one = run(1, None);
        let plain = {
            let dir = tempfile::tempdir().expect("tempdir");
            let c = batch_norm_training(case_recipe(dir.path(), loss, miner, memory), false);
            train_on(c, 1, None)
        };
        assert_eq!(relative_difference(&one, &plain), 0.0, "{loss}: one device, synced or not");
        assert_eq!(running_difference(&one, &plain), 0.0, "{loss}: running statistics");
        // The running statistics moved from their initial values (0 and 1).
        let stats = running_statistics(&one);
        assert!(stats.iter().any(|v| v.abs() > 1e-3 && (v - 1.0).abs() > 1e-3), "{loss}");
        // One step: the same gradients and running statistics to a rounding.
        let one_step = run(1, Some(1));
        for devices in [2, 3] {
            let many = run(devices, Some(1));
            assert_eq!(many.step, 1);
            let diff = relative_difference(&one_step, &many);
            let stats = running_difference(&one_step, &many);
            eprintln!(
                "{loss} on {devices} devices, synchronized BatchNorm, one step: relative \
                 parameter difference {diff:e}, running statistics {stats:e}"
            );
            assert!(diff <= TOLERANCE, "{loss} on {devices} devices, step 1: parameters {diff}");
            assert!(stats <= TOLERANCE, "{loss} on {devices} devices, step 1: statistics {stats}");
        }
        for devices in [2, 3] {
            let many = run(devices, None);
            assert_eq!(many.step, 6);
            let diff = relative_difference(&one, &many);
            let stats = running_difference(&one, &many);
            eprintln!(
                "{loss} on {devices} devices, synchronized BatchNorm: relative parameter \
                 difference {diff:e}, running statistics {stats:e}"
            );
            let (tol, what) = (BATCH_NORM_TOLERANCE, format!("{loss} on {devices} devices"));
            assert!(diff <= tol, "{what}: parameters differ by {diff}");
            assert!(stats <= tol, "{what}: running statistics differ by {stats}");
            for (p, q) in one.history.epochs.iter().zip(&many.history.epochs) {
                let tol = f64::from(BATCH_NORM_TOLERANCE) * p.loss.abs().max(1.0);
                assert!((p.loss - q.loss).abs() <= tol, "{loss}: loss {} vs {}", p.loss, q.loss);
            }
        }
    }
}

#[test]
fn a_synchronized_two_device_checkpoint_resumes_on_one_device() {
    let a = tempfile::tempdir().expect("tempdir");
    let full = train_on(batch_norm_training(recipe(a.path(), "ProxyAnchorLoss"), false), 1, None);
    let b = tempfile::tempdir().expect("tempdir");
    let synced = |c| batch_norm_training(c, true);
    let first = train_on(synced(recipe(b.path(), "ProxyAnchorLoss")), 2, Some(3));
    assert_eq!(first.step, 3);
    drop(first);
    // Resumed on one device without the option (which does nothing there): recorded, not
    // refused, like the change of devices.
    let mut c = batch_norm_training(recipe(b.path(), "ProxyAnchorLoss"), false);
    c.run.resume = Some(b.path().join("last.ckpt").to_string_lossy().into_owned());
    let resumed = train_on(c, 1, None);
    assert_eq!(resumed.step, 6);
    let diff = relative_difference(&full, &resumed);
    let stats = running_difference(&full, &resumed);
    eprintln!("synced checkpoint resumed on one device: {diff:e}, running statistics {stats:e}");
    assert!(diff <= BATCH_NORM_TOLERANCE, "resumed on one device: parameters differ by {diff}");
    assert!(stats <= BATCH_NORM_TOLERANCE, "resumed: running statistics differ by {stats}");
    let changes = &resumed.segments[1].changes;
    assert!(changes.iter().any(|c| c.starts_with("run.devices")), "{changes:?}");
    assert!(changes.iter().any(|c| c.starts_with("run.sync_batch_norm")), "{changes:?}");
}

#[test]
fn synchronized_batch_norm_with_the_loss_per_device_averages_the_shards_losses() {
    // With synchronized statistics the shards' embeddings are the whole batch's, so the
    // per-device loss is the mean of the loss on each half of the one-device embeddings.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = batch_norm_training(recipe(dir.path(), "TripletMarginLoss"), true);
    c.run.devices = vec![device_name(); 2];
    c.run.device = device_name();
    c.run.loss_per_device = true;
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let (train, eval) = load_data(&c).expect("data");
    let device = dml_train::device::resolve_device(&device_name()).expect("device");
    let mut t = Trainer::for_data(c, &train, &device).expect("trainer");
    t.show_progress = false;
    let batch = train.epoch_from(0, 0, &t.device).next().expect("a batch").expect("batch");
    // The forward pass in training mode moves the running statistics, not the first loss.
    let e = t.model.clone().train().forward(batch.images.clone());
    let mut expected = 0.0;
    for half in [0..4, 4..8] {
        let part = e.clone().narrow(0, half.start, half.len());
        let l = t.loss.forward(part, &batch.labels[half]).expect("loss");
        expected += l.into_scalar::<f32>() as f64 / 2.0;
    }
    // Per-device statistics give another value.
    let unsynced = {
        let mut expected = 0.0;
        for half in [0..4, 4..8] {
            let images = batch.images.clone().narrow(0, half.start, half.len());
            let e = t.model.clone().train().forward(images);
            let l = t.loss.forward(e, &batch.labels[half]).expect("loss");
            expected += l.into_scalar::<f32>() as f64 / 2.0;
        }
        expected
    };
    t.fit(&train, &eval, Some(1)).expect("fit");
    let got = t.partial.loss_sum;
    assert!((got - expected).abs() <= 1e-5 * expected.abs().max(1.0), "{got} vs {expected}");
    assert!((got - unsynced).abs() > 1e-4, "synced {got} equals per-device {unsynced}");
}

#[test]
fn synchronized_batch_norm_trains_in_low_precision() {
    // Mixed precision: each shard's network in bfloat16 (float16 with a loss scale where the
    // device has no bfloat16: wgpu), BatchNorm (and its exchange) in float32. The synced
    // 2-device run follows the one-device run in the same precision more closely than the
    // per-device statistics do.
    use dml_train::config::Precision;
    let device = dml_train::device::resolve_device(&device_name()).expect("device");
    let bf16 = device.supports_dtype(burn::tensor::DType::BF16);
    let run = |devices: usize, sync: bool| {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = batch_norm_training(recipe(dir.path(), "MultiSimilarityLoss"), sync);
        if bf16 {
            c.run.precision = Precision::Bf16;
        } else {
            c.run.precision = Precision::F16;
            c.run.loss_scale = 1024.0;
        }
        train_on(c, devices, None)
    };
    let one = run(1, true);
    let (synced, unsynced) = (run(2, true), run(2, false));
    assert!(synced.history.epochs.iter().all(|e| e.loss.is_finite()));
    let (a, b) = (relative_difference(&one, &synced), relative_difference(&one, &unsynced));
    let precision = if bf16 { "bf16" } else { "f16" };
    eprintln!(
        "{precision}, 2 devices: relative parameter difference synced {a:e}, per-device {b:e}"
    );
    assert!(a < b / 10.0, "synced {a}, per-device {b}");
}
