//! A safe wrapper around the `gemm` crate's (unsafe, pointer-based) matrix product; the one
//! place in the crate that uses `unsafe`.
#![allow(unsafe_code)]

/// `out[m, n] = a[m, d] . b[n, d]^T`, all row-major, single-threaded (the caller parallelises
/// over blocks).
///
/// # Shapes
/// `a`: `[m * d]`, `b`: `[n * d]`, `out`: `[m * n]`.
///
/// # Panics
/// If a slice is shorter than its shape says (checked before the kernel runs).
pub fn matmul_abt(a: &[f32], b: &[f32], out: &mut [f32], m: usize, n: usize, d: usize) {
    assert!(a.len() >= m * d && b.len() >= n * d && out.len() >= m * n, "gemm shape mismatch");
    if m == 0 || n == 0 {
        return;
    }
    if d == 0 {
        out[..m * n].fill(0.0);
        return;
    }
    // SAFETY: the assertion above guarantees that every element addressed by the strides below
    // lies inside its slice: `a` is read at `i * d + p` (i < m, p < d), `b` at `j * d + p`
    // (j < n), `out` written at `i * n + j`. `out` is borrowed mutably, so it aliases neither
    // input. `read_dst = false`, so `out` need not be initialised with meaningful values.
    unsafe {
        gemm::gemm(
            m,
            n,
            d,
            out.as_mut_ptr(),
            1,          // dst column stride
            n as isize, // dst row stride
            false,
            a.as_ptr(),
            1,          // lhs column stride
            d as isize, // lhs row stride
            b.as_ptr(),
            d as isize, // rhs column stride: column j of b^T is row j of b
            1,          // rhs row stride
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::matmul_abt;

    #[test]
    fn matmul_abt_matches_naive_product() {
        let (m, n, d) = (5, 7, 3);
        let a: Vec<f32> = (0..m * d).map(|v| v as f32 * 0.5 - 2.0).collect();
        let b: Vec<f32> = (0..n * d).map(|v| (v as f32 * 0.25).sin()).collect();
        let mut out = vec![f32::NAN; m * n];
        matmul_abt(&a, &b, &mut out, m, n, d);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..d).map(|p| a[i * d + p] * b[j * d + p]).sum();
                assert!((out[i * n + j] - want).abs() < 1e-5, "({i}, {j})");
            }
        }
    }
}
