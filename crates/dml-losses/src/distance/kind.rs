use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::ops::{l2_normalize, safe_sqrt};

/// How two sets of embeddings are compared, following PML's `distances` module.
///
/// A distance is either a true distance (smaller means closer: [`Distance::Lp`]) or a similarity
/// (larger means closer: [`Distance::Cosine`], [`Distance::DotProduct`]); [`Distance::is_inverted`]
/// tells which, and [`Distance::margin`], [`Distance::smallest`] and [`Distance::largest`] let a
/// loss formula be written once for both.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Distance {
    /// Minkowski distance `|x - y|_p = (sum_k |x_k - y_k|^p)^(1/p)`, raised to `power` (PML's
    /// `LpDistance(p, power, normalize_embeddings)`; `p = 2` is the Euclidean distance).
    ///
    /// `power = 2` gives the squared distance. With `normalize_embeddings` the rows are first
    /// divided by their Lp norm (`F.normalize(x, p)`, as PML; PML's default).
    Lp {
        /// Divide each embedding by its Lp norm first.
        normalize_embeddings: bool,
        /// Exponent applied to the distance (1 = plain, 2 = squared).
        power: f64,
        /// The norm's order (finite, at least 1; 2 when left out of a configuration).
        #[serde(default = "default_p", deserialize_with = "deserialize_p")]
        p: f64,
    },
    /// Cosine similarity `x^ . y^` (PML's `CosineSimilarity`); inverted.
    Cosine,
    /// Dot product `x . y`, optionally of normalized rows (PML's `DotProductSimilarity`); inverted.
    DotProduct {
        /// Divide each embedding by its L2 norm first (PML's default is true).
        normalize_embeddings: bool,
    },
    /// Signal-to-noise ratio `var(x - y) / var(x)` over the embedding dimensions (PML's
    /// `SNRDistance`, Yuan et al., "Signal-To-Noise Ratio: A Robust Distance Metric for Deep
    /// Metric Learning", CVPR 2019); a distance (not inverted), not symmetric.
    ///
    /// Computed from the centred rows `x~ = x - mean(x)`: `|x~ - y~|^2 / |x~|^2` (the variance
    /// normalizers cancel). A query with zero variance has its denominator clamped at
    /// `1e-24` (PML divides by zero).
    Snr {
        /// Divide each embedding by its L2 norm first (PML's default is true).
        normalize_embeddings: bool,
    },
}

/// PML's default norm order, `p = 2`.
fn default_p() -> f64 {
    2.0
}

/// Reads `p`, refusing what [`Distance::validate`] refuses, so a configuration file naming a
/// bad `p` fails when it is read, at the key's path.
fn deserialize_p<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let p = f64::deserialize(deserializer)?;
    if p.is_finite() && p >= 1.0 {
        Ok(p)
    } else {
        Err(serde::de::Error::custom(format!("Lp needs a finite p >= 1, got {p}")))
    }
}

impl Default for Distance {
    /// PML's default: L2 distance between normalized embeddings.
    fn default() -> Self {
        Self::l2()
    }
}

impl Distance {
    /// L2 distance between normalized embeddings (PML's `LpDistance()`).
    pub fn l2() -> Self {
        Self::Lp { normalize_embeddings: true, power: 1.0, p: 2.0 }
    }

    /// One value of every variant, with PML's defaults: what a configuration file may name
    /// (`"Cosine"`, `{"Lp": {...}}`), so a new variant needs no edit in dml-train.
    pub fn defaults() -> Vec<Distance> {
        vec![
            Self::l2(),
            Self::Cosine,
            Self::DotProduct { normalize_embeddings: true },
            Self::Snr { normalize_embeddings: true },
        ]
    }

    /// Squared L2 distance between normalized embeddings (`LpDistance(power=2)`).
    pub fn squared_l2() -> Self {
        Self::Lp { normalize_embeddings: true, power: 2.0, p: 2.0 }
    }

    /// The Euclidean distance raised to `power`, of normalized embeddings or not.
    pub fn euclidean(normalize_embeddings: bool, power: f64) -> Self {
        Self::Lp { normalize_embeddings, power, p: 2.0 }
    }

    /// Checks the distance's own parameters: for [`Distance::Lp`], a finite `p >= 1` and a
    /// finite `power > 0`.
    pub fn validate(&self, component: &'static str) -> crate::error::LossResult<()> {
        if let Self::Lp { p, power, .. } = self {
            if !(p.is_finite() && *p >= 1.0) {
                return Err(crate::error::invalid(
                    component,
                    "distance",
                    format!("Lp needs a finite p >= 1, got p = {p}"),
                ));
            }
            if !(power.is_finite() && *power > 0.0) {
                return Err(crate::error::invalid(
                    component,
                    "distance",
                    format!("Lp needs a finite power > 0, got power = {power}"),
                ));
            }
        }
        Ok(())
    }

    /// True for similarities (larger is closer), false for distances.
    pub fn is_inverted(&self) -> bool {
        !matches!(self, Self::Lp { .. } | Self::Snr { .. })
    }

    /// Whether rows are L2-normalized before comparison.
    pub fn normalizes(&self) -> bool {
        match self {
            Self::Lp { normalize_embeddings, .. } => *normalize_embeddings,
            Self::Cosine => true,
            Self::DotProduct { normalize_embeddings } => *normalize_embeddings,
            Self::Snr { normalize_embeddings } => *normalize_embeddings,
        }
    }

    /// True for the cosine similarity, under either of its names (`Cosine`, or `DotProduct` of
    /// normalized embeddings): the similarity the fused kernels compute.
    pub fn is_cosine(&self) -> bool {
        matches!(self, Self::Cosine | Self::DotProduct { normalize_embeddings: true })
    }

    /// True for the L2 distance (`p = 2`; not another Minkowski order) of normalized
    /// embeddings raised to `power`: the distance the fused kernels compute.
    pub fn is_normalized_l2(&self, power: f64) -> bool {
        matches!(
            self,
            Self::Lp { normalize_embeddings: true, power: q, p } if *q == power && *p == 2.0
        )
    }

    /// The distance between row `i` of `a` and row `i` of `b` for every `i`: the diagonal of
    /// [`Distance::matrix`]`(a, b)`, from explicit differences (exact for near-identical rows,
    /// and `O(n d)` instead of a whole matrix).
    ///
    /// # Shapes
    /// - `a`, `b`: `[n, d]` -> `[n, 1]`
    pub fn paired(&self, a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
        self.paired_normalized(self.maybe_normalize(a), self.maybe_normalize(b))
    }

    /// Like [`Distance::paired`] but for inputs already passed through
    /// [`Distance::maybe_normalize`] (so a set used for several pairings is normalized once).
    ///
    /// # Shapes
    /// - `a`, `b`: `[n, d]` -> `[n, 1]`
    pub fn paired_normalized(&self, a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Lp { power, p, .. } if *p != 2.0 => {
                let diff = (a - b).abs();
                let d = if *p == 1.0 {
                    diff.sum_dim(1)
                } else {
                    safe_root(diff.powf_scalar(*p).sum_dim(1), *p)
                };
                if *power == 1.0 { d } else { d.powf_scalar(*power) }
            }
            Self::Lp { power, .. } => {
                let sq = (a - b).square().sum_dim(1);
                if *power == 2.0 {
                    sq
                } else if *power == 1.0 {
                    safe_sqrt(sq)
                } else {
                    safe_sqrt(sq).powf_scalar(*power)
                }
            }
            Self::Cosine | Self::DotProduct { .. } => (a * b).sum_dim(1),
            Self::Snr { .. } => {
                let a = a.clone() - a.mean_dim(1);
                let b = b.clone() - b.mean_dim(1);
                let noise = a.clone().square().sum_dim(1).clamp_min(SNR_MIN_VARIANCE);
                (a - b).square().sum_dim(1) / noise
            }
        }
    }

    /// Normalizes `x` if this distance normalizes its inputs, else returns it unchanged.
    ///
    /// # Shapes
    /// - `x`: `[n, d]` -> `[n, d]`
    pub fn maybe_normalize(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Lp { normalize_embeddings: true, p, .. } if *p != 2.0 => lp_normalize(x, *p),
            _ if self.normalizes() => l2_normalize(x),
            _ => x,
        }
    }

    /// The norm of each row that this distance measures with (PML's `get_norm`): the Lp norm
    /// for [`Distance::Lp`], the L2 norm otherwise. A zero row has norm 0 and gradient 0.
    ///
    /// # Shapes
    /// - `x`: `[n, d]` -> `[n, 1]`
    pub fn norms(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Lp { p, .. } => lp_norms(x, *p),
            _ => lp_norms(x, 2.0),
        }
    }

    /// All pairwise values between `query` and `reference`.
    ///
    /// The L2 distance is computed as `|q|^2 + |r|^2 - 2 q.r`, clamped at 0 before a square root
    /// whose gradient at 0 is 0, so coincident embeddings give a zero distance and no NaN.
    ///
    /// # Shapes
    /// - `query`: `[n, d]`, `reference`: `[m, d]` -> `[n, m]`
    pub fn matrix(&self, query: Tensor<2>, reference: Tensor<2>) -> Tensor<2> {
        if self.is_inverted() && self.normalizes() {
            // q^ . r / |r|: the reference is divided by its norms on the [n, m] result instead
            // of on the [m, d] input, which is much cheaper when m is a large set of class
            // proxies (the same function, gradient included).
            let rn = row_norms(reference.clone()).transpose(); // [1, m]
            return l2_normalize(query).matmul(reference.transpose()) / rn;
        }
        let q = self.maybe_normalize(query);
        let r = self.maybe_normalize(reference);
        self.matrix_normalized(q, r)
    }

    /// Like [`Distance::matrix`] but for inputs already passed through
    /// [`Distance::maybe_normalize`].
    ///
    /// # Shapes
    /// - `query`: `[n, d]`, `reference`: `[m, d]` -> `[n, m]`
    pub fn matrix_normalized(&self, query: Tensor<2>, reference: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Lp { power, p, .. } if *p != 2.0 => {
                let d = minkowski(query, reference, *p);
                if *power == 1.0 { d } else { d.powf_scalar(*power) }
            }
            Self::Lp { power, .. } => {
                let sq = squared_l2(query, reference);
                if *power == 2.0 {
                    sq
                } else if *power == 1.0 {
                    safe_sqrt(sq)
                } else {
                    safe_sqrt(sq).powf_scalar(*power)
                }
            }
            Self::Cosine | Self::DotProduct { .. } => query.matmul(reference.transpose()),
            Self::Snr { .. } => snr(query, reference),
        }
    }

    /// A matrix of this distance's values turned into distances (larger is farther): negated
    /// for similarities, unchanged for distances. Negating is exact, gradient included.
    pub fn farness<const D: usize>(&self, values: Tensor<D>) -> Tensor<D> {
        if self.is_inverted() { values.neg() } else { values }
    }

    /// A matrix of this distance's values turned into similarities (larger is closer):
    /// unchanged for similarities, negated for distances (the logits of the softmax losses).
    pub fn closeness<const D: usize>(&self, values: Tensor<D>) -> Tensor<D> {
        if self.is_inverted() { values } else { values.neg() }
    }

    /// How much `x` beats `y` as a match: `x - y` for distances, `y - x` for similarities.
    pub fn margin<const D: usize>(&self, x: Tensor<D>, y: Tensor<D>) -> Tensor<D> {
        if self.is_inverted() { y - x } else { x - y }
    }

    /// `margin(x, s)` with a constant right-hand side: `x - s` for distances, `s - x` for
    /// similarities.
    pub fn margin_to<const D: usize>(&self, x: Tensor<D>, s: f64) -> Tensor<D> {
        if self.is_inverted() { x.neg().add_scalar(s) } else { x.sub_scalar(s) }
    }

    /// `margin(s, x)` with a constant left-hand side: `s - x` for distances, `x - s` for
    /// similarities.
    pub fn margin_from<const D: usize>(&self, s: f64, x: Tensor<D>) -> Tensor<D> {
        if self.is_inverted() { x.sub_scalar(s) } else { x.neg().add_scalar(s) }
    }

    /// Element-wise closest of two values: min for distances, max for similarities.
    pub fn smallest<const D: usize>(&self, x: Tensor<D>, y: Tensor<D>) -> Tensor<D> {
        if self.is_inverted() { x.max_pair(y) } else { x.min_pair(y) }
    }

    /// Element-wise farthest of two values: max for distances, min for similarities.
    pub fn largest<const D: usize>(&self, x: Tensor<D>, y: Tensor<D>) -> Tensor<D> {
        if self.is_inverted() { x.min_pair(y) } else { x.max_pair(y) }
    }
}

/// L2 norm of each row, clamped below like `F.normalize` (`max(|x|, 1e-12)`).
///
/// # Shapes
/// - `x`: `[n, d]` -> `[n, 1]`
fn row_norms(x: Tensor<2>) -> Tensor<2> {
    x.square().sum_dim(1).clamp_min(crate::ops::NORMALIZE_EPS * crate::ops::NORMALIZE_EPS).sqrt()
}

/// Divides each row by its Lp norm, clamped below by [`crate::ops::NORMALIZE_EPS`]
/// (`F.normalize(x, p)`).
///
/// # Shapes
/// - `x`: `[n, d]` -> `[n, d]`
fn lp_normalize(x: Tensor<2>, p: f64) -> Tensor<2> {
    let norm = lp_norms(x.clone(), p).clamp_min(crate::ops::NORMALIZE_EPS);
    x / norm
}

/// Lp norm of each row, `(sum_k |x_k|^p)^(1/p)`, with value 0 and gradient 0 for a zero row
/// (see [`safe_root`]).
///
/// # Shapes
/// - `x`: `[n, d]` -> `[n, 1]`
fn lp_norms(x: Tensor<2>, p: f64) -> Tensor<2> {
    if p == 1.0 {
        return x.abs().sum_dim(1);
    }
    if p == 2.0 {
        return safe_sqrt(x.square().sum_dim(1));
    }
    safe_root(x.abs().powf_scalar(p).sum_dim(1), p)
}

/// `s^(1/p)` for sums of p-th powers `s >= 0`, with value 0 and gradient 0 where `s` is below
/// [`root_floor`] (PyTorch's `norm` and `cdist` give gradient 0 at 0 too), so coincident
/// embeddings never give an infinite slope.
fn safe_root<const D: usize>(s: Tensor<D>, p: f64) -> Tensor<D> {
    let floor = root_floor(p);
    let positive = s.clone().greater_elem(floor);
    s.clamp_min(floor).powf_scalar(1.0 / p).mask_fill(positive.bool_not(), 0.0)
}

/// The sum of p-th powers below which [`safe_root`] treats a norm as 0: `(1e-8)^p`, what
/// [`safe_sqrt`]'s `1e-16` is for `p = 2`, kept above float32's smallest normal number.
fn root_floor(p: f64) -> f64 {
    1e-8f64.powf(p).max(1e-37)
}

/// Largest number of `[rows, m, d]` difference entries the Minkowski distance evaluates at
/// once; bigger query sets are processed in blocks of rows.
const MINKOWSKI_BLOCK: usize = 1 << 22;

/// `|q_i - r_j|_p` from explicit differences (no matrix-product form exists for `p != 2`),
/// `torch.cdist(q, r, p)`; blocks of query rows keep the `[b, m, d]` differences bounded.
///
/// # Shapes
/// - `query`: `[n, d]`, `reference`: `[m, d]` -> `[n, m]`
fn minkowski(query: Tensor<2>, reference: Tensor<2>, p: f64) -> Tensor<2> {
    let [n, d] = query.dims();
    let m = reference.dims()[0];
    let rows = (MINKOWSKI_BLOCK / (m * d).max(1)).clamp(1, n.max(1));
    let mut blocks = Vec::with_capacity(n.div_ceil(rows));
    for start in (0..n).step_by(rows) {
        let end = (start + rows).min(n);
        let b = end - start;
        let q = query.clone().slice(start..end).reshape([b, 1, d]).expand([b, m, d]);
        let r = reference.clone().reshape([1, m, d]).expand([b, m, d]);
        let diff = (q - r).abs();
        let block = if p == 1.0 {
            diff.sum_dim(2).reshape([b, m])
        } else {
            safe_root(diff.powf_scalar(p).sum_dim(2).reshape([b, m]), p)
        };
        blocks.push(block);
    }
    if blocks.len() == 1 { blocks.remove(0) } else { Tensor::cat(blocks, 0) }
}

/// `var(q_i - r_j) / var(q_i)` from centred rows: `|q~_i - r~_j|^2 / |q~_i|^2`.
///
/// # Shapes
/// - `query`: `[n, d]`, `reference`: `[m, d]` -> `[n, m]`
fn snr(query: Tensor<2>, reference: Tensor<2>) -> Tensor<2> {
    let q = query.clone() - query.mean_dim(1);
    let r = reference.clone() - reference.mean_dim(1);
    let noise = q.clone().square().sum_dim(1).clamp_min(SNR_MIN_VARIANCE); // [n, 1]
    squared_l2(q, r) / noise
}

/// Smallest query variance (times `d - 1`) the SNR distance divides by.
const SNR_MIN_VARIANCE: f64 = 1e-24;

/// Below this many `n * m * d` elements the squared distance is computed from explicit
/// differences, which is exact even for near-identical embeddings; above it, from one matrix
/// product (`|q|^2 + |r|^2 - 2 q.r`), which loses about `1e-7` absolute to cancellation.
pub const EXACT_DIFFERENCE_LIMIT: usize = 1 << 21;

/// `|q_i - r_j|^2`, clamped at 0.
fn squared_l2(query: Tensor<2>, reference: Tensor<2>) -> Tensor<2> {
    let [n, d] = query.dims();
    let m = reference.dims()[0];
    if n * m * d <= EXACT_DIFFERENCE_LIMIT {
        let q = query.reshape([n, 1, d]).expand([n, m, d]);
        let r = reference.reshape([1, m, d]).expand([n, m, d]);
        return (q - r).square().sum_dim(2).reshape([n, m]);
    }
    let qn = query.clone().square().sum_dim(1); // [n, 1]
    let rn = reference.clone().square().sum_dim(1).transpose(); // [1, m]
    let dot = query.matmul(reference.transpose());
    (qn + rn - dot.mul_scalar(2.0)).clamp_min(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn device() -> Device {
        Device::flex().autodiff()
    }

    fn vals(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn l2_of_coincident_points_is_zero_with_zero_gradient() {
        let device = device();
        let x =
            Tensor::<2>::from_floats([[0.3, 0.4], [0.3, 0.4], [1.0, 0.0]], &device).require_grad();
        let d = Distance::euclidean(false, 1.0).matrix(x.clone(), x.clone());
        let v = vals(d.clone());
        assert_eq!(v[1], 0.0);
        assert!((v[2] - (0.49f32 + 0.16).sqrt()).abs() < 1e-6);
        let grads = d.sum().backward();
        let g = x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "gradient at zero distance: {g:?}");
    }

    #[test]
    fn large_inputs_use_the_matrix_product_path_and_agree() {
        // 48 * 48 * 1024 > EXACT_DIFFERENCE_LIMIT
        let device = Device::flex();
        let x = Tensor::<2>::random([48, 1024], burn::tensor::Distribution::Default, &device);
        let dist = Distance::euclidean(false, 2.0);
        let big = vals(dist.matrix(x.clone(), x.clone()));
        let small = vals(dist.matrix(x.clone().slice(0..4), x.clone().slice(0..4)));
        for i in 0..4 {
            for j in 0..4 {
                let (a, b) = (big[i * 48 + j], small[i * 4 + j]);
                assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn minkowski_distances_and_lp_normalization_match_their_definitions() {
        let device = device();
        let x = Tensor::<2>::from_floats(
            [[1.0, -2.0, 0.5], [1.0, -2.0, 0.5], [0.0, 1.0, 2.0]],
            &device,
        )
        .require_grad();
        for p in [1.0f64, 3.0] {
            let d = Distance::Lp { normalize_embeddings: false, power: 1.0, p };
            let m = d.matrix(x.clone(), x.clone());
            let v = vals(m.clone());
            let expected = [1.0f64, 3.0, 1.5].iter().map(|t| t.powf(p)).sum::<f64>().powf(1.0 / p);
            assert_eq!(v[1], 0.0);
            assert!((f64::from(v[2]) - expected).abs() < 1e-5, "p {p}: {v:?}");
            let g = x.grad(&m.sum().backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
            assert!(g.iter().all(|v| v.is_finite()), "p {p}: {g:?}");
            // normalized: rows divided by their Lp norm first
            let n = Distance::Lp { normalize_embeddings: true, power: 2.0, p };
            let norm = |r: [f64; 3]| r.iter().map(|t| t.abs().powf(p)).sum::<f64>().powf(1.0 / p);
            let (a, b) = ([1.0, -2.0, 0.5], [0.0, 1.0, 2.0]);
            let (na, nb) = (norm(a), norm(b));
            let diff: f64 =
                (0..3).map(|k| (a[k] / na - b[k] / nb).abs().powf(p)).sum::<f64>().powf(1.0 / p);
            let v = vals(n.matrix(x.clone(), x.clone()));
            assert!((f64::from(v[2]) - diff * diff).abs() < 1e-5, "p {p}: {v:?}");
        }
    }

    #[test]
    fn large_minkowski_inputs_are_computed_in_blocks_that_agree() {
        // 40 * 40 * 4096 > MINKOWSKI_BLOCK: several blocks of rows
        let device = Device::flex();
        let x = Tensor::<2>::random([40, 4096], burn::tensor::Distribution::Default, &device);
        let d = Distance::Lp { normalize_embeddings: false, power: 1.0, p: 3.0 };
        let big = vals(d.matrix(x.clone(), x.clone()));
        let small = vals(d.matrix(x.clone().slice(30..40), x.clone()));
        for (i, row) in small.chunks(40).enumerate() {
            for (j, b) in row.iter().enumerate() {
                let a = big[(30 + i) * 40 + j];
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn paired_is_the_diagonal_of_the_matrix_for_every_p_and_only_p_2_is_the_kernels_l2() {
        let device = Device::flex();
        let a =
            Tensor::<2>::from_floats([[1.0, -2.0, 0.5], [0.3, 0.3, 0.3], [2.0, 0.0, 1.0]], &device);
        let b =
            Tensor::<2>::from_floats([[0.0, 1.0, 2.0], [0.3, 0.3, 0.3], [-1.0, 0.5, 0.0]], &device);
        for p in [1.0, 2.0, 3.0] {
            for (normalize_embeddings, power) in [(false, 1.0), (true, 1.0), (false, 2.0)] {
                let d = Distance::Lp { normalize_embeddings, power, p };
                let pairs = vals(d.paired(a.clone(), b.clone()));
                let full = vals(d.matrix(a.clone(), b.clone()));
                for i in 0..3 {
                    let want = full[i * 3 + i];
                    assert!(
                        (pairs[i] - want).abs() <= 1e-5 * want.abs().max(1.0),
                        "{d:?}: {pairs:?}"
                    );
                }
                assert_eq!(d.is_normalized_l2(power), normalize_embeddings && p == 2.0, "{d:?}");
            }
        }
    }

    #[test]
    fn a_bad_p_is_refused_when_read_and_when_validated() {
        let bad = Distance::Lp { normalize_embeddings: true, power: 1.0, p: 0.5 };
        assert!(bad.validate("test").is_err());
        assert!(Distance::l2().validate("test").is_ok());
        let read = serde_json::from_str::<Distance>(
            r#"{"Lp": {"normalize_embeddings": true, "power": 1.0, "p": 0.5}}"#,
        );
        assert!(read.unwrap_err().to_string().contains("p >= 1"));
        // p left out: 2, as PML's default
        let read: Distance =
            serde_json::from_str(r#"{"Lp": {"normalize_embeddings": true, "power": 1.0}}"#)
                .unwrap();
        assert_eq!(read, Distance::l2());
    }

    #[test]
    fn cosine_is_inverted_and_bounded() {
        let device = Device::flex();
        let x = Tensor::<2>::from_floats([[3.0, 4.0], [-3.0, -4.0], [0.0, 2.0]], &device);
        let d = Distance::Cosine;
        assert!(d.is_inverted());
        let v = vals(d.matrix(x.clone(), x));
        assert!(
            (v[0] - 1.0).abs() < 1e-6 && (v[1] + 1.0).abs() < 1e-6 && (v[2] - 0.8).abs() < 1e-6
        );
    }

    #[test]
    fn snr_is_the_variance_ratio_and_finite_for_duplicates_and_constant_rows() {
        let device = device();
        let x =
            Tensor::<2>::from_floats([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0], [3.0, 3.0, 3.0]], &device)
                .require_grad();
        let d = Distance::Snr { normalize_embeddings: false };
        assert!(!d.is_inverted());
        let m = d.matrix(x.clone(), x.clone());
        let v = vals(m.clone());
        // var([1, 2, 4]) = 7/3; x0 - x2 = [-2, -1, 1], var = 7/3: ratio 1
        assert_eq!(v[1], 0.0);
        assert!((v[2] - 1.0).abs() < 1e-6, "{v:?}");
        assert!(v.iter().all(|v| v.is_finite()), "{v:?}");
        let g = x.grad(&m.sum().backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }

    #[test]
    fn margin_helpers_follow_the_direction() {
        let device = Device::flex();
        let x = Tensor::<1>::from_floats([0.5], &device);
        let to = |d: Distance| d.margin_to(x.clone(), 0.2).into_scalar::<f32>();
        let from = |d: Distance| d.margin_from(0.2, x.clone()).into_scalar::<f32>();
        assert!((to(Distance::l2()) - 0.3).abs() < 1e-6);
        assert!((to(Distance::Cosine) + 0.3).abs() < 1e-6);
        assert!((from(Distance::l2()) + 0.3).abs() < 1e-6);
        assert!((from(Distance::Cosine) - 0.3).abs() < 1e-6);
    }
}
