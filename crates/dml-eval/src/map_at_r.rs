//! R-precision and average precision at R (MAP@R, Musgrave et al. 2020, "A Metric Learning
//! Reality Check"), with PML's AccuracyCalculator definitions.

/// R-precision of one query: the fraction of the first `min(R, k)` neighbours that have the
/// query's label, where `R` is the number of references with that label (excluding the query
/// itself in self-retrieval). PML divides by `min(R, k)`, the width of its relevance mask.
///
/// # Shapes
/// `matches`: `[k]`.
pub fn r_precision(matches: &[bool], r: usize) -> f64 {
    let width = r.min(matches.len());
    if width == 0 {
        return 0.0;
    }
    matches[..width].iter().filter(|&&m| m).count() as f64 / width as f64
}

/// Average precision at R of one query: `(1/R) * sum_{i <= R, match_i} P@i`, where `P@i` is the
/// fraction of the first `i` neighbours with the query's label. Positions beyond the `k`
/// retrieved neighbours count as misses (PML divides by `R` even when `k < R`).
///
/// # Shapes
/// `matches`: `[k]`.
pub fn average_precision_at_r(matches: &[bool], r: usize) -> f64 {
    if r == 0 {
        return 0.0;
    }
    let mut correct = 0usize;
    let mut sum = 0.0;
    for (i, _) in matches.iter().take(r).enumerate().filter(|(_, m)| **m) {
        correct += 1;
        sum += correct as f64 / (i + 1) as f64;
    }
    sum / r as f64
}
