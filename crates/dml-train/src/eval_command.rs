//! The `evaluate` command: a checkpoint and a dataset split in; Recall@K, precision@1,
//! R-precision, MAP@R, NMI and AMI out, printed and written as JSON. Also accepts the seed
//! systems' evaluation command lines (LDM's `evaluate.py`, PaddlePaddle's `eval.py`,
//! MindSpore's `eval.py`), mapped to the same evaluation.

use std::path::PathBuf;

use clap::Parser;
use dml_backbones::BackboneConfig;
use dml_data::Split;
use serde::Serialize;

use crate::config::{DatasetKind, TrainConfig, backbone_name};
use crate::data::load_eval;
use crate::device::resolve_device;
use crate::error::{TrainError, TrainResult};
use crate::evaluate::{EvalSettings, evaluate};
use crate::infer::TrainedModel;
use crate::metrics::EvalRecord;
use crate::seeds::{dashed_flags, parse_bool, unsupported};

fn parse_split(s: &str) -> Result<Split, String> {
    match s.to_ascii_lowercase().as_str() {
        "train" => Ok(Split::Train),
        "test" => Ok(Split::Test),
        "query" => Ok(Split::Query),
        "gallery" => Ok(Split::Gallery),
        _ => Err(format!("expected train, test, query or gallery, got `{s}`")),
    }
}

/// What to evaluate, and how: dml's `evaluate` flags.
#[derive(Parser, Debug, Clone)]
#[command(about = "Evaluate a trained dml checkpoint on a dataset split")]
pub struct EvaluateArgs {
    /// The checkpoint (`best.ckpt` or `last.ckpt` of a run).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The split, searched against itself; by default the dataset's test split (In-shop:
    /// query against gallery).
    #[arg(long, value_parser = parse_split)]
    pub split: Option<Split>,
    /// The dataset directory (default: the one the run trained on).
    #[arg(long)]
    pub data_dir: Option<String>,
    /// Images per forward pass (default: the run's test batch size).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// The K of Recall@K, comma-separated (default: the run's).
    #[arg(long, value_delimiter = ',')]
    pub recall_ks: Option<Vec<usize>>,
    /// Skip NMI and AMI (k-means over the embeddings; slow on large sets).
    #[arg(long)]
    pub no_clustering: bool,
    /// Evaluate the first N images only (smoke runs).
    #[arg(long)]
    pub max_images: Option<usize>,
    /// Data-loading threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// The device.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Where the JSON results go (default: `evaluation.json` beside the checkpoint).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Evaluate the labelled rows of this embedding file (written by `embed` with this
    /// checkpoint; refused when its weights hash differs) instead of embedding the split.
    #[arg(long, conflicts_with = "split")]
    pub index: Option<PathBuf>,
}

/// An evaluation's results, as written to JSON.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluationReport {
    /// The checkpoint evaluated.
    pub checkpoint: String,
    /// The dataset.
    pub dataset: DatasetKind,
    /// The split (`test`, or `query/gallery` for In-shop).
    pub split: String,
    /// The metrics.
    pub metrics: EvalRecord,
}

/// Runs `evaluate` with `args`: the report, also written to `args.out`.
///
/// # Errors
/// Checkpoint, data and evaluation errors naming the file.
pub fn run_evaluate(args: &EvaluateArgs) -> TrainResult<EvaluationReport> {
    run_with(args, |_| Ok(()))
}

fn run_with(
    args: &EvaluateArgs,
    check: impl Fn(&TrainConfig) -> TrainResult<()>,
) -> TrainResult<EvaluationReport> {
    let device = resolve_device(&args.device)?;
    let trained = TrainedModel::load(&args.checkpoint, &device)?;
    let mut config = trained.config.clone();
    check(&config)?;
    if let Some(d) = &args.data_dir {
        config.data.dir = d.clone();
    }
    if let Some(b) = args.batch_size {
        config.data.test_batch_size = b;
    }
    if let Some(ks) = &args.recall_ks {
        config.run.recall_ks = ks.clone();
    }
    config.run.clustering_metrics = !args.no_clustering;
    config.data.num_workers = args.workers;
    config.data.max_eval_images = args.max_images;
    config.run.validate()?;
    let settings = EvalSettings::of(&config);
    let metrics = match &args.index {
        Some(path) => {
            let index = crate::infer::EmbeddingFile::load(path)?;
            crate::infer::check_index(&trained, &index)?;
            evaluate_index(&index, path, &settings)?
        }
        None => {
            let data = load_eval(&config, args.split)?;
            evaluate(&trained.model, &data, &settings, &device)?
        }
    };
    let split = match args.split {
        _ if args.index.is_some() => {
            format!(
                "index {}",
                args.index.as_ref().map_or(String::new(), |p| p.display().to_string())
            )
        }
        Some(s) => s.to_string(),
        None if config.data.dataset == DatasetKind::Inshop => "query/gallery".into(),
        None => "test".into(),
    };
    let report = EvaluationReport {
        checkpoint: args.checkpoint.display().to_string(),
        dataset: config.data.dataset,
        split,
        metrics,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        args.checkpoint.parent().unwrap_or(std::path::Path::new(".")).join("evaluation.json")
    });
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| TrainError::Eval(format!("cannot serialize the report: {e}")))?;
    crate::checkpoint::write_atomic(&out, json.as_bytes())?;
    Ok(report)
}

/// Self-retrieval metrics of an embedding file's labelled rows.
fn evaluate_index(
    index: &crate::infer::EmbeddingFile,
    path: &std::path::Path,
    settings: &EvalSettings,
) -> TrainResult<EvalRecord> {
    let start = std::time::Instant::now();
    let err = |e: dml_eval::EvalError| TrainError::Eval(format!("{}: {e}", path.display()));
    let labels = index.labels.clone().ok_or_else(|| {
        TrainError::Eval(format!("{}: the index has no labels to evaluate with", path.display()))
    })?;
    if labels.iter().any(|&l| l < 0) {
        return Err(TrainError::Eval(format!(
            "{}: some rows are unlabelled (label -1); evaluate a folder of class folders only",
            path.display()
        )));
    }
    let e = dml_eval::Embeddings::from_slice(&index.embeddings, index.dim).map_err(err)?;
    let k = dml_eval::required_k(&labels, &labels, true, &settings.recall_ks);
    let knn = dml_eval::knn_self(&e, &dml_eval::KnnConfig::new(k).with_distance(settings.distance))
        .map_err(err)?;
    let m =
        dml_eval::retrieval_metrics_self(&knn, &labels, &settings.recall_ks, false).map_err(err)?;
    let (nmi, ami) = if settings.clustering {
        let c = dml_eval::clustering_metrics(
            &e,
            &labels,
            &dml_eval::KMeansConfig::new(1).with_seed(settings.seed),
        )
        .map_err(err)?;
        (Some(c.nmi), Some(c.ami))
    } else {
        (None, None)
    };
    let o = m.overall;
    Ok(EvalRecord {
        step: 0,
        epoch: 0.0,
        recall_at: o.recall_at,
        precision_at_1: o.precision_at_1,
        r_precision: o.r_precision,
        map_at_r: o.map_at_r,
        nmi,
        ami,
        queries: o.num_queries,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// LDM's `evaluate.py` flags (`--resume` is the checkpoint).
#[derive(Parser, Debug, Clone)]
#[command(infer_long_args = true)]
struct LdmEvalArgs {
    #[arg(long = "LOG-DIR", default_value = "../Proxy_Anchor/Newlogs")]
    _log_dir: String,
    #[arg(long, default_value = "cub")]
    dataset: String,
    #[arg(long, default_value_t = 512)]
    embedding_size: usize,
    #[arg(long, default_value_t = 90)]
    batch_size: usize,
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    gpu_id: i64,
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[arg(long, default_value = "bn_inception")]
    model: String,
    #[arg(long, default_value = "Proxy_Anchor")]
    _loss: String,
    #[arg(long, default_value_t = 1)]
    l2_norm: i64,
    #[arg(long)]
    resume: PathBuf,
    #[arg(long)]
    data_dir: Option<String>,
    #[arg(long)]
    device: Option<String>,
    #[arg(long)]
    max_images: Option<usize>,
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    _delta: f64,
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    _t: f64,
}

/// PaddlePaddle's `eval.py` flags (`--pretrained_model` is the checkpoint).
#[derive(Parser, Debug, Clone)]
#[command(infer_long_args = true)]
struct PaddleEvalArgs {
    #[arg(long, default_value = "ResNet50")]
    model: String,
    #[arg(long, default_value_t = 0)]
    embedding_size: usize,
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    #[arg(long, default_value = "3,224,224")]
    image_shape: String,
    #[arg(long, value_parser = parse_bool, default_value = "True", action = clap::ArgAction::Set)]
    use_gpu: bool,
    #[arg(long)]
    pretrained_model: PathBuf,
    #[arg(long)]
    data_dir: Option<String>,
    #[arg(long)]
    device: Option<String>,
    #[arg(long)]
    max_images: Option<usize>,
}

/// MindSpore's `eval.py` flags (`--ckpt_path` is the checkpoint).
#[derive(Parser, Debug, Clone)]
#[command(infer_long_args = true)]
struct MindSporeEvalArgs {
    #[arg(long)]
    dataset_path: Option<String>,
    #[arg(long)]
    ckpt_path: PathBuf,
    #[arg(long, default_value_t = 0)]
    device_id: usize,
    #[arg(long, default_value = "Ascend")]
    device_target: String,
    #[arg(long, value_parser = parse_bool, default_value = "False", action = clap::ArgAction::Set)]
    run_modelarts: bool,
    #[arg(long)]
    device: Option<String>,
    #[arg(long)]
    max_images: Option<usize>,
}

fn gpu_device(explicit: Option<String>, ordinal: impl std::fmt::Display) -> String {
    explicit.unwrap_or_else(|| format!("gpu:{ordinal}"))
}

/// The evaluation a command line asks for: `evaluate <dml flags>`, or `evaluate ldm|paddle|
/// mindspore <that seed's eval.py flags>`, with `argv[0]` the program. Returns the arguments
/// and a check of the checkpoint's configuration against the seed's flags.
#[allow(clippy::type_complexity)]
pub fn evaluate_command_line(
    argv: &[String],
) -> TrainResult<(EvaluateArgs, Box<dyn Fn(&TrainConfig) -> TrainResult<()>>)> {
    let argv = dashed_flags(argv.iter().cloned());
    let program = argv.first().cloned().unwrap_or_else(|| "evaluate".into());
    let cli = |e: clap::Error| TrainError::Config(e.to_string());
    let rest =
        |seed: &str| std::iter::once(format!("{program} {seed}")).chain(argv[2..].iter().cloned());
    let base = |checkpoint: PathBuf| EvaluateArgs {
        checkpoint,
        split: None,
        data_dir: None,
        batch_size: None,
        recall_ks: None,
        no_clustering: false,
        max_images: None,
        workers: 2,
        device: "cpu".into(),
        out: None,
        index: None,
    };
    match argv.get(1).map(String::as_str) {
        Some("ldm") => {
            let a = LdmEvalArgs::try_parse_from(rest("ldm")).map_err(cli)?;
            let (kind, ks) = match a.dataset.as_str() {
                "cub" => (DatasetKind::Cub200, vec![1, 2, 4, 8, 16, 32]),
                "cars" => (DatasetKind::Cars196, vec![1, 2, 4, 8, 16, 32]),
                "SOP" => (DatasetKind::Sop, vec![1, 10, 100, 1000]),
                "Inshop" => (DatasetKind::Inshop, vec![1, 10, 20, 30, 40, 50]),
                other => {
                    return Err(unsupported(
                        "--dataset",
                        other,
                        "expected cub, cars, SOP or Inshop",
                    ));
                }
            };
            let mut args = base(a.resume.clone());
            args.batch_size = Some(a.batch_size);
            args.recall_ks = Some(ks);
            args.workers = a.workers;
            args.data_dir = a.data_dir.clone();
            args.max_images = a.max_images;
            args.device = gpu_device(a.device.clone(), a.gpu_id);
            let (model, emb, l2) = (a.model.clone(), a.embedding_size, a.l2_norm != 0);
            let check = move |c: &TrainConfig| {
                let backbone = match &c.model.backbone {
                    BackboneConfig::ResNet50(_) => "resnet50",
                    BackboneConfig::BnInception(_) => "bn_inception",
                    BackboneConfig::SmallCnn(_) => "small_cnn",
                };
                if backbone != model || c.embedding_size() != emb || c.data.dataset != kind {
                    return Err(TrainError::Config(format!(
                        "the checkpoint holds {backbone} with {}-d embeddings trained on {:?}; \
                         the command asks for --model {model} --embedding-size {emb} on {kind:?}",
                        c.embedding_size(),
                        c.data.dataset
                    )));
                }
                if !l2 && c.model.normalize_training {
                    return Err(unsupported("--l2-norm", 0, "the checkpoint's model normalizes"));
                }
                Ok(())
            };
            Ok((args, Box::new(check)))
        }
        Some("paddle") => {
            let a = PaddleEvalArgs::try_parse_from(rest("paddle")).map_err(cli)?;
            let mut args = base(a.pretrained_model.clone());
            args.batch_size = Some(a.batch_size);
            args.recall_ks = Some(vec![1]);
            args.data_dir = a.data_dir.clone();
            args.max_images = a.max_images;
            args.device = if a.use_gpu { gpu_device(a.device.clone(), 0) } else { "cpu".into() };
            let (model, emb, shape) = (a.model.clone(), a.embedding_size, a.image_shape.clone());
            let check = move |c: &TrainConfig| {
                let name = backbone_name(&c.model.backbone);
                let want_emb = c.model.embedding_size.unwrap_or(0);
                let crop = format!("3,{0},{0}", c.data.image_size);
                if name != model || want_emb != emb || crop != shape.replace(' ', "") {
                    return Err(TrainError::Config(format!(
                        "the checkpoint holds {name}, embedding_size {want_emb}, image_shape \
                         {crop}; the command asks for --model={model} --embedding_size={emb} \
                         --image_shape={shape}"
                    )));
                }
                Ok(())
            };
            Ok((args, Box::new(check)))
        }
        Some("mindspore") => {
            let a = MindSporeEvalArgs::try_parse_from(rest("mindspore")).map_err(cli)?;
            if a.run_modelarts {
                return Err(unsupported("--run_modelarts", "True", "ModelArts is not reproduced"));
            }
            let mut args = base(a.ckpt_path.clone());
            args.batch_size = Some(30);
            args.recall_ks = Some(vec![1]);
            args.data_dir = a.dataset_path.clone();
            args.max_images = a.max_images;
            args.device = match a.device_target.as_str() {
                "CPU" => "cpu".into(),
                "GPU" => gpu_device(a.device.clone(), a.device_id),
                other => {
                    return Err(unsupported(
                        "--device_target",
                        other,
                        "dml has no Ascend backend; pass --device_target=GPU or CPU",
                    ));
                }
            };
            // MindSpore's eval.py reads the full test list.
            let check = |c: &TrainConfig| {
                if c.data.dataset != DatasetKind::Sop {
                    return Err(TrainError::Config(format!(
                        "MindSpore's eval.py evaluates SOP; the checkpoint was trained on {:?}",
                        c.data.dataset
                    )));
                }
                Ok(())
            };
            Ok((args, Box::new(check)))
        }
        _ => Ok((EvaluateArgs::try_parse_from(&argv).map_err(cli)?, Box::new(|_| Ok(())))),
    }
}

/// `main` of the `evaluate` example.
pub fn main_evaluate() {
    let argv: Vec<String> = std::env::args().collect();
    let result = evaluate_command_line(&argv).and_then(|(args, check)| run_with(&args, check));
    match result {
        Ok(report) => {
            let m = &report.metrics;
            for (k, r) in &m.recall_at {
                println!("Recall@{k:<5} {:6.2}", 100.0 * r);
            }
            println!("precision@1  {:6.2}", 100.0 * m.precision_at_1);
            println!("R-precision  {:6.2}", 100.0 * m.r_precision);
            println!("MAP@R        {:6.2}", 100.0 * m.map_at_r);
            if let (Some(nmi), Some(ami)) = (m.nmi, m.ami) {
                println!("NMI          {:6.2}", 100.0 * nmi);
                println!("AMI          {:6.2}", 100.0 * ami);
            }
            println!("{} queries of {:?} {}", m.queries, report.dataset, report.split);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
