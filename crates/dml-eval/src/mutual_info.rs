//! Normalised and adjusted mutual information between two labellings, as scikit-learn computes
//! them (`normalized_mutual_info_score`, `adjusted_mutual_info_score` with the default
//! `average_method="arithmetic"`), natural logarithms.

use std::collections::HashMap;

use crate::error::{EvalError, EvalResult};

/// Contingency table of two labellings: row sums `a` (classes), column sums `b` (clusters) and
/// the non-zero cells.
struct Contingency {
    n: usize,
    a: Vec<usize>,
    b: Vec<usize>,
    cells: Vec<(usize, usize, usize)>,
}

impl Contingency {
    fn new(labels_true: &[i64], labels_pred: &[i64]) -> Self {
        fn dense(labels: &[i64]) -> (Vec<usize>, usize) {
            let mut ids: HashMap<i64, usize> = HashMap::new();
            let out = labels
                .iter()
                .map(|l| {
                    let next = ids.len();
                    *ids.entry(*l).or_insert(next)
                })
                .collect();
            (out, ids.len())
        }
        let (t, nt) = dense(labels_true);
        let (p, np) = dense(labels_pred);
        let mut a = vec![0; nt];
        let mut b = vec![0; np];
        let mut cells: HashMap<(usize, usize), usize> = HashMap::new();
        for (&i, &j) in t.iter().zip(&p) {
            a[i] += 1;
            b[j] += 1;
            *cells.entry((i, j)).or_default() += 1;
        }
        let cells = cells.into_iter().map(|((i, j), c)| (i, j, c)).collect();
        Self { n: labels_true.len(), a, b, cells }
    }

    fn mutual_info(&self) -> f64 {
        let n = self.n as f64;
        let mi: f64 = self
            .cells
            .iter()
            .map(|&(i, j, c)| {
                let c = c as f64;
                (c / n) * ((c * n) / (self.a[i] as f64 * self.b[j] as f64)).ln()
            })
            .sum();
        mi.max(0.0)
    }
}

fn entropy(counts: &[usize], n: usize) -> f64 {
    let n = n as f64;
    -counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            p * p.ln()
        })
        .sum::<f64>()
}

fn check(labels_true: &[i64], labels_pred: &[i64]) -> EvalResult<()> {
    if labels_true.is_empty() {
        return Err(EvalError::Empty { field: "labels_true" });
    }
    if labels_true.len() != labels_pred.len() {
        return Err(EvalError::LengthMismatch {
            field: "labels_pred",
            detail: format!(
                "has {} labels, `labels_true` has {}",
                labels_pred.len(),
                labels_true.len()
            ),
        });
    }
    Ok(())
}

/// Normalised mutual information `MI / ((H(true) + H(pred)) / 2)` (arithmetic mean, sklearn's
/// default). 1 when both labellings have a single group; 0 when MI is 0.
///
/// # Shapes
/// `labels_true`, `labels_pred`: `[n]`.
pub fn normalized_mutual_info(labels_true: &[i64], labels_pred: &[i64]) -> EvalResult<f64> {
    check(labels_true, labels_pred)?;
    let c = Contingency::new(labels_true, labels_pred);
    if c.a.len() == 1 && c.b.len() == 1 {
        return Ok(1.0);
    }
    let mi = c.mutual_info();
    if mi == 0.0 {
        return Ok(0.0);
    }
    let normalizer = (entropy(&c.a, c.n) + entropy(&c.b, c.n)) / 2.0;
    Ok(mi / normalizer)
}

/// Adjusted mutual information `(MI - E[MI]) / (mean(H(true), H(pred)) - E[MI])`, arithmetic
/// mean, with the expected MI under the hypergeometric model (Vinh et al. 2010), as sklearn's
/// `adjusted_mutual_info_score`.
///
/// # Shapes
/// `labels_true`, `labels_pred`: `[n]`.
pub fn adjusted_mutual_info(labels_true: &[i64], labels_pred: &[i64]) -> EvalResult<f64> {
    check(labels_true, labels_pred)?;
    let c = Contingency::new(labels_true, labels_pred);
    if c.a.len() == 1 && c.b.len() == 1 {
        return Ok(1.0);
    }
    let mi = c.mutual_info();
    let emi = expected_mutual_info(&c);
    let normalizer = (entropy(&c.a, c.n) + entropy(&c.b, c.n)) / 2.0;
    let mut denominator = normalizer - emi;
    denominator = if denominator < 0.0 {
        denominator.min(-f64::EPSILON)
    } else {
        denominator.max(f64::EPSILON)
    };
    Ok((mi - emi) / denominator)
}

/// Expected mutual information of two random labellings with the same group sizes.
fn expected_mutual_info(c: &Contingency) -> f64 {
    if c.a.len() == 1 || c.b.len() == 1 {
        return 0.0;
    }
    let n = c.n;
    // ln(i!) for i in 0..=n.
    let mut log_fact = vec![0.0f64; n + 1];
    for i in 1..=n {
        log_fact[i] = log_fact[i - 1] + (i as f64).ln();
    }
    let nf = n as f64;
    let mut emi = 0.0;
    for &ai in &c.a {
        for &bj in &c.b {
            let start = (ai + bj).saturating_sub(n).max(1);
            let end = ai.min(bj);
            let fixed =
                log_fact[ai] + log_fact[bj] + log_fact[n - ai] + log_fact[n - bj] - log_fact[n];
            for nij in start..=end {
                let term2 = (nf * nij as f64).ln() - (ai as f64).ln() - (bj as f64).ln();
                let gln = fixed
                    - log_fact[nij]
                    - log_fact[ai - nij]
                    - log_fact[bj - nij]
                    - log_fact[n + nij - ai - bj];
                emi += (nij as f64 / nf) * term2 * gln.exp();
            }
        }
    }
    emi
}
