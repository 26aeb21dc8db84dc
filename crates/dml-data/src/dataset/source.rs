//! The interface the samplers and the loader read datasets through.

use image::RgbImage;

use crate::error::DataResult;

/// A labelled collection of images that can be decoded by index from any thread.
///
/// Labels are remapped to `0..num_classes()`; each reader documents its order.
pub trait ImageSource: Send + Sync {
    /// The number of images.
    fn len(&self) -> usize;

    /// Whether the source has no images.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label of every image, in index order (each in `0..num_classes()`).
    fn labels(&self) -> &[usize];

    /// The number of classes.
    fn num_classes(&self) -> usize;

    /// Decodes image `index` to 8-bit RGB (grey images are replicated to three channels).
    fn load(&self, index: usize) -> DataResult<RgbImage>;

    /// A human-readable name for image `index` (its path for file-backed sources), used in
    /// errors and in the list of skipped images.
    fn describe(&self, index: usize) -> String;
}
