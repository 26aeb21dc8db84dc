//! Cars-196 (Krause et al. 2013): 16,185 car images of 196 models.

use std::path::PathBuf;

use super::{BoundingBox, ImageList, Split};
use crate::error::{DataError, DataResult};
use crate::mat::{MatFile, MatValue};

/// Reader for Cars-196 with the standard deep-metric-learning split: classes 1-98 train,
/// 99-196 test (the annotation's `test` flag is ignored).
///
/// `root` holds `cars_annos.mat` and `car_ims/`. The MAT file's `annotations` variable is a
/// struct array with fields `relative_im_path` (char, e.g. `car_ims/000001.jpg`, relative to
/// `root`), `bbox_x1`, `bbox_y1`, `bbox_x2`, `bbox_y2`, `class` (1..196) and `test` (any
/// numeric MATLAB class). Labels are the split's class ids in ascending order mapped to
/// `0..C-1` (train label = class - 1, test label = class - 99 on the full dataset).
#[derive(Debug, Clone)]
pub struct Cars196 {
    root: PathBuf,
    annotations: PathBuf,
}

impl Cars196 {
    /// A reader for the directory at `root`, reading `root/cars_annos.mat`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self { annotations: root.join("cars_annos.mat"), root }
    }

    /// Reads the annotations from `path` instead of `root/cars_annos.mat`.
    pub fn with_annotation_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.annotations = path.into();
        self
    }

    /// Reads `split` (`Train` or `Test`).
    pub fn load(&self, split: Split) -> DataResult<ImageList> {
        let classes = match split {
            Split::Train => 1..=98,
            Split::Test => 99..=196,
            other => {
                return Err(DataError::UnsupportedSplit {
                    dataset: "Cars-196",
                    split: other.to_string(),
                });
            }
        };
        let mat = MatFile::read(&self.annotations)?;
        let err = |message: String| DataError::Format { path: self.annotations.clone(), message };
        let ann = mat.get("annotations").ok_or_else(|| err("no `annotations` variable".into()))?;
        let MatValue::Struct { elements, .. } = ann else {
            return Err(err("`annotations` is not a struct array".into()));
        };
        let mut entries = Vec::with_capacity(elements.len());
        for i in 0..elements.len() {
            let field = |name: &str| {
                ann.field(i, name)
                    .ok_or_else(|| err(format!("annotations({}) has no field `{name}`", i + 1)))
            };
            let number = |name: &str| {
                field(name)?.as_scalar().ok_or_else(|| {
                    err(format!("annotations({}).{name} is not a numeric scalar", i + 1))
                })
            };
            let path = field("relative_im_path")?
                .as_str()
                .ok_or_else(|| err(format!("annotations({}).relative_im_path is not text", i + 1)))?
                .to_string();
            let class = number("class")?;
            if class.fract() != 0.0 || !(1.0..=196.0).contains(&class) {
                return Err(err(format!("annotations({}).class = {class} not in 1..196", i + 1)));
            }
            let bbox = BoundingBox {
                x1: number("bbox_x1")?,
                y1: number("bbox_y1")?,
                x2: number("bbox_x2")?,
                y2: number("bbox_y2")?,
            };
            let class = class as u64;
            if classes.contains(&class) {
                entries.push((PathBuf::from(path), class.to_string(), Some(bbox)));
            }
        }
        Ok(ImageList::sorted_by_class(self.root.clone(), entries))
    }
}
