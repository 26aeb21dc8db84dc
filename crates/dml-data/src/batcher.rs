//! Batches on the host and on a Burn device.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::{DataError, DataResult};

/// A batch on a Burn device.
///
/// # Shapes
/// - `images`: `[B, 3, H, W]`
/// - `labels`: `[B]`
#[derive(Debug, Clone)]
pub struct ImageBatch {
    /// The normalised images.
    pub images: Tensor<4>,
    /// The labels, in `0..num_classes`.
    pub labels: Tensor<1, Int>,
    /// The same labels as host values, so a consumer can check them without reading the device
    /// back.
    pub host_labels: Vec<i64>,
    /// The dataset index of each image.
    pub indices: Vec<usize>,
}

/// A batch in host memory, as the loader's workers produce it.
///
/// # Shapes
/// - `images`: `B * 3 * H * W` values, `[B, 3, H, W]` row-major
/// - `labels`, `indices`: `B` values
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// The normalised images, `[B, 3, H, W]` row-major.
    pub images: Vec<f32>,
    /// `[B, 3, H, W]`.
    pub shape: [usize; 4],
    /// The labels.
    pub labels: Vec<i64>,
    /// The dataset index of each image.
    pub indices: Vec<usize>,
    /// Images that failed to decode and were skipped (their descriptions), when the loader
    /// skips undecodable images.
    pub skipped: Vec<String>,
}

impl HostBatch {
    /// Stacks processed images (each `[3, H, W]` with the same `H`, `W`).
    pub fn stack(images: Vec<ProcessedImage>) -> DataResult<Self> {
        let (h, w) = images.first().map_or((0, 0), |i| (i.height, i.width));
        let mut out = HostBatch {
            images: Vec::with_capacity(images.len() * 3 * h * w),
            shape: [images.len(), 3, h, w],
            labels: Vec::with_capacity(images.len()),
            indices: Vec::with_capacity(images.len()),
            skipped: Vec::new(),
        };
        for img in images {
            if (img.height, img.width) != (h, w) || img.pixels.len() != 3 * h * w {
                return Err(DataError::InvalidConfig {
                    component: "HostBatch",
                    field: "images",
                    reason: format!(
                        "image {} is {}x{}, the batch's first is {h}x{w}: end the pipeline \
                         with a crop to a fixed size",
                        img.index, img.height, img.width
                    ),
                });
            }
            out.images.extend_from_slice(&img.pixels);
            out.labels.push(img.label as i64);
            out.indices.push(img.index);
        }
        Ok(out)
    }

    /// Moves the batch to `device`.
    pub fn to_device(self, device: &Device) -> ImageBatch {
        let b = self.shape[0];
        ImageBatch {
            images: Tensor::from_data(TensorData::new(self.images, self.shape), device),
            labels: Tensor::from_data(TensorData::new(self.labels.clone(), [b]), device),
            host_labels: self.labels,
            indices: self.indices,
        }
    }
}

/// One transformed, normalised image.
///
/// # Shapes
/// - `pixels`: `[3, height, width]` row-major
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedImage {
    /// The normalised values.
    pub pixels: Vec<f32>,
    /// Height after the transforms.
    pub height: usize,
    /// Width after the transforms.
    pub width: usize,
    /// The label.
    pub label: usize,
    /// The dataset index.
    pub index: usize,
}
