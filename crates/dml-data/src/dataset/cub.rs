//! CUB-200-2011 (Wah et al. 2011): 11,788 bird images of 200 species.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::text::{expect_fields, parse_error, parse_u64, read_lines};
use super::{BoundingBox, ImageList, Split};
use crate::error::{DataError, DataResult};

/// Reader for CUB-200-2011 with the standard deep-metric-learning split: classes 1-100 train,
/// 101-200 test (the official `train_test_split.txt` is ignored, as in every DML paper).
///
/// `root` is the `CUB_200_2011` directory holding `images.txt` (`<image id> <relative
/// path>`), `image_class_labels.txt` (`<image id> <class id 1..200>`), optionally
/// `bounding_boxes.txt` (`<image id> <x> <y> <width> <height>`), and `images/`.
/// Labels are the split's class ids in ascending order mapped to `0..C-1` (so with the full
/// dataset, train label = class id - 1 and test label = class id - 101).
#[derive(Debug, Clone)]
pub struct Cub200 {
    root: PathBuf,
}

impl Cub200 {
    /// A reader for the `CUB_200_2011` directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Reads `split` (`Train` or `Test`).
    pub fn load(&self, split: Split) -> DataResult<ImageList> {
        let classes = match split {
            Split::Train => 1..=100,
            Split::Test => 101..=200,
            other => {
                return Err(DataError::UnsupportedSplit {
                    dataset: "CUB-200-2011",
                    split: other.to_string(),
                });
            }
        };
        let images_txt = self.root.join("images.txt");
        let mut paths: HashMap<u64, (usize, PathBuf)> = HashMap::new();
        let mut order = Vec::new();
        for (line, f) in read_lines(&images_txt, "CUB-200-2011 image list (images.txt)")? {
            expect_fields(&images_txt, line, &f, 2, "image id, path")?;
            let id = parse_u64(&images_txt, line, &f[0], "image id")?;
            if paths.insert(id, (line, PathBuf::from("images").join(&f[1]))).is_some() {
                return Err(parse_error(&images_txt, line, format!("duplicate image id {id}")));
            }
            order.push(id);
        }
        let labels_txt = self.root.join("image_class_labels.txt");
        let mut class_of: HashMap<u64, u64> = HashMap::new();
        for (line, f) in read_lines(&labels_txt, "CUB-200-2011 labels (image_class_labels.txt)")? {
            expect_fields(&labels_txt, line, &f, 2, "image id, class id")?;
            let id = parse_u64(&labels_txt, line, &f[0], "image id")?;
            let class = parse_u64(&labels_txt, line, &f[1], "class id")?;
            if !(1..=200).contains(&class) {
                return Err(parse_error(
                    &labels_txt,
                    line,
                    format!("class id {class} not in 1..200"),
                ));
            }
            if !paths.contains_key(&id) {
                return Err(parse_error(
                    &labels_txt,
                    line,
                    format!("image id {id} not in images.txt"),
                ));
            }
            class_of.insert(id, class);
        }
        let boxes = self.boxes()?;
        let mut entries = Vec::new();
        for id in order {
            let (line, path) = &paths[&id];
            let class = *class_of.get(&id).ok_or_else(|| {
                parse_error(
                    &images_txt,
                    *line,
                    format!("image id {id} has no class in {}", labels_txt.display()),
                )
            })?;
            if classes.contains(&class) {
                entries.push((path.clone(), class.to_string(), boxes.get(&id).copied()));
            }
        }
        Ok(ImageList::sorted_by_class(self.root.clone(), entries))
    }

    /// Reads `bounding_boxes.txt` when present.
    fn boxes(&self) -> DataResult<HashMap<u64, BoundingBox>> {
        let path = self.root.join("bounding_boxes.txt");
        if !path.exists() {
            return Ok(HashMap::new());
        }
        let mut boxes = HashMap::new();
        for (line, f) in read_lines(&path, "CUB-200-2011 bounding boxes")? {
            expect_fields(&path, line, &f, 5, "image id, x, y, width, height")?;
            let id = parse_u64(&path, line, &f[0], "image id")?;
            let v = number_fields(&path, line, &f[1..])?;
            boxes.insert(id, BoundingBox { x1: v[0], y1: v[1], x2: v[0] + v[2], y2: v[1] + v[3] });
        }
        Ok(boxes)
    }

    /// The dataset root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn number_fields(path: &Path, line: usize, fields: &[String]) -> DataResult<Vec<f64>> {
    fields
        .iter()
        .map(|s| {
            s.parse::<f64>().map_err(|_| parse_error(path, line, format!("`{s}` is not a number")))
        })
        .collect()
}
