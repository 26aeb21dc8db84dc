//! A sequence of transforms followed by normalisation: what the loader applies per image.

use burn::config::Config;
use image::RgbImage;

use super::normalize::NormTable;
use super::{Normalization, Transform};
use crate::error::{DataResult, invalid};
use crate::rng::SplitMix64;

/// Configuration of a [`Pipeline`]: the steps in order, then the normalisation.
#[derive(Config, Debug)]
pub struct PipelineConfig {
    /// The transforms, applied in order.
    pub steps: Vec<Transform>,
    /// How the final 8-bit image becomes floats.
    #[config(default = "Normalization::ImageNet")]
    pub normalization: Normalization,
}

impl PipelineConfig {
    /// The standard DML training augmentation: `RandomResizedCrop(size)` (scale 0.08-1,
    /// ratio 3/4-4/3), `RandomHorizontalFlip(0.5)`, ImageNet normalisation.
    pub fn train(size: usize) -> Self {
        Self::new(vec![
            Transform::random_resized_crop(size),
            Transform::HorizontalFlip { probability: 0.5 },
        ])
    }

    /// The standard DML evaluation transform: `Resize(resize)` (shorter side),
    /// `CenterCrop(crop)`, ImageNet normalisation (256 and 224 in most papers).
    pub fn eval(resize: usize, crop: usize) -> Self {
        Self::new(vec![Transform::Resize { size: resize }, Transform::CenterCrop { size: crop }])
    }

    /// Checks the configuration and builds the pipeline.
    pub fn init(&self) -> DataResult<Pipeline> {
        const C: &str = "PipelineConfig";
        for step in &self.steps {
            match *step {
                Transform::Resize { size }
                | Transform::CenterCrop { size }
                | Transform::RandomCrop { size }
                    if size == 0 =>
                {
                    return Err(invalid(C, "steps", "a resize or crop size is 0"));
                }
                Transform::ResizeExact { width, height } if width == 0 || height == 0 => {
                    return Err(invalid(
                        C,
                        "steps",
                        format!("exact resize to {width}x{height} has a zero side"),
                    ));
                }
                Transform::RandomResizedCrop { size, scale, ratio } => {
                    if size == 0 {
                        return Err(invalid(C, "steps", "random resized crop size is 0"));
                    }
                    if !(scale.0 > 0.0 && scale.0 <= scale.1 && scale.1.is_finite()) {
                        return Err(invalid(C, "steps", format!("bad crop scale range {scale:?}")));
                    }
                    if !(ratio.0 > 0.0 && ratio.0 <= ratio.1 && ratio.1.is_finite()) {
                        return Err(invalid(C, "steps", format!("bad crop ratio range {ratio:?}")));
                    }
                }
                Transform::HorizontalFlip { probability }
                    if !(0.0..=1.0).contains(&probability) =>
                {
                    return Err(invalid(C, "steps", "flip probability outside 0..=1"));
                }
                _ => {}
            }
        }
        if !self.normalization.is_valid() {
            return Err(invalid(C, "normalization", "non-finite mean or zero/non-finite std"));
        }
        Ok(Pipeline { steps: self.steps.clone(), table: self.normalization.table() })
    }
}

/// A built [`PipelineConfig`].
#[derive(Debug, Clone)]
pub struct Pipeline {
    steps: Vec<Transform>,
    table: NormTable,
}

impl Pipeline {
    /// Applies the transforms (drawing randomness from `rng`) and returns the 8-bit result.
    pub fn transform(&self, mut img: RgbImage, rng: &mut SplitMix64) -> RgbImage {
        for step in &self.steps {
            img = step.apply(img, rng);
        }
        img
    }

    /// Writes the normalised `img` into `out` as `[3, H, W]` (`out.len()` must be
    /// `3 * H * W`).
    pub fn normalize_into(&self, img: &RgbImage, out: &mut [f32]) {
        self.table.write_chw(img, out);
    }

    /// Transforms and normalises `img`, returning `([3, H, W] values, H, W)`.
    pub fn apply(&self, img: RgbImage, rng: &mut SplitMix64) -> (Vec<f32>, usize, usize) {
        let img = self.transform(img, rng);
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut out = vec![0.0; 3 * w * h];
        self.normalize_into(&img, &mut out);
        (out, h, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DataError;

    fn field_of(steps: Vec<Transform>) -> Option<&'static str> {
        match PipelineConfig::new(steps).init() {
            Err(DataError::InvalidConfig { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn zero_sizes_name_steps() {
        assert_eq!(field_of(vec![Transform::RandomCrop { size: 0 }]), Some("steps"));
        assert_eq!(field_of(vec![Transform::ResizeExact { width: 0, height: 4 }]), Some("steps"));
        assert_eq!(field_of(vec![Transform::ResizeExact { width: 4, height: 0 }]), Some("steps"));
        assert_eq!(field_of(vec![Transform::CenterCrop { size: 0 }]), Some("steps"));
        let seed = vec![
            Transform::ResizeExact { width: 256, height: 256 },
            Transform::RandomCrop { size: 224 },
            Transform::HorizontalFlip { probability: 0.5 },
        ];
        assert!(PipelineConfig::new(seed).init().is_ok());
    }
}
