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
    /// Euclidean distance `|x - y|`, raised to `power` (PML's `LpDistance(p=2)`).
    ///
    /// `power = 2` gives the squared distance. With `normalize_embeddings` the rows are first
    /// divided by their L2 norm (PML's default).
    Lp {
        /// Divide each embedding by its L2 norm first.
        normalize_embeddings: bool,
        /// Exponent applied to the distance (1 = plain, 2 = squared).
        power: f64,
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

impl Default for Distance {
    /// PML's default: L2 distance between normalized embeddings.
    fn default() -> Self {
        Self::l2()
    }
}

impl Distance {
    /// L2 distance between normalized embeddings (PML's `LpDistance()`).
    pub fn l2() -> Self {
        Self::Lp { normalize_embeddings: true, power: 1.0 }
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
        Self::Lp { normalize_embeddings: true, power: 2.0 }
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

    /// True for the L2 distance of normalized embeddings raised to `power`.
    pub fn is_normalized_l2(&self, power: f64) -> bool {
        matches!(self, Self::Lp { normalize_embeddings: true, power: p } if *p == power)
    }

    /// The distance between row `i` of `a` and row `i` of `b` for every `i`: the diagonal of
    /// [`Distance::matrix`]`(a, b)`, from explicit differences (exact for near-identical rows,
    /// and `O(n d)` instead of a whole matrix).
    ///
    /// # Shapes
    /// - `a`, `b`: `[n, d]` -> `[n, 1]`
    pub fn paired(&self, a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
        let (a, b) = (self.maybe_normalize(a), self.maybe_normalize(b));
        match self {
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
        if self.normalizes() { l2_normalize(x) } else { x }
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
        let d =
            Distance::Lp { normalize_embeddings: false, power: 1.0 }.matrix(x.clone(), x.clone());
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
        let dist = Distance::Lp { normalize_embeddings: false, power: 2.0 };
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
