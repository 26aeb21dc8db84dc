//! A file-backed dataset split: relative image paths with remapped labels.

use std::path::{Path, PathBuf};

use image::RgbImage;

use super::ImageSource;
use crate::error::{DataError, DataResult};

/// A bounding box in pixel coordinates, as given by the annotation file (Cars-196 and
/// CUB-200-2011 provide them; the standard DML protocol does not crop to them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    /// Left edge.
    pub x1: f64,
    /// Top edge.
    pub y1: f64,
    /// Right edge.
    pub x2: f64,
    /// Bottom edge.
    pub y2: f64,
}

/// One image of a split.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageItem {
    /// Path relative to [`ImageList::root`], as written in the annotation file.
    pub path: PathBuf,
    /// The remapped label, in `0..num_classes`.
    pub label: usize,
    /// The class identifier in the annotation file (e.g. `"101"` or `"id_00000008"`).
    pub class_id: String,
    /// The bounding box, when the annotation file gives one.
    pub bbox: Option<BoundingBox>,
}

/// The images of one split of a dataset, with labels remapped to `0..num_classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageList {
    /// The directory image paths are relative to.
    pub root: PathBuf,
    /// The images, in annotation-file order.
    pub items: Vec<ImageItem>,
    /// `class_ids[label]` is the annotation file's identifier of class `label`.
    pub class_ids: Vec<String>,
    labels: Vec<usize>,
}

impl ImageList {
    /// Builds a list from `(path, class_id, bbox)` entries, assigning labels `0..C-1` to the
    /// class identifiers in the order given by `class_order` (each entry's class must appear
    /// in it exactly once).
    pub(crate) fn from_entries(
        root: PathBuf,
        entries: Vec<(PathBuf, String, Option<BoundingBox>)>,
        class_order: Vec<String>,
    ) -> Self {
        let index: std::collections::HashMap<&str, usize> =
            class_order.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let items: Vec<ImageItem> = entries
            .into_iter()
            .filter_map(|(path, class_id, bbox)| {
                let label = *index.get(class_id.as_str())?;
                Some(ImageItem { path, label, class_id, bbox })
            })
            .collect();
        let labels = items.iter().map(|i| i.label).collect();
        Self { root, items, class_ids: class_order, labels }
    }

    /// Builds a list whose labels follow the numeric order of the class identifiers (or their
    /// string order when they are not numbers).
    pub(crate) fn sorted_by_class(
        root: PathBuf,
        entries: Vec<(PathBuf, String, Option<BoundingBox>)>,
    ) -> Self {
        let mut classes: Vec<String> = entries.iter().map(|e| e.1.clone()).collect();
        classes.sort_by(|a, b| match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        });
        classes.dedup();
        Self::from_entries(root, entries, classes)
    }

    /// An unlabelled list of image files (all in one class with the empty name), each path
    /// used as given (the root is empty): the query images of an inference command.
    pub fn from_files(paths: Vec<PathBuf>) -> Self {
        let entries = paths.into_iter().map(|p| (p, String::new(), None)).collect();
        Self::from_entries(PathBuf::new(), entries, vec![String::new()])
    }

    /// The absolute (root-joined) path of image `index`.
    pub fn full_path(&self, index: usize) -> Option<PathBuf> {
        self.items.get(index).map(|i| self.root.join(&i.path))
    }
}

/// Decodes the image file at `path` to 8-bit RGB.
pub fn decode_image_file(path: &Path) -> DataResult<RgbImage> {
    let bytes = std::fs::read(path)
        .map_err(|e| DataError::Decode { path: path.to_path_buf(), message: e.to_string() })?;
    decode_image_bytes(&bytes, path)
}

/// Decodes encoded image bytes (JPEG or PNG, detected from the content); `path` labels errors.
pub fn decode_image_bytes(bytes: &[u8], path: &Path) -> DataResult<RgbImage> {
    image::load_from_memory(bytes)
        .map(|img| img.into_rgb8())
        .map_err(|e| DataError::Decode { path: path.to_path_buf(), message: e.to_string() })
}

impl ImageSource for ImageList {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn labels(&self) -> &[usize] {
        &self.labels
    }

    fn num_classes(&self) -> usize {
        self.class_ids.len()
    }

    fn load(&self, index: usize) -> DataResult<RgbImage> {
        let path = self
            .full_path(index)
            .ok_or(DataError::IndexOutOfRange { index, len: self.items.len() })?;
        decode_image_file(&path)
    }

    fn describe(&self, index: usize) -> String {
        self.full_path(index).map(|p| p.display().to_string()).unwrap_or_default()
    }
}
