//! The individual augmentation steps.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::resample::resize_region;
use crate::rng::SplitMix64;

/// One image transformation, applied to 8-bit RGB images (torchvision semantics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Transform {
    /// `Resize(size)`: scales the image so its shorter side is `size`, keeping the aspect
    /// ratio (the longer side is truncated, as torchvision does), with antialiased bilinear
    /// filtering.
    Resize {
        /// The target length of the shorter side.
        size: usize,
    },
    /// `CenterCrop(size)`: the central `size x size` region (zero-padded when the image is
    /// smaller).
    CenterCrop {
        /// Side of the square output.
        size: usize,
    },
    /// `RandomResizedCrop(size, scale, ratio)`: a random region covering a `scale` fraction of
    /// the area with aspect ratio (log-uniform) in `ratio`, resized to `size x size`; after 10
    /// failed draws, the central crop with the ratio clamped to `ratio`.
    RandomResizedCrop {
        /// Side of the square output.
        size: usize,
        /// Area fraction range, usually (0.08, 1.0).
        scale: (f64, f64),
        /// Aspect-ratio (width / height) range, usually (3/4, 4/3).
        ratio: (f64, f64),
    },
    /// `RandomHorizontalFlip(p)`: mirrors the image with probability `probability`.
    HorizontalFlip {
        /// Probability of flipping.
        probability: f64,
    },
}

impl Transform {
    /// torchvision's default random resized crop to `size` (scale 0.08-1, ratio 3/4-4/3).
    pub fn random_resized_crop(size: usize) -> Self {
        Transform::RandomResizedCrop { size, scale: (0.08, 1.0), ratio: (3.0 / 4.0, 4.0 / 3.0) }
    }

    /// Applies the step, drawing any randomness from `rng`.
    pub fn apply(&self, img: RgbImage, rng: &mut SplitMix64) -> RgbImage {
        match *self {
            Transform::Resize { size } => resize_short_side(&img, size),
            Transform::CenterCrop { size } => center_crop(&img, size),
            Transform::RandomResizedCrop { size, scale, ratio } => {
                let (x, y, w, h) = random_resized_crop_box(
                    img.width() as usize,
                    img.height() as usize,
                    scale,
                    ratio,
                    rng,
                );
                resize_region(
                    &img,
                    (x as f64, y as f64, (x + w) as f64, (y + h) as f64),
                    size,
                    size,
                )
            }
            Transform::HorizontalFlip { probability } => {
                if rng.next_f64() < probability {
                    image::imageops::flip_horizontal(&img)
                } else {
                    img
                }
            }
        }
    }
}

/// Resizes so the shorter side is `size` (torchvision's `Resize(int)`).
fn resize_short_side(img: &RgbImage, size: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (ow, oh) = if w <= h {
        (size, (size as f64 * h as f64 / w as f64) as usize)
    } else {
        ((size as f64 * w as f64 / h as f64) as usize, size)
    };
    if (ow, oh) == (w, h) {
        return img.clone();
    }
    resize_region(img, (0.0, 0.0, w as f64, h as f64), ow.max(1), oh.max(1))
}

/// torchvision's `CenterCrop(size)`, zero-padding images smaller than the crop.
fn center_crop(img: &RgbImage, size: usize) -> RgbImage {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let s = size as i64;
    let top = ((h - s) as f64 / 2.0).round() as i64;
    let left = ((w - s) as f64 / 2.0).round() as i64;
    RgbImage::from_fn(size as u32, size as u32, |x, y| {
        let (sx, sy) = (x as i64 + left, y as i64 + top);
        if (0..w).contains(&sx) && (0..h).contains(&sy) {
            *img.get_pixel(sx as u32, sy as u32)
        } else {
            image::Rgb([0, 0, 0])
        }
    })
}

/// torchvision's `RandomResizedCrop.get_params`: `(left, top, width, height)`.
pub(crate) fn random_resized_crop_box(
    width: usize,
    height: usize,
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut SplitMix64,
) -> (usize, usize, usize, usize) {
    let area = (width * height) as f64;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * rng.uniform(scale.0, scale.1);
        let aspect = rng.uniform(log_lo, log_hi).exp();
        let w = (target * aspect).sqrt().round() as usize;
        let h = (target / aspect).sqrt().round() as usize;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = rng.below(height - h + 1);
            let left = rng.below(width - w + 1);
            return (left, top, w, h);
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (w, h) = if in_ratio < ratio.0.min(ratio.1) {
        (width, ((width as f64 / ratio.0.min(ratio.1)).round() as usize).clamp(1, height))
    } else if in_ratio > ratio.0.max(ratio.1) {
        (((height as f64 * ratio.0.max(ratio.1)).round() as usize).clamp(1, width), height)
    } else {
        (width, height)
    };
    ((width - w) / 2, (height - h) / 2, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_resized_crop_box_respects_bounds_and_scale() {
        let mut rng = SplitMix64::new(1);
        for _ in 0..2000 {
            let (x, y, w, h) =
                random_resized_crop_box(500, 375, (0.08, 1.0), (0.75, 4.0 / 3.0), &mut rng);
            assert!(x + w <= 500 && y + h <= 375 && w > 0 && h > 0);
            let frac = (w * h) as f64 / (500.0 * 375.0);
            assert!(frac > 0.07 && frac <= 1.0, "{frac}");
        }
    }

    #[test]
    fn resize_center_crop_and_flip_shapes() {
        let img = RgbImage::from_fn(40, 20, |x, _| image::Rgb([x as u8, 0, 0]));
        let r = Transform::Resize { size: 10 }.apply(img.clone(), &mut SplitMix64::new(0));
        assert_eq!(r.dimensions(), (20, 10));
        let c = Transform::CenterCrop { size: 8 }.apply(r, &mut SplitMix64::new(0));
        assert_eq!(c.dimensions(), (8, 8));
        let f = Transform::HorizontalFlip { probability: 1.0 }
            .apply(img.clone(), &mut SplitMix64::new(0));
        assert_eq!(f.get_pixel(0, 0).0[0], 39);
        let padded = Transform::CenterCrop { size: 30 }.apply(img, &mut SplitMix64::new(0));
        assert_eq!(padded.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(padded.get_pixel(15, 15).0[0], 20);
    }
}
