//! Readers against the fixture trees in tests/fixtures/data (tools/gen_data_fixtures.py),
//! samplers, the loader and bad input.

use std::path::PathBuf;
use std::sync::Arc;

use dml_data::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/data")
}

#[test]
fn cub_splits_by_class_and_images_decode() {
    let cub = Cub200::new(fixtures().join("cub/CUB_200_2011"));
    let train = cub.load(Split::Train).unwrap();
    assert_eq!(train.len(), 9);
    assert_eq!(train.class_ids, ["1", "2", "100"]);
    assert_eq!(train.labels(), [0, 0, 0, 1, 1, 1, 2, 2, 2]);
    let test = cub.load(Split::Test).unwrap();
    assert_eq!(test.class_ids, ["101", "102", "200"]);
    assert!(test.items[0].path.starts_with("images/101.White_Pelican"));
    for i in 0..test.len() {
        test.load(i).unwrap();
    }
    assert!(matches!(cub.load(Split::Query), Err(DataError::UnsupportedSplit { .. })));
}

#[test]
fn cars_mat_compressed_and_plain_agree() {
    let root = fixtures().join("cars196");
    let a = Cars196::new(&root).load(Split::Train).unwrap();
    let b = Cars196::new(&root)
        .with_annotation_file(root.join("cars_annos_uncompressed.mat"))
        .load(Split::Train)
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a.class_ids, ["1", "2", "98"]);
    assert_eq!(a.items[1].path, PathBuf::from("car_ims/000002.jpg"));
    assert_eq!(a.items[1].bbox.unwrap().x1, 2.0);
    let t = Cars196::new(&root).load(Split::Test).unwrap();
    assert_eq!(t.class_ids, ["99", "100", "196"]);
    for i in 0..t.len() {
        t.load(i).unwrap();
    }
}

#[test]
fn sop_full_and_subsets() {
    let sop = StanfordOnlineProducts::new(fixtures().join("sop/Stanford_Online_Products"));
    let train = sop.load(Split::Train).unwrap();
    assert_eq!((train.len(), train.num_classes()), (18, 6));
    let test = sop.load(Split::Test).unwrap();
    assert_eq!(test.class_ids[0], "11319");
    test.load(0).unwrap();
    let first = sop.with_subset(SopSubset::First { train: 5, test: 4 });
    let t5 = first.load(Split::Train).unwrap();
    assert_eq!((t5.len(), t5.labels()), (5, &[0, 0, 1, 1, 1][..]));
    let half = StanfordOnlineProducts::new(fixtures().join("sop/Stanford_Online_Products"))
        .with_subset(SopSubset::Half);
    let e = half.load(Split::Train).unwrap_err().to_string();
    assert!(e.contains("29437"), "{e}");
}

#[test]
fn sop_class_ids_outside_the_split_are_errors_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let list = "image_id class_id super_class_id path\n1 1 1 a/1.JPG\n2 11400 1 a/2.JPG\n";
    std::fs::write(dir.path().join("Ebay_train.txt"), list).unwrap();
    let e = StanfordOnlineProducts::new(dir.path()).load(Split::Train).unwrap_err().to_string();
    assert!(e.contains("Ebay_train.txt:3"), "{e}");
    assert!(e.contains("class_id 11400") && e.contains("1..=11318"), "{e}");
}

#[test]
fn inshop_query_and_gallery_share_labels() {
    let shop = InShop::new(fixtures().join("inshop"));
    let train = shop.load(Split::Train).unwrap();
    assert_eq!((train.len(), train.num_classes()), (9, 3));
    let q = shop.load(Split::Query).unwrap();
    let g = shop.load(Split::Gallery).unwrap();
    assert_eq!((q.len(), g.len()), (4, 4));
    assert_eq!(q.class_ids, g.class_ids);
    assert_eq!(q.items[0].class_id, "id_00000008");
    assert_eq!(q.items[0].label, g.items[0].label);
    g.load(0).unwrap();
}

#[test]
fn fashion_mnist_idx_plain_and_gzip_zero_shot() {
    let expected = std::fs::read_to_string(fixtures().join("fashion-mnist/expected.txt")).unwrap();
    let line = |k: &str| -> Vec<usize> {
        let l = expected.lines().find(|l| l.starts_with(k)).unwrap();
        l.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect()
    };
    let mnist = MnistFormat::new(fixtures().join("fashion-mnist"));
    let train = mnist.load_all(Split::Train).unwrap(); // gzip
    assert_eq!(train.labels(), &line("train_labels")[..]);
    let sum: usize = train.image(0).unwrap().iter().map(|&v| v as usize).sum();
    assert_eq!(sum, line("train0_sum")[0]);
    let test = mnist.load_all(Split::Test).unwrap(); // plain
    assert_eq!(test.image(0).unwrap()[14 * 28 + 14] as usize, line("test0_pixel_14_14")[0]);
    let zs_train = mnist.load(Split::Train).unwrap();
    assert!(zs_train.original_labels.iter().all(|&c| c < 5));
    let zs_test = mnist.load(Split::Test).unwrap();
    assert!(zs_test.original_labels.iter().all(|&c| c >= 5));
    assert_eq!(zs_test.num_classes(), 5);
    assert_eq!(zs_test.load(0).unwrap().dimensions(), (28, 28));
}

fn balanced_labels() -> Vec<usize> {
    (0..50).flat_map(|c| std::iter::repeat_n(c, 4 + c % 17)).collect()
}

#[test]
fn m_per_class_batches_are_exact_reproducible_and_differ_by_epoch() {
    let labels = balanced_labels();
    let cfg = MPerClassSamplerConfig::new(4, 32).with_length_before_new_iter(1000).with_seed(7);
    let s = cfg.init(&labels).unwrap();
    let e0 = s.batches(0);
    assert_eq!(e0.len(), 1000 / 32);
    for batch in &e0 {
        assert_eq!(batch.len(), 32);
        let mut counts = std::collections::BTreeMap::new();
        for &i in batch {
            *counts.entry(labels[i]).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 8, "no class repeats beyond its m slots");
        assert!(counts.values().all(|&c| c == 4));
        let mut uniq = batch.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 32);
    }
    assert_eq!(s.batches(0), e0);
    assert_eq!(cfg.init(&labels).unwrap().batches(0), e0);
    assert_ne!(s.batches(1), e0);
    assert_ne!(cfg.clone().with_seed(8).init(&labels).unwrap().batches(0), e0);
    assert!(matches!(
        MPerClassSamplerConfig::new(4, 30).init(&labels),
        Err(DataError::InvalidConfig { .. })
    ));
}

#[test]
fn class_with_fewer_than_m_images_is_reported() {
    let labels = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2];
    let e = MPerClassSamplerConfig::new(4, 8).init(&labels).unwrap_err();
    assert!(matches!(e, DataError::ClassTooSmall { label: 1, count: 2, m: 4 }));
    let drop = MPerClassSamplerConfig::new(4, 8).with_small_classes(SmallClassPolicy::Drop);
    assert!(drop.init(&labels).unwrap().batches(0).concat().iter().all(|&i| labels[i] != 1));
    let rep = MPerClassSamplerConfig::new(4, 8).with_small_classes(SmallClassPolicy::Replace);
    assert!(rep.init(&labels).is_ok());
}

#[test]
fn loader_is_deterministic_across_worker_counts_and_feeds_burn() {
    let train: Arc<dyn ImageSource> =
        Arc::new(Cub200::new(fixtures().join("cub/CUB_200_2011")).load(Split::Train).unwrap());
    let sampler = Arc::new(
        MPerClassSamplerConfig::new(3, 6)
            .with_length_before_new_iter(24)
            .init(train.labels())
            .unwrap(),
    );
    let run = |workers| {
        let loader = ImageLoader::new(
            train.clone(),
            sampler.clone(),
            PipelineConfig::train(16).init().unwrap(),
            LoaderConfig::new().with_num_workers(workers).with_seed(5),
        )
        .unwrap();
        loader.host_epoch(0).collect::<DataResult<Vec<_>>>().unwrap()
    };
    let a = run(0);
    assert_eq!(a.len(), 4);
    assert_eq!(a, run(1));
    assert_eq!(a, run(3));
    assert_eq!(a[0].shape, [6, 3, 16, 16]);
    let loader = ImageLoader::new(
        train.clone(),
        sampler,
        PipelineConfig::eval(20, 16).init().unwrap(),
        LoaderConfig::new(),
    )
    .unwrap();
    let device = burn::tensor::Device::flex();
    let batch = loader.epoch(0, &device).next().unwrap().unwrap();
    assert_eq!(batch.images.dims(), [6, 3, 16, 16]);
    assert_eq!(batch.labels.dims(), [6]);
}

#[test]
fn bad_input_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let e = Cub200::new(dir.path()).load(Split::Train).unwrap_err();
    assert!(matches!(&e, DataError::MissingFile { path, .. } if path.ends_with("images.txt")));
    std::fs::write(dir.path().join("images.txt"), "1 a/b.jpg\n2 a/c.jpg\nthree a/d.jpg\n").unwrap();
    let e = Cub200::new(dir.path()).load(Split::Train).unwrap_err();
    assert!(matches!(&e, DataError::Parse { line: 3, .. }), "{e}");
    assert!(e.to_string().contains("images.txt:3"), "{e}");
    std::fs::create_dir_all(dir.path().join("Eval")).unwrap();
    std::fs::write(
        dir.path().join("Eval/list_eval_partition.txt"),
        "2\nimage_name item_id evaluation_status\nimg/a.jpg id_1 train\nimg/b.jpg id_1\n",
    )
    .unwrap();
    let e = InShop::new(dir.path()).load(Split::Train).unwrap_err();
    assert!(matches!(&e, DataError::Parse { line: 4, .. }), "{e}");
    std::fs::write(dir.path().join("cars_annos.mat"), b"MATLAB 5.0 MAT-file truncated").unwrap();
    assert!(matches!(Cars196::new(dir.path()).load(Split::Train), Err(DataError::Format { .. })));
}

#[test]
fn undecodable_image_errors_with_path_or_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures().join("cub/CUB_200_2011");
    let mut list = Cub200::new(&src).load(Split::Train).unwrap();
    let bad = dir.path().join(&list.items[0].path);
    for item in &list.items {
        let to = dir.path().join(&item.path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(&item.path), &to).unwrap();
    }
    std::fs::write(&bad, b"not a jpeg").unwrap();
    list.root = dir.path().to_path_buf();
    let list: Arc<dyn ImageSource> = Arc::new(list);
    let sampler = Arc::new(RandomSamplerConfig::new(9).with_shuffle(false).init(9).unwrap());
    let make = |skip| {
        ImageLoader::new(
            list.clone(),
            sampler.clone(),
            PipelineConfig::eval(16, 16).init().unwrap(),
            LoaderConfig::new().with_skip_undecodable(skip),
        )
        .unwrap()
    };
    let e = make(false).host_epoch(0).next().unwrap().unwrap_err();
    assert!(e.to_string().contains(&bad.display().to_string()), "{e}");
    let loader = make(true);
    let batch = loader.host_epoch(0).next().unwrap().unwrap();
    assert_eq!(batch.shape[0], 8);
    assert_eq!(loader.skipped_images().len(), 1);
}

#[test]
fn resampling_matches_pillow_within_one_level() {
    let dir = fixtures().join("transforms");
    let input = image::open(dir.join("input.png")).unwrap().into_rgb8();
    let ours = resize_region_for_test(&input, (3.0, 2.0, 37.0, 29.0), 17, 13);
    let pil = image::open(dir.join("resize_box_3_2_37_29_to_17x13.png")).unwrap().into_rgb8();
    let max = ours.as_raw().iter().zip(pil.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(max <= 1, "max difference {max}");
    let up = resize_region_for_test(&input, (0.0, 0.0, 40.0, 30.0), 57, 41);
    let pil = image::open(dir.join("resize_to_57x41.png")).unwrap().into_rgb8();
    let max = up.as_raw().iter().zip(pil.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(max <= 1, "max difference {max}");
    let pipeline = PipelineConfig::eval(20, 16).init().unwrap();
    let ours = pipeline.transform(input, &mut dml_data::rng::SplitMix64::new(0));
    let tv = image::open(dir.join("resize20_centercrop16.png")).unwrap().into_rgb8();
    let max = ours.as_raw().iter().zip(tv.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(max <= 1, "max difference {max}");
}

fn resize_region_for_test(
    img: &image::RgbImage,
    region: (f64, f64, f64, f64),
    w: usize,
    h: usize,
) -> image::RgbImage {
    dml_data::transform::resize_region(img, region, w, h)
}

/// JPEG decoding (zune-jpeg, through `image`) against Pillow (libjpeg-turbo, what
/// torchvision's `default_loader` uses) on a 160x120 quality-90 JPEG with 4:2:0 chroma.
/// Luma decodes alike (grey JPEGs: max 1 level); the chroma upsampling filters differ, which
/// measured max 4, mean 0.38 levels on this file (docs/benchmarks-data.md). The bound
/// catches a decoder change that drifts further from Pillow.
#[test]
fn jpeg_decoding_matches_pillow() {
    let dir = fixtures().join("transforms");
    let ours = decode_image_file(&dir.join("photo.jpg")).unwrap();
    let pil = image::open(dir.join("photo_pil_decoded.png")).unwrap().into_rgb8();
    assert_eq!(ours.dimensions(), pil.dimensions());
    let diffs: Vec<u8> =
        ours.as_raw().iter().zip(pil.as_raw()).map(|(a, b)| a.abs_diff(*b)).collect();
    let max = diffs.iter().copied().max().unwrap();
    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
    eprintln!("JPEG decode vs Pillow: max {max}, mean {mean:.4}");
    assert!(max <= 4 && mean < 0.45, "max {max}, mean {mean}");
}

/// torchvision's `Resize((41, 57))` on a PIL image is Pillow's `img.resize((57, 41),
/// BILINEAR)`: the fixture `resize_to_57x41.png` squashes the 40x30 input (x 1.425, y 1.367).
#[test]
fn resize_exact_matches_pillow_squash() {
    let dir = fixtures().join("transforms");
    let input = image::open(dir.join("input.png")).unwrap().into_rgb8();
    let steps = vec![Transform::ResizeExact { width: 57, height: 41 }];
    let ours =
        PipelineConfig::new(steps).init().unwrap().transform(input, &mut rng::SplitMix64::new(0));
    let pil = image::open(dir.join("resize_to_57x41.png")).unwrap().into_rgb8();
    assert_eq!(ours.dimensions(), pil.dimensions());
    let max = ours.as_raw().iter().zip(pil.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(max <= 1, "max difference {max}");
}

/// Resuming mid-epoch: batch k of `epoch_from(e, k)` (and every later one) is bit-identical
/// to batch k of the full epoch, whatever the worker count, with random augmentation.
#[test]
fn epoch_from_resumes_with_identical_batches() {
    let train: Arc<dyn ImageSource> =
        Arc::new(Cub200::new(fixtures().join("cub/CUB_200_2011")).load(Split::Train).unwrap());
    let sampler = Arc::new(
        ClassChunkSamplerConfig::new(4, ChunkSize::Range { min: 1, max: 3 })
            .with_seed(2)
            .with_num_batches(Some(5))
            .init(train.labels())
            .unwrap(),
    );
    let steps = vec![
        Transform::ResizeExact { width: 24, height: 24 },
        Transform::RandomCrop { size: 16 },
        Transform::HorizontalFlip { probability: 0.5 },
    ];
    let loader = |workers| {
        ImageLoader::new(
            train.clone(),
            sampler.clone(),
            PipelineConfig::new(steps.clone()).init().unwrap(),
            LoaderConfig::new().with_num_workers(workers).with_seed(3),
        )
        .unwrap()
    };
    let full = loader(0).host_epoch(1).collect::<DataResult<Vec<_>>>().unwrap();
    assert_eq!(full.len(), 5);
    assert_eq!(full[0].shape, [4, 3, 16, 16]);
    assert_ne!(full, loader(0).host_epoch(2).collect::<DataResult<Vec<_>>>().unwrap());
    for workers in [0, 1, 2, 3] {
        let l = loader(workers);
        for k in 0..=5 {
            let resumed = l.host_epoch_from(1, k);
            assert_eq!(resumed.size_hint(), (5 - k, Some(5 - k)));
            let resumed = resumed.collect::<DataResult<Vec<_>>>().unwrap();
            assert_eq!(resumed, full[k..], "workers {workers}, start {k}");
        }
        assert_eq!(l.host_epoch_from(1, 9).count(), 0);
    }
    let device = burn::tensor::Device::flex();
    let batch = loader(2).epoch_from(1, 3, &device).next().unwrap().unwrap();
    assert_eq!(batch.indices, full[3].indices);
    let values = batch.images.into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(values, full[3].images);
}
