//! The building blocks of the kernels' row passes, written so the compiler vectorizes them: the
//! row and its labels cut to one length and walked in chunks of [`LANES`] entries (no bounds
//! checks), with one accumulator per lane for sums and maxima (whose order a compiler may not
//! change on its own), and branch-free bodies. [`vectorized`] runs such a pass compiled for the
//! widest instruction set of the CPU (AVX-512, AVX2 with FMA, or the baseline), chosen at run
//! time by `pulp`, as `gemm` chooses its matrix kernels.

/// Accumulators per row pass; a multiple of every vector width in use (4, 8 or 16 floats).
pub(crate) const LANES: usize = 16;

/// Work whose loops should run on the widest vectors: `run` is inlined into a function
/// compiled for each instruction set.
pub(crate) trait Vectorized {
    /// What the work returns.
    type Output;
    /// The work (implementations mark it `#[inline(always)]`).
    fn run(self) -> Self::Output;
}

struct Dispatch<W>(W);

impl<W: Vectorized> pulp::WithSimd for Dispatch<W> {
    type Output = W::Output;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> W::Output {
        self.0.run()
    }
}

/// Runs `work` compiled for the best instruction set this CPU has.
#[inline]
pub(crate) fn vectorized<W: Vectorized>(work: W) -> W::Output {
    pulp::Arch::new().dispatch(Dispatch(work))
}

/// Sums the two values `f(j, &mut row[j], labels[j])` returns over the row (each entry may be
/// rewritten); `row` and `labels` have the same length.
#[inline(always)]
pub(crate) fn sum2<F: FnMut(usize, &mut f32, i32) -> (f32, f32)>(
    row: &mut [f32],
    labels: &[i32],
    mut f: F,
) -> (f32, f32) {
    let n = row.len().min(labels.len());
    let (row, labels) = (&mut row[..n], &labels[..n]);
    let mut a = [0f32; LANES];
    let mut b = [0f32; LANES];
    let mut rows = row.chunks_exact_mut(LANES);
    let mut labs = labels.chunks_exact(LANES);
    let mut base = 0;
    for (rv, lv) in (&mut rows).zip(&mut labs) {
        for k in 0..LANES {
            let (x, y) = f(base + k, &mut rv[k], lv[k]);
            a[k] += x;
            b[k] += y;
        }
        base += LANES;
    }
    for (k, (v, &l)) in rows.into_remainder().iter_mut().zip(labs.remainder()).enumerate() {
        let (x, y) = f(base + k, v, l);
        a[k] += x;
        b[k] += y;
    }
    (a.iter().sum(), b.iter().sum())
}

/// The maxima of the two values `f(j, row[j], labels[j])` returns over the row (`-inf` for
/// none).
#[inline(always)]
pub(crate) fn max2<F: FnMut(usize, f32, i32) -> (f32, f32)>(
    row: &[f32],
    labels: &[i32],
    mut f: F,
) -> (f32, f32) {
    let n = row.len().min(labels.len());
    let (row, labels) = (&row[..n], &labels[..n]);
    let mut a = [f32::NEG_INFINITY; LANES];
    let mut b = [f32::NEG_INFINITY; LANES];
    let mut rows = row.chunks_exact(LANES);
    let mut labs = labels.chunks_exact(LANES);
    let mut base = 0;
    for (rv, lv) in (&mut rows).zip(&mut labs) {
        for k in 0..LANES {
            let (x, y) = f(base + k, rv[k], lv[k]);
            a[k] = if x > a[k] { x } else { a[k] };
            b[k] = if y > b[k] { y } else { b[k] };
        }
        base += LANES;
    }
    for (k, (&v, &l)) in rows.remainder().iter().zip(labs.remainder()).enumerate() {
        let (x, y) = f(base + k, v, l);
        a[k] = if x > a[k] { x } else { a[k] };
        b[k] = if y > b[k] { y } else { b[k] };
    }
    let fold =
        |v: [f32; LANES]| v.iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    (fold(a), fold(b))
}

/// Rewrites every entry: `row[j] = f(j, row[j], labels[j])`.
#[inline(always)]
pub(crate) fn map<F: FnMut(usize, f32, i32) -> f32>(row: &mut [f32], labels: &[i32], mut f: F) {
    let n = row.len().min(labels.len());
    let (row, labels) = (&mut row[..n], &labels[..n]);
    for (j, (v, &l)) in row.iter_mut().zip(labels).enumerate() {
        *v = f(j, *v, l);
    }
}

/// `log(e^-m + sum)` + `m`: the log-sum-exp of terms scaled by `e^-m`, with the extra `e^0` of
/// PML's `add_one` when `add_one` is set.
#[inline]
pub(crate) fn finish_lse(max: f32, scaled_sum: f32, add_one: bool) -> f64 {
    let m = max as f64;
    let extra = if add_one { (-m).exp() } else { 0.0 };
    m + (extra + scaled_sum as f64).ln()
}

/// [`sum2`] with a third, per-entry float array `aux` (same length): `f(j, &mut row[j],
/// labels[j], aux[j])`.
#[inline(always)]
pub(crate) fn sum2_aux<F: FnMut(usize, &mut f32, i32, f32) -> (f32, f32)>(
    row: &mut [f32],
    labels: &[i32],
    aux: &[f32],
    mut f: F,
) -> (f32, f32) {
    let n = row.len().min(labels.len()).min(aux.len());
    let (row, labels, aux) = (&mut row[..n], &labels[..n], &aux[..n]);
    let mut a = [0f32; LANES];
    let mut b = [0f32; LANES];
    let mut rows = row.chunks_exact_mut(LANES);
    let mut labs = labels.chunks_exact(LANES);
    let mut auxs = aux.chunks_exact(LANES);
    let mut base = 0;
    for ((rv, lv), xv) in (&mut rows).zip(&mut labs).zip(&mut auxs) {
        for k in 0..LANES {
            let (x, y) = f(base + k, &mut rv[k], lv[k], xv[k]);
            a[k] += x;
            b[k] += y;
        }
        base += LANES;
    }
    let rest = rows.into_remainder().iter_mut().zip(labs.remainder()).zip(auxs.remainder());
    for (k, ((v, &l), &x)) in rest.enumerate() {
        let (p, q) = f(base + k, v, l, x);
        a[k] += p;
        b[k] += q;
    }
    (a.iter().sum(), b.iter().sum())
}

/// [`map`] with a third, per-entry float array `aux` (same length).
#[inline(always)]
pub(crate) fn map_aux<F: FnMut(usize, f32, i32, f32) -> f32>(
    row: &mut [f32],
    labels: &[i32],
    aux: &[f32],
    mut f: F,
) {
    let n = row.len().min(labels.len()).min(aux.len());
    let (row, labels, aux) = (&mut row[..n], &labels[..n], &aux[..n]);
    for (j, ((v, &l), &x)) in row.iter_mut().zip(labels).zip(aux).enumerate() {
        *v = f(j, *v, l, x);
    }
}

/// `sum_k a_k b_k` with one accumulator per lane.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let mut ac = a.chunks_exact(LANES);
    let mut bc = b.chunks_exact(LANES);
    for (x, y) in (&mut ac).zip(&mut bc) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    for (k, (x, y)) in ac.remainder().iter().zip(bc.remainder()).enumerate() {
        acc[k] += x * y;
    }
    acc.iter().sum()
}
