//! Per-query rank statistics: first same-label position (Recall@K, precision@1, reciprocal
//! rank).

/// Position (0-based) of the first neighbour with the query's label, if any.
///
/// # Shapes
/// `matches`: `[k]`, true where neighbour `c` has the query's label.
pub fn first_match(matches: &[bool]) -> Option<usize> {
    matches.iter().position(|&m| m)
}

/// Recall@K of one query (the DML "Recall@K" of Proxy-Anchor and most papers): 1 when at least
/// one of the first `k` neighbours has the query's label, else 0.
pub fn recall_at_k(first_match: Option<usize>, k: usize) -> f64 {
    match first_match {
        Some(p) if p < k => 1.0,
        _ => 0.0,
    }
}

/// Reciprocal rank of one query as PML computes it: `1 / (p + 1)` for the first same-label
/// position `p` among the retrieved neighbours, 0 when none of them matches.
pub fn reciprocal_rank(first_match: Option<usize>) -> f64 {
    first_match.map_or(0.0, |p| 1.0 / (p as f64 + 1.0))
}
