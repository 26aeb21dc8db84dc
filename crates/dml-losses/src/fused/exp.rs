//! A branch-free `exp` for the fused kernels' inner loops.
//!
//! `f32::exp` is a call into the C library, one element at a time; the kernels evaluate one
//! exponential per matrix entry (11.6 million for ProxyAnchor with SOP's classes at N = 1024), so
//! they use this version instead, which the compiler vectorizes together with the rest of the
//! loop: range reduction `x = k ln 2 + r` with `|r| <= ln 2 / 2`, a degree-6 polynomial for
//! `e^r` (Taylor coefficients, relative error below 2e-7 on that interval), and `2^k` assembled
//! from its exponent bits. Inputs are clamped to `[-87.33, 88.7]`: below, the result is about
//! the smallest normal float (1.18e-38, just above `f32::MIN_POSITIVE`) instead of 0, which the
//! kernels only ever multiply by a zero mask or add to much larger terms.

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split in a high part with trailing zero bits (exact `k * LN2_HI` for |k| < 2^8) and
/// the rest, as in Cody and Waite's range reduction.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding and subtracting it rounds a float of magnitude < 2^22 to the nearest
/// integer (ties to even), without a rounding instruction the baseline target may lack.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `e^x` to within 2 float32 roundings for `x` in `[-87.33, 88.7]`; the bounds otherwise.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.33, 88.7);
    let k = (x * LOG2_E + ROUND_MAGIC) - ROUND_MAGIC;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^k as two normal factors 2^(k >> 1) 2^(k - (k >> 1)): k reaches 128 near the upper
    // bound (x > 127.5 ln 2), where one factor's exponent field would be 255 (infinity), and
    // -126 near the lower bound, where halving it in one factor would give 0.
    let k = k as i32;
    let half = k >> 1;
    let scale_a = f32::from_bits(((half + 127) as u32) << 23);
    let scale_b = f32::from_bits(((k - half + 127) as u32) << 23);
    p * scale_a * scale_b
}

#[cfg(test)]
mod tests {
    use super::exp;

    #[test]
    fn agrees_with_the_library_exp_to_float32_rounding() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.5 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_3;
        }
        assert!(worst < 4e-7, "largest relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1.2e-38);
        assert!(exp(1000.0).is_finite());
    }
}
