//! Antialiased bilinear resampling of a region of an 8-bit RGB image, following Pillow's
//! `Image.resize(size, BILINEAR, box)` (the filter torchvision applies to PIL images): a
//! triangle filter whose support widens with the downscaling factor, applied horizontally
//! then vertically, with rounding to 8 bits after each pass.

use image::RgbImage;

/// Per-output-pixel filter taps along one axis.
struct Taps {
    /// First input index of each output pixel.
    start: Vec<usize>,
    /// Number of taps of each output pixel.
    len: Vec<usize>,
    /// `ksize` weights per output pixel (the first `len` used), normalised to sum 1.
    weights: Vec<f32>,
    ksize: usize,
}

fn triangle(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// Pillow's `precompute_coeffs` for the bilinear filter.
fn taps(in_size: usize, in0: f64, in1: f64, out_size: usize) -> Taps {
    let scale = (in1 - in0) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let ss = 1.0 / filterscale;
    let mut t = Taps {
        start: Vec::with_capacity(out_size),
        len: Vec::with_capacity(out_size),
        weights: vec![0.0; out_size * ksize],
        ksize,
    };
    let mut k = vec![0.0f64; ksize];
    for xx in 0..out_size {
        let center = in0 + (xx as f64 + 0.5) * scale;
        let xmin = ((center - support + 0.5).trunc() as i64).max(0) as usize;
        let xmax = ((center + support + 0.5).trunc() as i64).min(in_size as i64).max(0) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut total = 0.0;
        for (x, w) in k.iter_mut().enumerate().take(n) {
            *w = triangle((x as f64 + xmin as f64 - center + 0.5) * ss);
            total += *w;
        }
        let row = &mut t.weights[xx * ksize..xx * ksize + n];
        for (dst, &w) in row.iter_mut().zip(&k) {
            *dst = if total != 0.0 { (w / total) as f32 } else { 0.0 };
        }
        t.start.push(xmin);
        t.len.push(n);
    }
    t
}

#[inline]
fn to_u8(v: f32) -> u8 {
    (v + 0.5).clamp(0.0, 255.0) as u8
}

/// Resamples the region `(x0, y0, x1, y1)` (pixels, `x1`/`y1` exclusive) of `img` to
/// `out_w x out_h`. The region must lie within the image and be non-empty; sizes must be
/// positive.
pub fn resize_region(
    img: &RgbImage,
    region: (f64, f64, f64, f64),
    out_w: usize,
    out_h: usize,
) -> RgbImage {
    let (in_w, in_h) = (img.width() as usize, img.height() as usize);
    let (x0, y0, x1, y1) = region;
    let src = img.as_raw();
    let h_taps = taps(in_w, x0, x1, out_w);
    let v_taps = taps(in_h, y0, y1, out_h);
    // Rows of the input the vertical pass needs.
    let row_lo = v_taps.start.first().copied().unwrap_or(0);
    let row_hi = v_taps
        .start
        .iter()
        .zip(&v_taps.len)
        .map(|(s, l)| s + l)
        .max()
        .unwrap_or(row_lo)
        .max(row_lo);
    let rows = row_hi - row_lo;
    // Horizontal pass: rows x out_w.
    let mut mid = vec![0u8; rows * out_w * 3];
    for r in 0..rows {
        let line = &src[(row_lo + r) * in_w * 3..(row_lo + r + 1) * in_w * 3];
        let out = &mut mid[r * out_w * 3..(r + 1) * out_w * 3];
        for xx in 0..out_w {
            let s = h_taps.start[xx];
            let w = &h_taps.weights[xx * h_taps.ksize..xx * h_taps.ksize + h_taps.len[xx]];
            let px = &line[s * 3..(s + w.len()) * 3];
            let (mut a, mut b, mut c) = (0.0f32, 0.0f32, 0.0f32);
            for (p, &wt) in px.chunks_exact(3).zip(w) {
                a += p[0] as f32 * wt;
                b += p[1] as f32 * wt;
                c += p[2] as f32 * wt;
            }
            out[xx * 3] = to_u8(a);
            out[xx * 3 + 1] = to_u8(b);
            out[xx * 3 + 2] = to_u8(c);
        }
    }
    // Vertical pass: out_h x out_w.
    let stride = out_w * 3;
    let mut dst = vec![0u8; out_h * stride];
    let mut acc = vec![0.0f32; stride];
    for yy in 0..out_h {
        let s = v_taps.start[yy] - row_lo;
        let w = &v_taps.weights[yy * v_taps.ksize..yy * v_taps.ksize + v_taps.len[yy]];
        acc.iter_mut().for_each(|v| *v = 0.0);
        for (k, &wt) in w.iter().enumerate() {
            let line = &mid[(s + k) * stride..(s + k + 1) * stride];
            for (a, &p) in acc.iter_mut().zip(line) {
                *a += p as f32 * wt;
            }
        }
        for (d, &a) in dst[yy * stride..(yy + 1) * stride].iter_mut().zip(&acc) {
            *d = to_u8(a);
        }
    }
    // The buffer has exactly out_w * out_h * 3 bytes, so from_raw cannot fail.
    RgbImage::from_raw(out_w as u32, out_h as u32, dst).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_constant_images_are_preserved() {
        let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 9]));
        let same = resize_region(&img, (0.0, 0.0, 7.0, 5.0), 7, 5);
        assert_eq!(same, img);
        let flat = RgbImage::from_pixel(40, 30, image::Rgb([10, 200, 77]));
        let small = resize_region(&flat, (3.0, 2.0, 37.0, 29.0), 9, 11);
        assert!(small.pixels().all(|p| p.0 == [10, 200, 77]));
    }

    #[test]
    fn downscale_by_two_averages_pixels() {
        // Scale 2: output pixel 0 is centred at 1.0 with support 2; taps x = 0, 1, 2 have
        // triangle((x - 0.5) / 2) = 0.75, 0.75, 0.25, normalised to 3/7, 3/7, 1/7.
        let img = RgbImage::from_fn(4, 1, |x, _| {
            let v = [0u8, 100, 200, 100][x as usize];
            image::Rgb([v, v, v])
        });
        let out = resize_region(&img, (0.0, 0.0, 4.0, 1.0), 2, 1);
        let expect0 = (0.0 * 3.0 + 100.0 * 3.0 + 200.0) / 7.0;
        assert_eq!(out.get_pixel(0, 0).0[0], (expect0 + 0.5) as u8);
    }
}
