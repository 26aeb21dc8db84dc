//! Input normalization each backbone's checkpoint expects.

use burn::config::Config;
use burn::tensor::Tensor;

use crate::{BackboneError, BackboneResult};

/// Maps images given as RGB (or gray) in `[0, 1]` to what a checkpoint was trained on:
/// optional channel reversal (RGB -> BGR), scaling, then per-channel `(x - mean) / std`.
#[derive(Config, Debug)]
pub struct InputNormalization {
    /// Reverse the channel order (RGB -> BGR) first.
    #[config(default = false)]
    pub bgr: bool,
    /// Multiply by this after the channel reversal (255 for 0-255 checkpoints).
    #[config(default = 1.0)]
    pub scale: f32,
    /// Per-channel mean, in the model's channel order and scale.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation, in the model's channel order and scale.
    pub std: Vec<f32>,
}

impl InputNormalization {
    /// torchvision ImageNet models (ResNet50): RGB in `[0, 1]`, mean `[0.485, 0.456, 0.406]`,
    /// std `[0.229, 0.224, 0.225]`.
    pub fn imagenet() -> Self {
        Self::new(vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225])
    }

    /// The BN-Inception checkpoint: BGR in `[0, 255]`, mean `[104, 117, 128]`, std 1.
    pub fn bn_inception() -> Self {
        Self::new(vec![104.0, 117.0, 128.0], vec![1.0, 1.0, 1.0]).with_bgr(true).with_scale(255.0)
    }

    /// Fashion-MNIST: gray in `[0, 1]`, mean 0.2860, std 0.3530.
    pub fn fashion_mnist() -> Self {
        Self::new(vec![0.2860], vec![0.3530])
    }

    /// Applies the normalization.
    ///
    /// # Shapes
    /// - input / output: `[batch, channels, height, width]`, `channels == mean.len()`
    ///
    /// # Errors
    /// [`BackboneError::InvalidInput`] when the channel count differs from `mean`/`std`.
    pub fn apply(&self, images: Tensor<4>) -> BackboneResult<Tensor<4>> {
        let [_, c, _, _] = images.dims();
        if c != self.mean.len() || c != self.std.len() {
            return Err(BackboneError::InvalidInput(format!(
                "{c} channels, but the normalization has {} means and {} stds",
                self.mean.len(),
                self.std.len()
            )));
        }
        let device = images.device();
        let x = if self.bgr { images.flip([1]) } else { images };
        let x = if self.scale != 1.0 { x.mul_scalar(self.scale) } else { x };
        let mean = Tensor::<1>::from_floats(self.mean.as_slice(), &device).reshape([1, c, 1, 1]);
        let std = Tensor::<1>::from_floats(self.std.as_slice(), &device).reshape([1, c, 1, 1]);
        Ok((x - mean) / std)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn bn_inception_input_is_bgr_0_255_minus_means() {
        // One red pixel: RGB (1, 0, 0) -> BGR (0, 0, 255) - (104, 117, 128).
        let rgb = Tensor::<1>::from_floats([1.0, 0.0, 0.0], &Device::flex()).reshape([1, 3, 1, 1]);
        let x = InputNormalization::bn_inception().apply(rgb).expect("3 channels");
        let v: Vec<f32> = x.into_data().try_to_vec().expect("f32");
        assert_eq!(v, vec![-104.0, -117.0, 127.0]);
    }

    #[test]
    fn channel_count_mismatch_is_an_error() {
        let gray = Tensor::<4>::zeros([1, 1, 2, 2], &Device::flex());
        let err = InputNormalization::imagenet().apply(gray);
        assert!(matches!(err, Err(BackboneError::InvalidInput(_))));
    }
}
