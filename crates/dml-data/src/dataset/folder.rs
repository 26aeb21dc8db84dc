//! A directory of image files: torchvision's `ImageFolder` layout (`root/<class>/<image>`),
//! or a flat directory of unlabelled images (what inference commands embed).

use std::path::{Path, PathBuf};

use super::ImageList;
use crate::error::{DataError, DataResult, io_error};

/// File extensions read as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

/// Reader for a directory of images.
///
/// - Every image directly under a subdirectory `root/<class>/` (and in that subdirectory's
///   own subdirectories) belongs to class `<class>`; classes get labels `0..C-1` in the byte
///   order of their names, as torchvision's `ImageFolder` assigns them.
/// - Images directly under `root` belong to the class with the empty name `""` (a flat
///   folder is one unlabelled class).
/// - Images are listed in path order; files whose extension is not in
///   [`IMAGE_EXTENSIONS`] are ignored, hidden files and directories (names starting with
///   `.`) too.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    root: PathBuf,
}

impl ImageFolder {
    /// A reader for the directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Lists the images.
    ///
    /// # Errors
    /// [`DataError::MissingFile`] when `root` does not exist or holds no image,
    /// [`DataError::Io`] when a directory cannot be read.
    pub fn load(&self) -> DataResult<ImageList> {
        let mut files = Vec::new();
        walk(&self.root, Path::new(""), &mut files)?;
        if files.is_empty() {
            return Err(DataError::MissingFile {
                path: self.root.clone(),
                hint: format!(
                    "no image ({}) in this directory or its subdirectories",
                    IMAGE_EXTENSIONS.join(", ")
                ),
            });
        }
        files.sort();
        let entries = files
            .into_iter()
            .map(|rel| {
                let class = match rel.components().count() {
                    0 | 1 => String::new(),
                    _ => rel
                        .components()
                        .next()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .unwrap_or_default(),
                };
                (rel, class, None)
            })
            .collect::<Vec<_>>();
        let mut classes: Vec<String> = entries.iter().map(|e| e.1.clone()).collect();
        classes.sort();
        classes.dedup();
        Ok(ImageList::from_entries(self.root.clone(), entries, classes))
    }
}

/// Appends the image files under `root/rel` (paths relative to `root`) to `out`.
fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> DataResult<()> {
    let dir = root.join(rel);
    let hint = "the image folder";
    let entries = std::fs::read_dir(&dir).map_err(|e| io_error(&dir, hint, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(&dir, hint, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let child = rel.join(&name);
        // Follows symbolic links, as a user pointing at a folder of linked images expects.
        if path.is_dir() {
            walk(root, &child, out)?;
        } else if is_image(&path) {
            out.push(child);
        }
    }
    Ok(())
}

/// Whether `path` has one of the [`IMAGE_EXTENSIONS`].
pub fn is_image(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::ImageSource;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(path, b"x").expect("write");
    }

    #[test]
    fn class_subdirectories_become_sorted_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        for p in ["b/2.jpg", "b/1.PNG", "a/x/3.jpeg", "a/notes.txt", ".hidden/4.jpg", "b/.5.jpg"] {
            touch(&dir.path().join(p));
        }
        let list = ImageFolder::new(dir.path()).load().expect("reads");
        let paths: Vec<_> = list.items.iter().map(|i| i.path.clone()).collect();
        let expect: Vec<PathBuf> =
            ["a/x/3.jpeg", "b/1.PNG", "b/2.jpg"].iter().map(PathBuf::from).collect();
        assert_eq!(paths, expect);
        assert_eq!(list.class_ids, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(list.labels(), &[0, 1, 1]);
    }

    #[test]
    fn flat_folder_is_one_unlabelled_class() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch(&dir.path().join("q2.jpg"));
        touch(&dir.path().join("q1.jpg"));
        let list = ImageFolder::new(dir.path()).load().expect("reads");
        assert_eq!(list.num_classes(), 1);
        assert_eq!(list.class_ids, vec![String::new()]);
        assert_eq!(list.items[0].path, PathBuf::from("q1.jpg"));
    }

    #[test]
    fn empty_or_missing_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = ImageFolder::new(dir.path()).load().expect_err("no images");
        assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
        let missing = dir.path().join("nope");
        let err = ImageFolder::new(&missing).load().expect_err("missing");
        assert!(matches!(err, DataError::MissingFile { .. }), "{err}");
    }
}
