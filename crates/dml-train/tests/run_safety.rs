//! A run never loses, mixes or misreports results. One test per case: two runs on one
//! directory, a new run into a directory holding an earlier one, a run that would take no
//! step, an embedding index searched with another checkpoint, changed settings on resume,
//! idx files with tiny images, labels out of range or no images, stale temporary files; each
//! checks the error names the problem and that no earlier file of the run directory changed.
//! And a fault-injection test: a training process killed with SIGKILL mid-step, mid-checkpoint
//! write and between writes, then resumed, ends with exactly the uninterrupted run's weights
//! and metrics and no temporary file left.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use common::{RUNS, run, tiny};
use dml_data::Split;
use dml_train::config::Span;
use dml_train::data::{MemoryImages, load_data};
use dml_train::infer::{EmbeddingFile, TrainedModel, embed_split, query};
use dml_train::provenance::sha256_hex;
use dml_train::{TrainConfig, TrainError, Trainer};

/// The SHA-256 of every file in `dir` (the lock file's contents, which name its holder, left
/// out).
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file() && e.file_name() != ".lock")
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("read");
            (e.file_name().to_string_lossy().into_owned(), sha256_hex(&bytes))
        })
        .collect()
}

/// A run of 6 steps (3 epochs of 2) checkpointing after every step, evaluating every 2.
fn small(dir: &Path) -> TrainConfig {
    let mut c = tiny(dir, "ContrastiveLoss");
    c.run.checkpoint_every = Some(Span::Iterations(1));
    c.run.eval_every = Some(Span::Iterations(2));
    c
}

/// Trains `config` in-process and returns the error, if any.
fn try_run(config: TrainConfig) -> Result<Trainer, TrainError> {
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let (train, eval) = load_data(&config)?;
    let mut t = Trainer::for_data(config, &train, &Device::flex())?;
    t.show_progress = false;
    t.fit(&train, &eval, None)?;
    Ok(t)
}

/// Starts this test binary as a child process running `config` (see `child_process_run`),
/// with the fault `fault` armed; returns it and its marker file.
fn spawn_child(config: &TrainConfig, fault: Option<&str>, scratch: &Path) -> (Child, PathBuf) {
    let file = scratch.join(format!("child-{}.json", fault.unwrap_or("none").replace('@', "-")));
    config.save(&file).expect("config");
    let marker = scratch.join(format!("{}.marker", file.display()));
    let _ = std::fs::remove_file(&marker);
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--exact", "child_process_run", "--nocapture", "--test-threads=1"])
        .env("DML_TEST_CHILD_CONFIG", &file)
        .env("DML_FAULT_MARKER", &marker);
    if let Some(f) = fault {
        cmd.env("DML_FAULT", f);
    }
    (cmd.spawn().expect("spawn"), marker)
}

fn wait_for(marker: &Path, child: &mut Child) {
    let start = Instant::now();
    while !marker.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the child ended ({status}) before reaching its fault point");
        }
        assert!(start.elapsed() < Duration::from_secs(300), "the child never reached its fault");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Not a check of its own: the body of the child processes the other tests start (it runs
/// the configuration named by `DML_TEST_CHILD_CONFIG`, and does nothing when it is unset).
#[test]
fn child_process_run() {
    let Some(path) = std::env::var_os("DML_TEST_CHILD_CONFIG") else { return };
    let config = TrainConfig::load(Path::new(&path)).expect("child config");
    try_run(config).expect("child run");
}

#[test]
fn concurrent_runs_on_one_directory_fail_naming_the_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (mut child, marker) = spawn_child(&small(dir.path()), Some("mid-step@3"), scratch.path());
    wait_for(&marker, &mut child);
    let before = snapshot(dir.path());
    let err = try_run(small(dir.path())).err().expect("the directory is held").to_string();
    assert!(err.contains("is in use by another run"), "{err}");
    assert!(err.contains(&format!("process {}", child.id())), "names the holder: {err}");
    assert_eq!(snapshot(dir.path()), before, "the second run changed nothing");
    child.kill().expect("kill");
    let _ = child.wait();
}

#[test]
fn rerun_without_resume_refuses_and_leaves_the_earlier_run_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = run(small(dir.path()), None);
    let before = snapshot(dir.path());
    assert!(before.contains_key("best.ckpt") && before.contains_key("last.ckpt"));
    let mut second = small(dir.path());
    second.run.seed = 7;
    let err = try_run(second.clone()).err().expect("occupied").to_string();
    assert!(err.contains("holds an earlier run") && err.contains("last.ckpt of run"), "{err}");
    assert!(err.contains("--resume") && err.contains("--overwrite"), "{err}");
    assert_eq!(snapshot(dir.path()), before, "nothing of the earlier run changed");
    // Asked for explicitly, the new run replaces it.
    second.run.overwrite = true;
    let replaced = try_run(second).expect("overwrite");
    assert_ne!(replaced.run_id, first.run_id);
    assert_ne!(snapshot(dir.path())["last.ckpt"], before["last.ckpt"]);
}

#[test]
fn zero_step_run_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = small(dir.path());
    c.data.batch_size = 64; // the synthetic training split holds 40 images
    c.data.sampler = dml_train::config::SamplerConfig::Random;
    let err = try_run(c).err().expect("no batch").to_string();
    assert!(err.contains("gives no batch") && err.contains("batch_size 64"), "{err}");
    assert!(snapshot(dir.path()).is_empty(), "nothing written");
    // A finished run resumed is not a new result either.
    run(small(dir.path()), None);
    let before = snapshot(dir.path());
    let mut again = small(dir.path());
    again.run.resume = Some(dir.path().join("last.ckpt").to_string_lossy().into_owned());
    let err = try_run(again).err().expect("complete").to_string();
    assert!(err.contains("nothing to train") && err.contains("step 6 of 6"), "{err}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn mismatched_index_is_refused_naming_both_hashes() {
    let (a, b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    run(small(a.path()), None);
    let mut other = small(b.path());
    other.run.seed = 5;
    run(other, None);
    let device = Device::flex();
    let (model_a, model_b) = (load(&a.path().join("last.ckpt")), load(&b.path().join("last.ckpt")));
    assert_ne!(model_a.model_hash, model_b.model_hash);
    let index_path = a.path().join("index.safetensors");
    embed_split(&model_a, "", Split::Test, 8, 0, &device)
        .expect("embed")
        .save(&index_path)
        .expect("save");
    let index = EmbeddingFile::load(&index_path).expect("load");
    let before = snapshot(a.path());
    let scratch = tempfile::tempdir().expect("tempdir");
    let image = scratch.path().join("q.png");
    image::GrayImage::from_pixel(28, 28, image::Luma([9])).save(&image).expect("png");
    let err = query(&model_b, &index, &[image], 1, 1, 0, &device).expect_err("other model");
    let msg = err.to_string();
    assert!(matches!(err, TrainError::ProvenanceMismatch { .. }), "{msg}");
    assert!(msg.contains(&model_a.model_hash) && msg.contains(&model_b.model_hash), "{msg}");
    assert!(
        msg.contains("index.safetensors") && msg.contains(&*b.path().to_string_lossy()),
        "{msg}"
    );
    let args = dml_train::eval_command::EvaluateArgs {
        checkpoint: b.path().join("last.ckpt"),
        split: None,
        data_dir: None,
        batch_size: None,
        recall_ks: Some(vec![1]),
        no_clustering: true,
        max_images: None,
        workers: 0,
        device: "cpu".into(),
        out: Some(b.path().join("eval.json")),
        index: Some(index_path.clone()),
    };
    let err =
        dml_train::eval_command::run_evaluate(&args).expect_err("evaluate refuses").to_string();
    assert!(err.contains(&model_a.model_hash), "{err}");
    assert_eq!(snapshot(a.path()), before);
    // With its own checkpoint the index evaluates.
    let ok =
        dml_train::eval_command::EvaluateArgs { checkpoint: a.path().join("last.ckpt"), ..args };
    dml_train::eval_command::run_evaluate(&ok).expect("the right checkpoint");
}

#[test]
fn changed_hyperparameters_on_resume_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(small(dir.path()), Some(3));
    let before = snapshot(dir.path());
    let mut changed = small(dir.path());
    changed.run.resume = Some(dir.path().join("last.ckpt").to_string_lossy().into_owned());
    changed.optim.lr = 5e-4;
    changed.data.batch_size = 4;
    let err = try_run(changed.clone()).err().expect("changed").to_string();
    assert!(err.contains("optim.lr: 0.001 -> 0.0005"), "{err}");
    assert!(
        err.contains("data.batch_size: 8 -> 4") && err.contains("--allow-config-change"),
        "{err}"
    );
    assert_eq!(snapshot(dir.path()), before);
    // Allowed, it resumes and its history keeps both configurations.
    changed.data.batch_size = 8;
    changed.run.allow_config_change = true;
    let t = try_run(changed).expect("allowed");
    assert_eq!(t.segments.len(), 2);
    assert_eq!(t.segments[1].changes, vec!["optim.lr: 0.001 -> 0.0005".to_string()]);
    let history = std::fs::read_to_string(dir.path().join("history.json")).expect("history");
    assert!(
        history.contains("optim.lr: 0.001 -> 0.0005") && history.contains("\"previous_config\"")
    );
}

/// Writes an idx pair: `n` images of `rows x cols` with `labels`.
fn idx_pair(dir: &Path, prefix: &str, n: u32, rows: u32, cols: u32, labels: &[u8]) {
    let mut images = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        images.extend(d.to_be_bytes());
    }
    images.extend(std::iter::repeat_n(7u8, (n * rows * cols) as usize));
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).expect("write");
    let mut l = vec![0, 0, 8, 1];
    l.extend((labels.len() as u32).to_be_bytes());
    l.extend(labels);
    std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), l).expect("write");
}

fn idx_error(rows: u32, labels: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = labels.len() as u32;
    idx_pair(dir.path(), "train", n, rows, rows, labels);
    idx_pair(dir.path(), "t10k", n, rows, rows, labels);
    let err = MemoryImages::mnist_format(&dir.path().to_string_lossy(), Split::Train)
        .err()
        .expect("bad idx")
        .to_string();
    assert!(err.contains(&*dir.path().to_string_lossy()), "names the file: {err}");
    err
}

#[test]
fn tiny_images_are_an_error_naming_the_file() {
    let err = idx_error(1, &[0, 1, 2]);
    assert!(err.contains("1x1 pixels") && err.contains("at least 8x8"), "{err}");
    let err = idx_error(0, &[0, 1, 2]);
    assert!(err.contains("0x0 pixels"), "{err}");
}

#[test]
fn label_out_of_range_is_an_error_naming_the_image() {
    let err = idx_error(28, &[0, 1, 12, 3]);
    assert!(
        err.contains("train-labels-idx1-ubyte") && err.contains("image 2 has label 12"),
        "{err}"
    );
    assert!(err.contains("classes 0..=9"), "{err}");
}

#[test]
fn empty_file_is_an_error_naming_it() {
    let err = idx_error(28, &[]);
    assert!(err.contains("train-images-idx3-ubyte") && err.contains("holds no images"), "{err}");
    assert!(!err.contains("Some(") && !err.contains("None"), "{err}");
}

#[test]
fn stale_temporary_files_are_removed_by_the_next_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(small(dir.path()), Some(2));
    std::fs::write(dir.path().join(".last.ckpt.tmp-424242"), b"half a checkpoint").expect("write");
    let mut c = small(dir.path());
    c.run.resume = Some(dir.path().join("last.ckpt").to_string_lossy().into_owned());
    run(c, None);
    assert!(!dir.path().join(".last.ckpt.tmp-424242").exists());
}

/// The deterministic columns of a metrics file (the loss and learning rate of each epoch; the
/// step and metrics of each evaluation), without the timings.
fn deterministic_metrics(dir: &Path) -> (Vec<String>, Vec<String>) {
    let keep = |file: &str, columns: &[usize]| -> Vec<String> {
        std::fs::read_to_string(dir.join(file))
            .expect("metrics")
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                columns.iter().filter_map(|&c| f.get(c).copied()).collect::<Vec<_>>().join(",")
            })
            .collect()
    };
    // metrics.csv: epoch, loss, lr, steps | evaluations.csv: step, epoch, R@1, R@2, p@1, RP, MAP@R
    (keep("metrics.csv", &[0, 1, 2, 3]), keep("evaluations.csv", &[0, 1, 2, 3, 4, 5, 6]))
}

/// Loads a checkpoint's model; under the runs' lock, since building a model draws from the
/// device's generator, which a run in another test thread must not see move.
fn load(path: &Path) -> TrainedModel {
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    TrainedModel::load(path, &Device::flex()).expect("checkpoint")
}

fn final_hash(dir: &Path) -> String {
    load(&dir.join("last.ckpt")).model_hash
}

#[test]
fn a_run_killed_at_any_point_resumes_to_exactly_the_uninterrupted_run() {
    let reference = tempfile::tempdir().expect("tempdir");
    run(small(reference.path()), None);
    let (want_hash, want_metrics) =
        (final_hash(reference.path()), deterministic_metrics(reference.path()));
    let scratch = tempfile::tempdir().expect("tempdir");
    for fault in ["mid-step@3", "mid-checkpoint-write@4", "between-writes@5"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = small(dir.path());
        let (mut child, marker) = spawn_child(&config, Some(fault), scratch.path());
        wait_for(&marker, &mut child);
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        if fault.starts_with("mid-checkpoint") {
            let stale = std::fs::read_dir(dir.path())
                .expect("list")
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().contains(".tmp-"));
            assert!(stale, "{fault}: the kill left a half-written temporary file");
        }
        let mut resumed = config.clone();
        resumed.run.resume = Some(dir.path().join("last.ckpt").to_string_lossy().into_owned());
        let (mut child, _) = spawn_child(&resumed, None, scratch.path());
        let status = child.wait().expect("resumed child");
        assert!(status.success(), "{fault}: the resumed run failed");
        assert_eq!(final_hash(dir.path()), want_hash, "{fault}: weights differ");
        assert_eq!(deterministic_metrics(dir.path()), want_metrics, "{fault}: metrics differ");
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{fault}: temporary files left: {left:?}");
    }
}
