//! The inference commands: `embed` (a folder or a dataset split into an embedding file) and
//! `query` (the top-k nearest neighbours of query images in an embedding file).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::Device;
use clap::Parser;
use dml_data::{ImageFolder, ImageList, ImageSource, Split, is_image};
use dml_eval::{Embeddings, KnnConfig, knn_query};

use super::model::TrainedModel;
use super::store::EmbeddingFile;
use crate::config::DatasetKind;
use crate::data::{MemoryImages, file_split};
use crate::device::resolve_device;
use crate::error::{TrainError, TrainResult};

fn parse_split(s: &str) -> Result<Split, String> {
    match s.to_ascii_lowercase().as_str() {
        "train" => Ok(Split::Train),
        "test" => Ok(Split::Test),
        "query" => Ok(Split::Query),
        "gallery" => Ok(Split::Gallery),
        _ => Err(format!("expected train, test, query or gallery, got `{s}`")),
    }
}

/// The flags `embed` and `query` share: how images are batched, decoded and run.
#[derive(clap::Args, Debug, Clone)]
pub struct InferenceOptions {
    /// Images per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Decoding threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// The device: cpu, or an accelerator the build has (see `dml_train::device`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Flags of the `embed` example.
#[derive(Parser, Debug, Clone)]
#[command(about = "Embed images with a trained dml model into a .npy or .safetensors file")]
pub struct EmbedArgs {
    /// A training checkpoint (`best.ckpt` or `last.ckpt` of a run's output directory).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// A directory of images (`<class>/<image>` subdirectories give labels; a flat folder has
    /// none).
    #[arg(long, conflicts_with = "split")]
    pub folder: Option<PathBuf>,
    /// A split (train | test | query | gallery) of the dataset the model was trained on.
    #[arg(long, value_parser = parse_split, required_unless_present = "folder")]
    pub split: Option<Split>,
    /// The dataset directory for `--split` (default: the one in the checkpoint).
    #[arg(long)]
    pub data_dir: Option<String>,
    /// Output file: `.npy` (with `.paths.txt` and `.labels.npy` beside it) or `.safetensors`.
    #[arg(long)]
    pub out: PathBuf,
    /// Batching, decoding threads and device.
    #[command(flatten)]
    pub run: InferenceOptions,
}

/// Flags of the `query` example.
#[derive(Parser, Debug, Clone)]
#[command(about = "Print the k nearest neighbours of query images in an embedding file")]
pub struct QueryArgs {
    /// The training checkpoint that produced the index.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The embedding file to search (written by `embed`).
    #[arg(long)]
    pub index: PathBuf,
    /// Neighbours per query.
    #[arg(long, short, default_value_t = 5)]
    pub k: usize,
    /// Print JSON lines (`{"query", "neighbours": [{"rank", "path", "similarity", "label"}]}`)
    /// instead of text.
    #[arg(long)]
    pub json: bool,
    /// Query images, or directories of them.
    #[arg(required = true)]
    pub queries: Vec<PathBuf>,
    /// Batching, decoding threads and device.
    #[command(flatten)]
    pub run: InferenceOptions,
}

fn provenance(model: &TrainedModel) -> HashMap<String, String> {
    HashMap::from([
        ("checkpoint".to_string(), model.checkpoint.display().to_string()),
        (
            "model".to_string(),
            crate::config::backbone_name(&model.config.model.backbone).to_string(),
        ),
        ("embedding_size".to_string(), model.config.embedding_size().to_string()),
        ("model_hash".to_string(), model.model_hash.clone()),
        ("config_hash".to_string(), model.config_hash.clone()),
    ])
}

/// Checks that `index` was computed by `model` (their weights hashes agree).
///
/// # Errors
/// [`TrainError::ProvenanceMismatch`] naming the index, the checkpoint and both hashes (an
/// index without a recorded hash is refused too).
pub fn check_index(model: &TrainedModel, index: &EmbeddingFile) -> TrainResult<()> {
    let recorded = index.info.get("model_hash");
    if recorded != Some(&model.model_hash) {
        return Err(TrainError::ProvenanceMismatch {
            index: PathBuf::from(
                index.info.get("file").cloned().unwrap_or_else(|| "the embedding index".into()),
            ),
            index_hash: recorded.cloned().unwrap_or_else(|| "none recorded".into()),
            checkpoint: model.checkpoint.clone(),
            checkpoint_hash: model.model_hash.clone(),
        });
    }
    Ok(())
}

/// Embeds every image under `dir` (see [`ImageFolder`] for the layout and label order).
pub fn embed_folder(
    model: &TrainedModel,
    dir: &Path,
    batch: usize,
    workers: usize,
    device: &Device,
) -> TrainResult<EmbeddingFile> {
    let list = ImageFolder::new(dir).load().map_err(|e| TrainError::Data(e.to_string()))?;
    // Images directly in the root have no class: label -1. The class folders are 0..C-1.
    let named: Vec<&String> = list.class_ids.iter().filter(|c| !c.is_empty()).collect();
    let labels = (!named.is_empty()).then(|| {
        list.labels()
            .iter()
            .map(|&l| {
                let class = &list.class_ids[l];
                named.iter().position(|c| *c == class).map_or(-1, |p| p as i64)
            })
            .collect()
    });
    let paths = (0..list.len()).map(|i| list.describe(i)).collect();
    let mut info = provenance(model);
    info.insert(
        "classes".into(),
        serde_json::to_string(&named).map_err(|e| TrainError::Eval(e.to_string()))?,
    );
    let (embeddings, dim) = model.embed_source(Arc::new(list), batch, workers, device)?;
    Ok(EmbeddingFile { embeddings, dim, paths, labels, info })
}

/// Embeds `split` of the dataset the model was trained on (read from `data_dir`). In-memory
/// datasets name their rows `<dataset>/<split>/<index>`.
pub fn embed_split(
    model: &TrainedModel,
    data_dir: &str,
    split: Split,
    batch: usize,
    workers: usize,
    device: &Device,
) -> TrainResult<EmbeddingFile> {
    let kind = model.config.data.dataset;
    let (embeddings, dim, paths, labels) = match kind {
        DatasetKind::FashionMnist | DatasetKind::Synthetic => {
            let images = if kind == DatasetKind::FashionMnist {
                MemoryImages::mnist_format(data_dir, split)?
            } else if split == Split::Train {
                MemoryImages::synthetic(4, 10, model.config.run.seed)
            } else {
                MemoryImages::synthetic(3, 8, model.config.run.seed + 1000)
            };
            let (e, d) = model.embed_memory(&images, batch, device)?;
            (e, d, images.ids.clone(), images.labels.clone())
        }
        _ => {
            let source = file_split(kind, data_dir, model.config.data.sop_subset, split)?;
            let paths = (0..source.len()).map(|i| source.describe(i)).collect();
            let labels = source.labels().to_vec();
            let (e, d) = model.embed_source(source, batch, workers, device)?;
            (e, d, paths, labels)
        }
    };
    let labels = Some(labels.into_iter().map(|l| l as i64).collect());
    let mut info = provenance(model);
    info.insert("split".into(), format!("{kind:?}/{split}"));
    Ok(EmbeddingFile { embeddings, dim, paths, labels, info })
}

/// One neighbour of a query.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Neighbour {
    /// 1-based rank.
    pub rank: usize,
    /// The index entry's image path.
    pub path: String,
    /// Cosine similarity to the query.
    pub similarity: f32,
    /// The index entry's label, when the index has labels.
    pub label: Option<i64>,
}

/// The neighbours of one query image.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueryAnswer {
    /// The query image.
    pub query: String,
    /// Its nearest index entries, most similar first.
    pub neighbours: Vec<Neighbour>,
}

/// Expands directories among `inputs` to the images they contain (in path order).
pub fn query_images(inputs: &[PathBuf]) -> TrainResult<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let list = ImageFolder::new(p).load().map_err(|e| TrainError::Data(e.to_string()))?;
            out.extend((0..list.len()).filter_map(|i| list.full_path(i)));
        } else if p.exists() && !is_image(p) {
            return Err(TrainError::Data(format!(
                "{} is not a .jpg, .jpeg or .png image",
                p.display()
            )));
        } else {
            // A missing file is reported by the decoder with its path.
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The `k` nearest entries of `index` (cosine similarity) for each query image.
///
/// # Errors
/// [`TrainError::Eval`] when the index's embedding size differs from the model's or `k` is
/// 0; `k` larger than the index is clamped to its size.
pub fn query(
    model: &TrainedModel,
    index: &EmbeddingFile,
    queries: &[PathBuf],
    k: usize,
    batch: usize,
    workers: usize,
    device: &Device,
) -> TrainResult<Vec<QueryAnswer>> {
    check_index(model, index)?;
    let list = ImageList::from_files(queries.to_vec());
    let names: Vec<String> = (0..list.len()).map(|i| list.describe(i)).collect();
    let (q, dim) = model.embed_source(Arc::new(list), batch, workers, device)?;
    if dim != index.dim {
        return Err(TrainError::Eval(format!(
            "the model embeds in {dim} dimensions, the index holds {}-dimensional rows",
            index.dim
        )));
    }
    let eval = |e: dml_eval::EvalError| TrainError::Eval(e.to_string());
    let qe = Embeddings::from_vec(q, dim).map_err(eval)?;
    let ie = Embeddings::from_slice(&index.embeddings, dim).map_err(eval)?;
    let knn = knn_query(&qe, &ie, &KnnConfig::new(k.min(index.rows()))).map_err(eval)?;
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, query)| QueryAnswer {
            query,
            neighbours: knn
                .row_indices(i)
                .iter()
                .zip(knn.row_scores(i))
                .enumerate()
                .map(|(r, (&j, &s))| Neighbour {
                    rank: r + 1,
                    path: index.paths[j as usize].clone(),
                    similarity: s,
                    label: index.labels.as_ref().map(|l| l[j as usize]),
                })
                .collect(),
        })
        .collect())
}

/// Runs `embed` with `args`; returns the written file's row count and dimension.
pub fn run_embed(args: &EmbedArgs) -> TrainResult<(usize, usize)> {
    let device = resolve_device(&args.run.device)?;
    let model = TrainedModel::load(&args.checkpoint, &device)?;
    let file = match (&args.folder, args.split) {
        (Some(dir), _) => {
            embed_folder(&model, dir, args.run.batch_size, args.run.workers, &device)?
        }
        (None, Some(split)) => {
            let dir = args.data_dir.clone().unwrap_or_else(|| model.config.data.dir.clone());
            embed_split(&model, &dir, split, args.run.batch_size, args.run.workers, &device)?
        }
        (None, None) => return Err(TrainError::Config("give --folder or --split".into())),
    };
    file.save(&args.out)?;
    Ok((file.rows(), file.dim))
}

/// Runs `query` with `args`.
pub fn run_query(args: &QueryArgs) -> TrainResult<Vec<QueryAnswer>> {
    if args.k == 0 {
        return Err(TrainError::Config("--k must be at least 1".into()));
    }
    let device = resolve_device(&args.run.device)?;
    let model = TrainedModel::load(&args.checkpoint, &device)?;
    let index = EmbeddingFile::load(&args.index)?;
    let queries = query_images(&args.queries)?;
    query(&model, &index, &queries, args.k, args.run.batch_size, args.run.workers, &device)
}

/// Formats answers as text: one block per query, one line per neighbour.
pub fn format_answers(answers: &[QueryAnswer]) -> String {
    let mut s = String::new();
    for a in answers {
        s.push_str(&format!("query {}\n", a.query));
        for n in &a.neighbours {
            let label = n.label.map(|l| format!("  label {l}")).unwrap_or_default();
            s.push_str(&format!("  {:>3}. {:.4}  {}{label}\n", n.rank, n.similarity, n.path));
        }
    }
    s
}
