//! Conversion of an 8-bit RGB image to a normalised `[3, H, W]` float array.

use image::RgbImage;
use serde::{Deserialize, Serialize};

/// How pixels become network inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Normalization {
    /// torchvision's `ToTensor()` + `Normalize(mean=[0.485, 0.456, 0.406], std=[0.229,
    /// 0.224, 0.225])`: RGB order, values scaled to 0-1 then standardised.
    ImageNet,
    /// BN-Inception's input (Cadene's `pretrainedmodels`): BGR channel order, values in 0-255,
    /// minus the per-channel means B = 104, G = 117, R = 128, no scaling.
    BnInception,
    /// RGB scaled to 0-1, nothing else (`ToTensor()` alone).
    Unit,
    /// `(value * scale - mean[c]) / std[c]` for output channel `c`, in BGR order when `bgr`.
    Custom {
        /// Multiplier applied to the 0-255 value first (1/255 for 0-1 inputs).
        scale: f32,
        /// Per-output-channel mean.
        mean: [f32; 3],
        /// Per-output-channel standard deviation.
        std: [f32; 3],
        /// Whether output channel 0 is blue (BGR order).
        bgr: bool,
    },
}

impl Normalization {
    /// `(scale, mean, std, bgr)` of this normalisation.
    fn params(&self) -> (f32, [f32; 3], [f32; 3], bool) {
        match self {
            Normalization::ImageNet => {
                (1.0 / 255.0, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], false)
            }
            Normalization::BnInception => (1.0, [104.0, 117.0, 128.0], [1.0; 3], true),
            Normalization::Unit => (1.0 / 255.0, [0.0; 3], [1.0; 3], false),
            Normalization::Custom { scale, mean, std, bgr } => (*scale, *mean, *std, *bgr),
        }
    }

    /// A lookup table: `lut[c][v]` is output channel `c` for source byte `v`, and the source
    /// channel of each output channel.
    pub(crate) fn table(&self) -> NormTable {
        let (scale, mean, std, bgr) = self.params();
        let mut lut = [[0.0f32; 256]; 3];
        for (c, row) in lut.iter_mut().enumerate() {
            for (v, out) in row.iter_mut().enumerate() {
                *out = (v as f32 * scale - mean[c]) / std[c];
            }
        }
        NormTable { lut, source: if bgr { [2, 1, 0] } else { [0, 1, 2] } }
    }

    /// Whether every standard deviation is finite and non-zero.
    pub(crate) fn is_valid(&self) -> bool {
        let (scale, mean, std, _) = self.params();
        scale.is_finite()
            && mean.iter().all(|m| m.is_finite())
            && std.iter().all(|s| s.is_finite() && *s != 0.0)
    }
}

/// A precomputed [`Normalization`].
#[derive(Debug, Clone)]
pub(crate) struct NormTable {
    lut: [[f32; 256]; 3],
    source: [usize; 3],
}

impl NormTable {
    /// Writes `img` as `[3, H, W]` into `out` (length `3 * H * W`).
    pub(crate) fn write_chw(&self, img: &RgbImage, out: &mut [f32]) {
        let plane = img.width() as usize * img.height() as usize;
        let raw = img.as_raw();
        for c in 0..3 {
            let lut = &self.lut[c];
            let s = self.source[c];
            for (dst, px) in out[c * plane..(c + 1) * plane].iter_mut().zip(raw.chunks_exact(3)) {
                *dst = lut[px[s] as usize];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagenet_and_bn_inception_values() {
        let img = RgbImage::from_pixel(1, 1, image::Rgb([255, 0, 128]));
        let mut out = [0.0f32; 3];
        Normalization::ImageNet.table().write_chw(&img, &mut out);
        assert!((out[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
        assert!((out[1] - (0.0 - 0.456) / 0.224).abs() < 1e-5);
        Normalization::BnInception.table().write_chw(&img, &mut out);
        // BGR: blue first.
        assert_eq!(out, [128.0 - 104.0, 0.0 - 117.0, 255.0 - 128.0]);
    }
}
