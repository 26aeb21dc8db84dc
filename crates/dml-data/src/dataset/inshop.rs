//! In-shop Clothes Retrieval (DeepFashion, Liu et al. 2016): 52,712 images of 7,982 items.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::text::{expect_fields, parse_error, parse_u64, read_lines};
use super::{ImageList, Split};
use crate::error::{DataError, DataResult};

/// Reader for In-shop Clothes Retrieval's `Eval/list_eval_partition.txt`: `Train` (3,997
/// items, 25,882 images), `Query` (14,218 images) and `Gallery` (12,612 images) of the same
/// 3,985 items.
///
/// The file starts with the image count, then the header `image_name item_id
/// evaluation_status`, then one `img/... id_XXXXXXXX train|query|gallery` line per image.
/// Image paths are relative to the image root (by default `root`, so `root/img/...`).
/// Labels: train items in ascending item-id order mapped to `0..C-1`; query and gallery share
/// one mapping (ascending item id over the union of query and gallery items), so a query and
/// its gallery matches carry the same label.
#[derive(Debug, Clone)]
pub struct InShop {
    root: PathBuf,
    image_root: PathBuf,
}

impl InShop {
    /// A reader for the dataset directory at `root` (holding `Eval/` and `img/`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self { image_root: root.clone(), root }
    }

    /// Resolves image paths against `dir` instead of `root`.
    pub fn with_image_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.image_root = dir.into();
        self
    }

    /// Reads `split` (`Train`, `Query` or `Gallery`).
    pub fn load(&self, split: Split) -> DataResult<ImageList> {
        let wanted = match split {
            Split::Train => "train",
            Split::Query => "query",
            Split::Gallery => "gallery",
            Split::Test => {
                return Err(DataError::UnsupportedSplit {
                    dataset: "In-shop",
                    split: "test (use query and gallery)".into(),
                });
            }
        };
        let path = self.root.join("Eval").join("list_eval_partition.txt");
        let mut lines =
            read_lines(&path, "In-shop partition list (Eval/list_eval_partition.txt)")?.into_iter();
        let count = match lines.next() {
            Some((line, f)) => {
                expect_fields(&path, line, &f, 1, "the number of images")?;
                parse_u64(&path, line, &f[0], "image count")? as usize
            }
            None => return Err(parse_error(&path, 1, "empty file")),
        };
        match lines.next() {
            Some((_, h)) if h.first().is_some_and(|f| f == "image_name") => {}
            Some((line, _)) => {
                return Err(parse_error(
                    &path,
                    line,
                    "expected the header `image_name item_id evaluation_status`",
                ));
            }
            None => return Err(parse_error(&path, 2, "missing header line")),
        }
        let mut rows = Vec::new();
        for (line, f) in lines {
            expect_fields(&path, line, &f, 3, "image_name item_id evaluation_status")?;
            if !matches!(f[2].as_str(), "train" | "query" | "gallery") {
                return Err(parse_error(
                    &path,
                    line,
                    format!("evaluation_status `{}` is not train, query or gallery", f[2]),
                ));
            }
            rows.push((PathBuf::from(&f[0]), f[1].clone(), f[2].clone()));
        }
        if rows.len() != count {
            return Err(parse_error(
                &path,
                1,
                format!("the count line says {count} images, the file lists {}", rows.len()),
            ));
        }
        let in_mapping = |status: &str| match split {
            Split::Train => status == "train",
            _ => status != "train",
        };
        let classes: BTreeSet<String> =
            rows.iter().filter(|r| in_mapping(&r.2)).map(|r| r.1.clone()).collect();
        let entries = rows
            .into_iter()
            .filter(|r| r.2 == wanted)
            .map(|(p, item, _)| (p, item, None))
            .collect();
        Ok(ImageList::from_entries(self.image_root.clone(), entries, classes.into_iter().collect()))
    }
}
