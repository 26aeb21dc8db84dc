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
    /// `Resize((height, width))`: scales the image to exactly `width x height`, ignoring the
    /// aspect ratio (a "squash"), with the same antialiased bilinear filtering as
    /// [`Transform::Resize`].
    ResizeExact {
        /// Output width.
        width: usize,
        /// Output height.
        height: usize,
    },
    /// `CenterCrop(size)`: the central `size x size` region (zero-padded when the image is
    /// smaller).
    CenterCrop {
        /// Side of the square output.
        size: usize,
    },
    /// `RandomCrop(size)` without padding: a uniformly random `size x size` window. The top
    /// offset is drawn first, uniform in `0..=height - size`, then the left offset, uniform
    /// in `0..=width - size`. In a dimension where the image is smaller than `size` the offset
    /// is 0 (nothing is drawn for it) and the window is zero-padded on the bottom (height) or
    /// right (width); torchvision would raise an error there instead.
    RandomCrop {
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
            Transform::ResizeExact { width, height } => resize_exact(&img, width, height),
            Transform::CenterCrop { size } => center_crop(&img, size),
            Transform::RandomCrop { size } => {
                let top = rng.below((img.height() as usize).saturating_sub(size) + 1);
                let left = rng.below((img.width() as usize).saturating_sub(size) + 1);
                crop_padded(&img, left as i64, top as i64, size)
            }
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

/// Resizes to exactly `width x height` (torchvision's `Resize((height, width))`).
fn resize_exact(img: &RgbImage, width: usize, height: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if (width, height) == (w, h) {
        return img.clone();
    }
    resize_region(img, (0.0, 0.0, w as f64, h as f64), width.max(1), height.max(1))
}

/// torchvision's `CenterCrop(size)`, zero-padding images smaller than the crop.
fn center_crop(img: &RgbImage, size: usize) -> RgbImage {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let s = size as i64;
    crop_padded(img, center_offset(w, s), center_offset(h, s), size)
}

/// The offset of a centred crop of length `crop` from an axis of length `len`, as torchvision
/// computes it: when the crop is longer, the axis is first padded by `(crop - len) / 2`
/// (rounded down) before it (the rest after), so the offset is minus that; otherwise it is
/// `(len - crop) / 2` rounded half to even (Python's `round`).
fn center_offset(len: i64, crop: i64) -> i64 {
    if crop > len {
        -((crop - len) / 2)
    } else {
        let d = len - crop;
        // d / 2 is a half exactly when d is odd; Python rounds it to the even neighbour.
        let q = d / 2;
        if d % 2 == 1 && q % 2 == 1 { q + 1 } else { q }
    }
}

/// The `size x size` window of `img` whose top-left corner is `(left, top)` (possibly
/// negative or reaching past the image), zero outside the image.
fn crop_padded(img: &RgbImage, left: i64, top: i64, size: usize) -> RgbImage {
    let (w, h) = (img.width() as i64, img.height() as i64);
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

    /// An image whose pixel `(x, y)` holds `[x, y, 7]`.
    fn coords(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]))
    }

    #[test]
    fn center_crop_offsets_round_half_to_even_like_torchvision() {
        // torchvision: int(round((len - crop) / 2.0)) with Python's round; padding
        // (crop - len) // 2 before, the rest after.
        for (len, offset) in [(5u32, 0u8), (6, 1), (7, 2), (8, 2), (9, 2), (11, 4)] {
            let c =
                Transform::CenterCrop { size: 4 }.apply(coords(len, 4), &mut SplitMix64::new(0));
            assert_eq!(c.get_pixel(0, 0).0, [offset, 0, 7], "width {len}");
        }
        let c = Transform::CenterCrop { size: 6 }.apply(coords(3, 6), &mut SplitMix64::new(0));
        assert_eq!(c.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(c.get_pixel(1, 0).0, [0, 0, 7]);
        assert_eq!(c.get_pixel(3, 5).0, [2, 5, 7]);
        assert_eq!(c.get_pixel(4, 0).0, [0, 0, 0]);
    }

    #[test]
    fn resize_exact_squashes_and_agrees_with_resize_on_squares() {
        let square = RgbImage::from_fn(30, 30, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, ((x * y) % 256) as u8])
        });
        for size in [7, 17, 30, 45] {
            let exact = Transform::ResizeExact { width: size, height: size }
                .apply(square.clone(), &mut SplitMix64::new(0));
            let short = Transform::Resize { size }.apply(square.clone(), &mut SplitMix64::new(0));
            assert_eq!(exact, short, "size {size}");
        }
        let wide = coords(40, 20);
        let s =
            Transform::ResizeExact { width: 10, height: 15 }.apply(wide, &mut SplitMix64::new(0));
        assert_eq!(s.dimensions(), (10, 15));
    }

    #[test]
    fn resize_exact_hand_computed_downscale() {
        // 4x2 -> 2x1. Horizontal taps (scale 2, support 2): out 0 weights 3/7, 3/7, 1/7 on
        // x = 0, 1, 2; out 1 weights 1/7, 3/7, 3/7 on x = 1, 2, 3. Row 0 [0, 100, 200, 100]
        // -> 500/7 = 71.4 -> 71 and 1000/7 = 142.9 -> 143; row 1 (all 50) -> 50, 50.
        // Vertical: both rows weigh 1/2: (71 + 50) / 2 = 60.5 -> 61, (143 + 50) / 2 = 96.5
        // -> 97 (Pillow rounds halves up).
        let img = RgbImage::from_fn(4, 2, |x, y| {
            let v = if y == 0 { [0u8, 100, 200, 100][x as usize] } else { 50 };
            image::Rgb([v, v, v])
        });
        let out =
            Transform::ResizeExact { width: 2, height: 1 }.apply(img, &mut SplitMix64::new(0));
        assert_eq!(out.dimensions(), (2, 1));
        assert_eq!(out.get_pixel(0, 0).0, [61; 3]);
        assert_eq!(out.get_pixel(1, 0).0, [97; 3]);
    }

    #[test]
    fn random_crop_is_a_uniform_window_and_pads_small_images() {
        let img = coords(9, 6);
        // 7 left x 4 top offsets, each ~1/28 of the draws; every crop is an exact window.
        let mut rng = SplitMix64::new(11);
        let mut grid = vec![0usize; 28];
        for _ in 0..5600 {
            let c = Transform::RandomCrop { size: 3 }.apply(img.clone(), &mut rng);
            assert_eq!(c.dimensions(), (3, 3));
            let [left, top, _] = c.get_pixel(0, 0).0;
            for (x, y, p) in c.enumerate_pixels() {
                assert_eq!(p.0, [left + x as u8, top + y as u8, 7]);
            }
            grid[left as usize * 4 + top as usize] += 1;
        }
        assert!(grid.iter().all(|&c| (130..270).contains(&c)), "{grid:?}");
        // Same rng state, same crop.
        let a = Transform::RandomCrop { size: 3 }.apply(img.clone(), &mut SplitMix64::new(4));
        let b = Transform::RandomCrop { size: 3 }.apply(img, &mut SplitMix64::new(4));
        assert_eq!(a, b);
        // 5x3 image, crop 4: the height is padded at the bottom, the left offset is 0 or 1.
        let small = coords(5, 3);
        let mut lefts = [0usize; 2];
        let mut rng = SplitMix64::new(2);
        for _ in 0..200 {
            let c = Transform::RandomCrop { size: 4 }.apply(small.clone(), &mut rng);
            let [left, top, _] = c.get_pixel(0, 0).0;
            assert_eq!(top, 0);
            lefts[left as usize] += 1;
            assert_eq!(c.get_pixel(3, 2).0, [left + 3, 2, 7]);
            assert!((0..4).all(|x| c.get_pixel(x, 3).0 == [0, 0, 0]));
        }
        assert!(lefts.iter().all(|&c| c > 50), "{lefts:?}");
        // Smaller in both dimensions: the image at the top left, zeros right and bottom.
        let c = Transform::RandomCrop { size: 4 }.apply(coords(2, 3), &mut SplitMix64::new(0));
        assert_eq!(c.get_pixel(1, 2).0, [1, 2, 7]);
        assert_eq!(c.get_pixel(2, 0).0, [0, 0, 0]);
        assert_eq!(c.get_pixel(0, 3).0, [0, 0, 0]);
    }
}
