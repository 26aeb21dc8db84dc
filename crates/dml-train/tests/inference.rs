//! The inference commands on a tiny trained model: embeddings read back from a checkpoint
//! equal the trainer's own, a folder and a split are embedded to `.npy` and `.safetensors`,
//! an image queried against an index finds itself first, and bad input gives clear errors.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use dml_data::Split;
use dml_train::config::{SamplerConfig, Span};
use dml_train::data::{EvalData, load_data};
use dml_train::evaluate::embed;
use dml_train::infer::{
    EmbeddingFile, TrainedModel, embed_folder, embed_split, query, query_images,
};
use dml_train::presets::preset;
use dml_train::{DatasetKind, TrainError, Trainer};

/// Trains a tiny synthetic model for two steps and returns it (with `best.ckpt` in `dir`).
fn trained(dir: &Path) -> Trainer {
    let mut c = preset(DatasetKind::Synthetic);
    c.run.output_dir = dir.to_string_lossy().into_owned();
    c.loss = dml_losses::LossConfig::default_for("MultiSimilarityLoss").expect("loss");
    c.model.embedding_size = Some(16);
    c.data.batch_size = 8;
    c.data.sampler = SamplerConfig::MPerClass { m: 2, length: None };
    c.run.length = Span::Epochs(1);
    c.run.max_steps_per_epoch = Some(2);
    c.run.recall_ks = vec![1];
    let (train, eval) = load_data(&c).expect("data");
    let mut t = Trainer::for_data(c, &train, &Device::flex()).expect("trainer");
    t.show_progress = false;
    t.fit(&train, &eval, None).expect("fit");
    t
}

/// Writes `n` 40x30 PNGs per class folder, each class a distinct pattern.
fn image_folder(dir: &Path, classes: &[&str], n: usize) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for (c, name) in classes.iter().enumerate() {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).expect("mkdir");
        for i in 0..n {
            let img = image::RgbImage::from_fn(40, 30, |x, y| {
                let v = ((x * (c as u32 + 1) * 7 + y * 3 + i as u32 * 11) % 256) as u8;
                image::Rgb([v, 255 - v, (c * 90) as u8])
            });
            let p = sub.join(format!("{i}.png"));
            img.save(&p).expect("png");
            paths.push(p);
        }
    }
    paths
}

#[test]
fn checkpoint_model_embeds_like_the_trainer_and_files_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = trained(dir.path());
    let device = Device::flex();
    let model = TrainedModel::load(&dir.path().join("last.ckpt"), &device).expect("loads");

    // The test split through the inference path equals the trainer's evaluation embeddings.
    let file = embed_split(&model, "", Split::Test, 5, 0, &device).expect("split");
    let (_, eval) = load_data(&t.config).expect("data");
    assert!(matches!(eval, EvalData::Memory(_)));
    let reference = embed(&t.model, &eval, 8, &t.device).expect("embed").0;
    assert_eq!(file.dim, 16);
    assert_eq!(file.embeddings.len(), reference.len());
    let max =
        file.embeddings.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(max < 1e-5, "checkpoint model differs from the trainer's by {max}");
    // Synthetic images are named by their generator's seed (the test split's is seed + 1000).
    assert_eq!(file.paths[3], "synthetic/seed-1001/3");
    assert_eq!(file.labels.as_ref().map(Vec::len), Some(file.rows()));

    for name in ["split.npy", "split.safetensors"] {
        let out = dir.path().join(name);
        file.save(&out).expect("saves");
        let back = EmbeddingFile::load(&out).expect("loads");
        assert_eq!(back.embeddings, file.embeddings, "{name}");
        assert_eq!(back.paths, file.paths, "{name}");
        assert_eq!(back.labels, file.labels, "{name}");
    }
}

#[test]
fn folder_embedding_and_query_find_the_image_itself_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    trained(dir.path());
    let device = Device::flex();
    let model = TrainedModel::load(&dir.path().join("best.ckpt"), &device).expect("loads");
    let images = dir.path().join("images");
    let paths = image_folder(&images, &["cat", "dog"], 3);
    // An image directly in the root has no class: it is not labelled like the first class.
    std::fs::copy(&paths[0], images.join("loose.png")).expect("copy");

    let index = embed_folder(&model, &images, 4, 2, &device).expect("folder");
    assert_eq!(index.rows(), 7);
    assert_eq!(index.labels, Some(vec![0, 0, 0, 1, 1, 1, -1]));
    assert!(index.paths[0].ends_with("cat/0.png"), "{:?}", index.paths);
    assert!(index.paths[6].ends_with("loose.png"), "{:?}", index.paths);
    assert_eq!(index.info.get("classes").map(String::as_str), Some(r#"["cat","dog"]"#));
    for row in index.embeddings.chunks(index.dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "inference embeddings are L2-normalized: {norm}");
    }
    let out = dir.path().join("index.safetensors");
    index.save(&out).expect("saves");
    let index = EmbeddingFile::load(&out).expect("loads");

    // A query given as a file and one found by expanding a directory.
    let queries = query_images(&[paths[4].clone(), images.join("cat")]).expect("queries");
    assert_eq!(queries.len(), 4);
    let answers = query(&model, &index, &queries, 3, 8, 0, &device).expect("query");
    assert_eq!(answers.len(), 4);
    let first = &answers[0];
    assert_eq!(first.neighbours.len(), 3);
    assert!(first.neighbours[0].path.ends_with("dog/1.png"), "{first:?}");
    assert!((first.neighbours[0].similarity - 1.0).abs() < 1e-4);
    assert!(first.neighbours.windows(2).all(|w| w[0].similarity >= w[1].similarity));
    assert_eq!(first.neighbours[0].label, Some(1));
    // k larger than the index is clamped.
    let all = query(&model, &index, &queries[..1], 50, 8, 0, &device).expect("query");
    assert_eq!(all[0].neighbours.len(), 7);
}

#[test]
fn bad_inference_input_is_reported_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = Device::flex();
    let missing = dir.path().join("nothing.ckpt");
    let err = TrainedModel::load(&missing, &device).err().expect("missing checkpoint");
    assert!(matches!(err, TrainError::MissingCheckpoint(_)), "{err}");

    trained(dir.path());
    let model = TrainedModel::load(&dir.path().join("best.ckpt"), &device).expect("loads");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let err = embed_folder(&model, &empty, 4, 0, &device).expect_err("no images").to_string();
    assert!(err.contains("no image"), "{err}");

    let index = dir.path().join("images");
    let paths = image_folder(&index, &["a"], 2);
    let file = embed_folder(&model, &index, 4, 0, &device).expect("folder");
    let broken = dir.path().join("broken.jpg");
    std::fs::write(&broken, b"not a jpeg").expect("write");
    let err =
        query(&model, &file, std::slice::from_ref(&broken), 1, 4, 0, &device).expect_err("decode");
    assert!(err.to_string().contains("broken.jpg"), "{err}");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, b"x").expect("write");
    let err = query_images(&[notes]).expect_err("not an image").to_string();
    assert!(err.contains("notes.txt"), "{err}");

    let mut wrong_dim = file.clone();
    wrong_dim.dim = 8;
    wrong_dim.embeddings.truncate(2 * 8);
    let err = query(&model, &wrong_dim, &paths[..1], 1, 4, 0, &device).expect_err("dims");
    assert!(err.to_string().contains("16 dimensions"), "{err}");
}
