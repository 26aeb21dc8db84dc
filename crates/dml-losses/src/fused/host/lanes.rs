//! Loops over a row with one accumulator per lane, so that sums and maxima (whose order a
//! compiler may not change on its own) are vectorized like the element-wise work around them.

/// Accumulators per row pass; a multiple of every vector width in use (4, 8 or 16 floats).
pub(crate) const LANES: usize = 16;

/// Sums the two values `f(j, &mut row[j])` returns over the row (each entry may be rewritten).
#[inline(always)]
pub(crate) fn sum2<F: FnMut(usize, &mut f32) -> (f32, f32)>(
    row: &mut [f32],
    mut f: F,
) -> (f32, f32) {
    let mut a = [0f32; LANES];
    let mut b = [0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    let mut base = 0;
    for chunk in &mut chunks {
        for k in 0..LANES {
            let (x, y) = f(base + k, &mut chunk[k]);
            a[k] += x;
            b[k] += y;
        }
        base += LANES;
    }
    for (k, v) in chunks.into_remainder().iter_mut().enumerate() {
        let (x, y) = f(base + k, v);
        a[k] += x;
        b[k] += y;
    }
    (a.iter().sum(), b.iter().sum())
}

/// The maxima of the two values `f(j, row[j])` returns over the row (`-inf` for an empty row).
#[inline(always)]
pub(crate) fn max2<F: FnMut(usize, f32) -> (f32, f32)>(row: &[f32], mut f: F) -> (f32, f32) {
    let mut a = [f32::NEG_INFINITY; LANES];
    let mut b = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    let mut base = 0;
    for chunk in &mut chunks {
        for k in 0..LANES {
            let (x, y) = f(base + k, chunk[k]);
            a[k] = a[k].max(x);
            b[k] = b[k].max(y);
        }
        base += LANES;
    }
    for (k, &v) in chunks.remainder().iter().enumerate() {
        let (x, y) = f(base + k, v);
        a[k] = a[k].max(x);
        b[k] = b[k].max(y);
    }
    let fold = |v: [f32; LANES]| v.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    (fold(a), fold(b))
}

/// `log(e^-m + sum)` + `m`: the log-sum-exp of terms scaled by `e^-m`, with the extra `e^0` of
/// PML's `add_one` when `add_one` is set.
#[inline]
pub(crate) fn finish_lse(max: f32, scaled_sum: f32, add_one: bool) -> f64 {
    let m = max as f64;
    let extra = if add_one { (-m).exp() } else { 0.0 };
    m + (extra + scaled_sum as f64).ln()
}
