//! Stanford Online Products (Oh Song et al. 2016): 120,053 images of 22,634 products.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::text::{expect_fields, parse_error, parse_u64, read_lines};
use super::{ImageList, Split};
use crate::error::{DataError, DataResult};

/// Which part of SOP to read.
///
/// The "half" and "tiny" subsets are those of MindSpore's metric-learning model zoo
/// (`head -n N` of the header-less train / test lists): the first 29,437 train and 30,003
/// test images (5,184 classes each) for `Half`, the first 1,012 and 1,048 (160 classes each)
/// for `Tiny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SopSubset {
    /// All of `Ebay_train.txt` (59,551 images, 11,318 classes) / `Ebay_test.txt` (60,502,
    /// 11,316).
    Full,
    /// MindSpore's half: the first 29,437 train / 30,003 test images.
    Half,
    /// MindSpore's tiny: the first 1,012 train / 1,048 test images.
    Tiny,
    /// The first `train` / `test` images (the real files hold at least these many).
    First {
        /// Images kept from `Ebay_train.txt`.
        train: usize,
        /// Images kept from `Ebay_test.txt`.
        test: usize,
    },
}

impl SopSubset {
    fn limit(self, split: Split) -> Option<usize> {
        let (train, test) = match self {
            SopSubset::Full => return None,
            SopSubset::Half => (29_437, 30_003),
            SopSubset::Tiny => (1_012, 1_048),
            SopSubset::First { train, test } => (train, test),
        };
        Some(if split == Split::Train { train } else { test })
    }
}

/// Reader for Stanford Online Products with the standard split: `Ebay_train.txt` (classes
/// 1-11,318) trains, `Ebay_test.txt` (11,319-22,634) tests.
///
/// `root` is the `Stanford_Online_Products` directory; each list starts with the header
/// `image_id class_id super_class_id path`, paths (e.g. `bicycle_final/111085122871_0.JPG`)
/// are relative to `root`. Labels are the split's class ids in ascending order mapped to
/// `0..C-1` (the lists are sorted by class id, so this is also order of first appearance).
#[derive(Debug, Clone)]
pub struct StanfordOnlineProducts {
    root: PathBuf,
    subset: SopSubset,
}

impl StanfordOnlineProducts {
    /// A reader for the `Stanford_Online_Products` directory at `root` (full split).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), subset: SopSubset::Full }
    }

    /// Reads only `subset` of each list.
    pub fn with_subset(mut self, subset: SopSubset) -> Self {
        self.subset = subset;
        self
    }

    /// Reads `split` (`Train` or `Test`).
    pub fn load(&self, split: Split) -> DataResult<ImageList> {
        let file = match split {
            Split::Train => "Ebay_train.txt",
            Split::Test => "Ebay_test.txt",
            other => {
                return Err(DataError::UnsupportedSplit {
                    dataset: "Stanford Online Products",
                    split: other.to_string(),
                });
            }
        };
        let path = self.root.join(file);
        let mut lines = read_lines(&path, "Stanford Online Products image list")?.into_iter();
        match lines.next() {
            Some((_, header)) if header.first().is_some_and(|f| f == "image_id") => {}
            Some((line, _)) => {
                return Err(parse_error(
                    &path,
                    line,
                    "expected the header `image_id class_id super_class_id path`",
                ));
            }
            None => return Err(parse_error(&path, 1, "empty file")),
        }
        let mut entries = Vec::new();
        for (line, f) in lines {
            expect_fields(&path, line, &f, 4, "image_id class_id super_class_id path")?;
            parse_u64(&path, line, &f[0], "image_id")?;
            let class = parse_u64(&path, line, &f[1], "class_id")?;
            let declared = if split == Split::Train { 1..=11_318 } else { 11_319..=22_634 };
            if !declared.contains(&class) {
                return Err(parse_error(
                    &path,
                    line,
                    format!(
                        "class_id {class} is not one of the {split} split's classes {}..={}",
                        declared.start(),
                        declared.end()
                    ),
                ));
            }
            parse_u64(&path, line, &f[2], "super_class_id")?;
            entries.push((PathBuf::from(&f[3]), class.to_string(), None));
        }
        if let Some(n) = self.subset.limit(split) {
            if entries.len() < n {
                return Err(DataError::Format {
                    path,
                    message: format!(
                        "{} images, fewer than the {n} that subset {:?} takes",
                        entries.len(),
                        self.subset
                    ),
                });
            }
            entries.truncate(n);
        }
        Ok(ImageList::sorted_by_class(self.root.clone(), entries))
    }
}
