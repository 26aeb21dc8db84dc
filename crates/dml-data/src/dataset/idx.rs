//! MNIST-format idx files (MNIST, Fashion-MNIST, KMNIST, ...), plain or gzip-compressed.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use image::RgbImage;

use super::{ImageSource, Split};
use crate::error::{DataError, DataResult, read_file};

/// Reads an idx file of unsigned bytes (type code `0x08`), gzip-compressed or not (detected
/// from the content), returning its dimensions and data.
pub fn read_idx_u8(path: &Path) -> DataResult<(Vec<usize>, Vec<u8>)> {
    let raw = read_file(path, "idx file")?;
    let err = |message: String| DataError::Format { path: path.to_path_buf(), message };
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| err(format!("bad gzip stream: {e}")))?;
        out
    } else {
        raw
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(err("not an idx file (bad magic number)".into()));
    }
    if bytes[2] != 0x08 {
        return Err(err(format!(
            "idx element type 0x{:02x}, only unsigned bytes (0x08)",
            bytes[2]
        )));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    let dims: Vec<usize> = bytes
        .get(4..header)
        .ok_or_else(|| err("truncated idx header".into()))?
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let held = bytes.len() - header;
    match dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
        Some(n) if n == held => {}
        Some(n) => {
            return Err(err(format!(
                "dimensions {dims:?} need {n} bytes of data, the file holds {held}"
            )));
        }
        None => {
            return Err(err(format!(
                "dimensions {dims:?} are too large (their product overflows)"
            )));
        }
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// An in-memory set of grey images with labels, read from a pair of idx files.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxDataset {
    /// Where the images came from (used in [`ImageSource::describe`]).
    pub source: PathBuf,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// `rows * cols` bytes per image, image after image.
    pub pixels: Vec<u8>,
    /// The original class of each image (e.g. 0..9).
    pub original_labels: Vec<u8>,
    /// `class_ids[label]` is the original class of remapped label `label`.
    pub class_ids: Vec<u8>,
    /// Original index (in the idx file) of each image.
    pub file_index: Vec<usize>,
    labels: Vec<usize>,
}

impl IdxDataset {
    /// Reads an images file (`[N, rows, cols]`) and a labels file (`[N]`). Labels stay the
    /// original classes (remapped through the sorted list of classes present, which for a
    /// full MNIST-style file is the identity).
    pub fn read(images: &Path, labels: &Path) -> DataResult<Self> {
        let (dims, pixels) = read_idx_u8(images)?;
        let [n, rows, cols] = dims[..] else {
            return Err(DataError::Format {
                path: images.to_path_buf(),
                message: format!(
                    "image idx file has dimensions {dims:?}, expected [N, rows, cols]"
                ),
            });
        };
        if n == 0 {
            return Err(DataError::Format {
                path: images.to_path_buf(),
                message: "the file holds no images (its first dimension is 0)".into(),
            });
        }
        if rows == 0 || cols == 0 {
            return Err(DataError::Format {
                path: images.to_path_buf(),
                message: format!("its images are {rows}x{cols} pixels"),
            });
        }
        let (ldims, original_labels) = read_idx_u8(labels)?;
        if ldims != [n] {
            return Err(DataError::Format {
                path: labels.to_path_buf(),
                message: format!("label dimensions {ldims:?} do not match {n} images"),
            });
        }
        Ok(Self::build(images.to_path_buf(), rows, cols, pixels, original_labels, (0..n).collect()))
    }

    fn build(
        source: PathBuf,
        rows: usize,
        cols: usize,
        pixels: Vec<u8>,
        original_labels: Vec<u8>,
        file_index: Vec<usize>,
    ) -> Self {
        let mut class_ids = original_labels.clone();
        class_ids.sort_unstable();
        class_ids.dedup();
        let mut map = [0usize; 256];
        for (i, &c) in class_ids.iter().enumerate() {
            map[c as usize] = i;
        }
        let labels = original_labels.iter().map(|&c| map[c as usize]).collect();
        Self { source, rows, cols, pixels, original_labels, class_ids, file_index, labels }
    }

    /// Keeps the images whose original class satisfies `keep`, remapping labels to `0..C-1`
    /// in ascending original-class order.
    pub fn filter_classes(&self, keep: impl Fn(u8) -> bool) -> Self {
        let size = self.rows * self.cols;
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        let mut file_index = Vec::new();
        for (i, &c) in self.original_labels.iter().enumerate() {
            if keep(c) {
                pixels.extend_from_slice(&self.pixels[i * size..(i + 1) * size]);
                labels.push(c);
                file_index.push(self.file_index[i]);
            }
        }
        Self::build(self.source.clone(), self.rows, self.cols, pixels, labels, file_index)
    }

    /// The grey pixels of image `index`.
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        let size = self.rows * self.cols;
        self.pixels.get(index * size..(index + 1) * size)
    }
}

impl ImageSource for IdxDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn labels(&self) -> &[usize] {
        &self.labels
    }

    fn num_classes(&self) -> usize {
        self.class_ids.len()
    }

    fn load(&self, index: usize) -> DataResult<RgbImage> {
        let grey =
            self.image(index).ok_or(DataError::IndexOutOfRange { index, len: self.len() })?;
        let rgb: Vec<u8> = grey.iter().flat_map(|&v| [v, v, v]).collect();
        RgbImage::from_raw(self.cols as u32, self.rows as u32, rgb)
            .ok_or(DataError::IndexOutOfRange { index, len: self.len() })
    }

    fn describe(&self, index: usize) -> String {
        let i = self.file_index.get(index).copied().unwrap_or(index);
        format!("{}[{i}]", self.source.display())
    }
}

/// Reader for a directory of MNIST-format files (`train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each
/// optionally with a `.gz` suffix), e.g. Debian's `dataset-fashion-mnist` in
/// `/usr/share/datasets/fashion-mnist`, with a zero-shot split by class: `Train` is the
/// train files' images of classes `0..k`, `Test` the t10k files' images of classes
/// `k..` (labels remapped to `0..C-1` in ascending class order). `k` defaults to 5. The files
/// declare 10 classes (0-9); a label outside them is an error naming the file and the image.
#[derive(Debug, Clone)]
pub struct MnistFormat {
    dir: PathBuf,
    train_classes: u8,
    num_classes: u8,
}

impl MnistFormat {
    /// Debian's `dataset-fashion-mnist` install location.
    pub const DEBIAN_FASHION_MNIST: &'static str = "/usr/share/datasets/fashion-mnist";

    /// A reader for the idx files in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), train_classes: 5, num_classes: 10 }
    }

    /// The number of classes the files declare (labels `0..n`; 10 for MNIST and
    /// Fashion-MNIST).
    pub fn with_num_classes(mut self, n: u8) -> Self {
        self.num_classes = n;
        self
    }

    /// Trains on classes `0..k`, tests on classes `k..`.
    pub fn with_train_classes(mut self, k: u8) -> Self {
        self.train_classes = k;
        self
    }

    /// Finds `name` or `name.gz` in the directory.
    fn file(&self, name: &str) -> DataResult<PathBuf> {
        let plain = self.dir.join(name);
        let gz = self.dir.join(format!("{name}.gz"));
        if plain.exists() {
            Ok(plain)
        } else if gz.exists() {
            Ok(gz)
        } else {
            Err(DataError::MissingFile { path: plain, hint: "idx file (plain or .gz)".into() })
        }
    }

    /// The whole train (`Split::Train`) or t10k (`Split::Test`) file pair, all classes.
    pub fn load_all(&self, split: Split) -> DataResult<IdxDataset> {
        let prefix = match split {
            Split::Train => "train",
            Split::Test => "t10k",
            other => {
                return Err(DataError::UnsupportedSplit {
                    dataset: "MNIST-format",
                    split: other.to_string(),
                });
            }
        };
        let labels = self.file(&format!("{prefix}-labels-idx1-ubyte"))?;
        let set = IdxDataset::read(&self.file(&format!("{prefix}-images-idx3-ubyte"))?, &labels)?;
        if let Some((i, &c)) =
            set.original_labels.iter().enumerate().find(|(_, c)| **c >= self.num_classes)
        {
            return Err(DataError::Format {
                path: labels,
                message: format!(
                    "image {i} has label {c}, outside the dataset's {} classes 0..={}",
                    self.num_classes,
                    self.num_classes.saturating_sub(1)
                ),
            });
        }
        Ok(set)
    }

    /// The zero-shot split: train-file images of classes `0..k` or t10k-file images of
    /// classes `k..`.
    pub fn load(&self, split: Split) -> DataResult<IdxDataset> {
        let k = self.train_classes;
        let all = self.load_all(split)?;
        Ok(if split == Split::Train {
            all.filter_classes(|c| c < k)
        } else {
            all.filter_classes(|c| c >= k)
        })
    }
}
