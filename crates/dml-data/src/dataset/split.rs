//! Which part of a dataset to read.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A dataset split. CUB-200-2011, Cars-196, SOP and the idx zero-shot split have `Train` and
/// `Test`; In-shop has `Train`, `Query` and `Gallery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Split {
    /// The training classes.
    Train,
    /// The held-out test classes (retrieval within the set).
    Test,
    /// In-shop's query images.
    Query,
    /// In-shop's gallery images.
    Gallery,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Split::Train => "train",
            Split::Test => "test",
            Split::Query => "query",
            Split::Gallery => "gallery",
        };
        f.write_str(s)
    }
}
