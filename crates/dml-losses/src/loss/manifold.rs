use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::classification::{check_class_input, check_shape};
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_count, invalid};
use crate::miner::uniforms;
use crate::ops::{masked_logsumexp, one_hot};
use crate::reducer::{LossTerm, Reducer};

const NAME: &str = "ManifoldLoss";

/// Which proxy each embedding belongs to (its meta class) in [`ManifoldLoss`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ManifoldMetaClasses {
    /// The batch's labels are the meta classes (PML's `indices_tuple=meta_classes`): labels
    /// must be in `0..num_proxies`, one proxy per class.
    Labels,
    /// Random meta classes, drawn for every call as PML does without `indices_tuple`: every
    /// proxy once, the other `n - K` uniformly, in a random order (the batch must hold at least
    /// `num_proxies` embeddings). The draws come from SplitMix64 keyed by `seed` and the call
    /// number, not from PyTorch's generator.
    Random {
        /// Seed of the draws.
        seed: u64,
    },
}

/// Configuration of [`ManifoldLoss`]; defaults are PML's `ManifoldLoss(l)`, with the meta
/// classes taken from the labels (see [`ManifoldMetaClasses`]).
#[derive(Config, Debug)]
pub struct ManifoldLossConfig {
    /// Embedding size `l`.
    pub embedding_size: usize,
    /// Number of proxies `K` (with [`ManifoldMetaClasses::Labels`], the number of classes).
    #[config(default = 50)]
    pub num_proxies: usize,
    /// Weight `lambda_C` of the context loss (finite, >= 0; 0 keeps the intrinsic loss only).
    #[config(default = 1.0)]
    pub lambda_c: f64,
    /// Random-walk parameter `alpha` in `(0, 1)`: how much similarity each node passes to its
    /// neighbours.
    #[config(default = 0.8)]
    pub alpha: f64,
    /// Margin of both losses.
    #[config(default = 5e-4)]
    pub margin: f64,
    /// Where each embedding's proxy comes from.
    #[config(default = "ManifoldMetaClasses::Labels")]
    pub meta_classes: ManifoldMetaClasses,
}

/// Manifold loss (Aziere and Todorovic, "Ensemble Deep Manifold Similarity Learning using Hard
/// Proxies", CVPR 2019), as PML's `ManifoldLoss`.
///
/// The `n` embeddings and the `K` learnable proxies are the `M = n + K` nodes of a graph with
/// affinities `S_ij = exp(2 [cos(x_i, x_j)]+)` (`S_ii = 0`), normalized as
/// `S^ = D^-1/2 S D^-1/2` (`D` the row sums). The random walk's converged similarities are
/// `F = (1 - alpha) (I - alpha S^)^-1`. With `m_i` the meta class (proxy) of embedding `i`:
///
/// - intrinsic: `l_int_i = log(1 + sum_{k != m_i, v_ik >= 0} exp(v_ik))`,
///   `v_ik = F_{i, n+k} - F_{i, n+m_i} + margin`;
/// - context: the same with `v_ik = cos(F_i, F_{n+k}) - cos(F_i, F_{n+m_i}) + margin`, the
///   cosine between rows of `F`;
///
/// `loss = mean_i l_int_i + lambda_C mean_i l_ctx_i` (already reduced).
///
/// The inverse is computed as the product `(I + A)(I + A^2)(I + A^4)...` with `A = alpha S^`
/// (all of whose eigenvalues lie in `[-alpha, alpha]`), with enough factors that the remainder
/// `alpha^(2^k) / (1 - alpha)` is below `1e-10`: matrix products only, differentiable on every
/// backend.
#[derive(Module, Debug)]
pub struct ManifoldLoss {
    /// The proxies, one row each.
    ///
    /// # Shapes
    /// - `[num_proxies, embedding_size]`
    pub proxies: Param<Tensor<2>>,
    #[module(skip)]
    config: ManifoldLossConfig,
    /// Calls so far (the random meta classes' stream).
    #[module(skip)]
    calls: Arc<AtomicU64>,
}

impl ManifoldLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_count(NAME, "embedding_size", self.embedding_size)?;
        check_count(NAME, "num_proxies", self.num_proxies)?;
        if !(self.lambda_c.is_finite() && self.lambda_c >= 0.0) {
            return Err(invalid(
                NAME,
                "lambda_c",
                format!("must be finite and >= 0, got {}", self.lambda_c),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(invalid(NAME, "alpha", format!("must be in (0, 1), got {}", self.alpha)));
        }
        if !self.margin.is_finite() {
            return Err(invalid(NAME, "margin", format!("must be finite, got {}", self.margin)));
        }
        Ok(())
    }

    /// Validates the configuration and builds the loss with proxies drawn from `N(0, 1)`, as
    /// PML's `torch.randn`.
    pub fn init(&self, device: &Device) -> LossResult<ManifoldLoss> {
        self.validate()?;
        let shape = [self.num_proxies, self.embedding_size];
        self.init_with(Tensor::random(shape, Distribution::Normal(0.0, 1.0), device))
    }

    /// Validates the configuration and builds the loss with the given proxies.
    ///
    /// # Shapes
    /// - `proxies`: `[num_proxies, embedding_size]`
    pub fn init_with(&self, proxies: Tensor<2>) -> LossResult<ManifoldLoss> {
        self.validate()?;
        check_shape(NAME, "proxies", &proxies.dims(), &[self.num_proxies, self.embedding_size])?;
        Ok(ManifoldLoss {
            proxies: Param::from_tensor(proxies),
            config: self.clone(),
            calls: Arc::new(AtomicU64::new(0)),
        })
    }
}

/// PML's random meta classes for a batch of `n >= k`: `0..k` once each, then `n - k` uniform
/// draws from `0..k`, the whole list in a random order (Fisher-Yates), from the stream
/// `(seed, call)`.
pub(crate) fn random_meta_classes(seed: u64, call: u64, n: usize, k: usize) -> Vec<i64> {
    let u = uniforms(seed, call, 2 * n);
    let pick = |u: f32, count: usize| ((u as f64 * count as f64) as usize).min(count - 1);
    let mut meta: Vec<i64> = (0..k as i64).collect();
    meta.extend((k..n).map(|i| pick(u[i], k) as i64));
    for i in (1..n).rev() {
        let j = pick(u[n + i], i + 1);
        meta.swap(i, j);
    }
    meta
}

/// The number of factors `(I + A^(2^j))` for which the remainder of `(I - A)^-1`, at most
/// `alpha^(2^k) / (1 - alpha)`, is below `1e-10`.
fn factors(alpha: f64) -> usize {
    let needed = (1e-10 * (1.0 - alpha)).ln() / alpha.ln(); // 2^k >= needed
    (needed.max(1.0).log2().ceil() as usize).max(1)
}

/// `(I - A)^-1` for a symmetric `A` of spectral norm at most `alpha < 1`.
///
/// # Shapes
/// - `a`: `[m, m]` -> `[m, m]`
fn inverse_of_identity_minus(a: Tensor<2>, alpha: f64) -> Tensor<2> {
    let [m, _] = a.dims();
    let eye = Tensor::<2>::eye(m, &a.device());
    let mut power = a;
    let mut product = eye.clone() + power.clone();
    for _ in 1..factors(alpha) {
        power = power.clone().matmul(power);
        product = product.matmul(eye.clone() + power.clone());
    }
    product
}

/// `mean_i log(1 + sum_{k != m_i, v_ik >= 0} exp(v_ik))`, `v_ik = x_ik - x_{i m_i} + margin`.
///
/// # Shapes
/// - `x`, `own`: `[n, K]` -> `[1]`
fn proxy_margin_loss(x: Tensor<2>, own: Tensor<2>, margin: f64) -> Tensor<1> {
    let own_value = (x.clone() * own.clone()).sum_dim(1); // [n, 1]
    let v = (x - own_value).add_scalar(margin);
    let keep = v.clone().greater_equal_elem(0.0).bool_and(own.lower_elem(0.5));
    masked_logsumexp(v, keep, true).mean()
}

impl ManifoldLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &ManifoldLossConfig {
        &self.config
    }

    /// The meta class of every embedding: the labels, or this call's random draws.
    fn meta_classes(&self, input: &LossInput) -> LossResult<Tensor<1, Int>> {
        let c = &self.config;
        let n = input.batch_size();
        match c.meta_classes {
            ManifoldMetaClasses::Labels => Ok(input.labels.clone()),
            ManifoldMetaClasses::Random { seed } => {
                if n < c.num_proxies {
                    return Err(LossError::ShapeMismatch {
                        component: NAME,
                        detail: format!(
                            "random meta classes give every one of the {} proxies an embedding, \
                             but the batch has {n}",
                            c.num_proxies
                        ),
                    });
                }
                let call = self.calls.fetch_add(1, Ordering::Relaxed);
                let meta = random_meta_classes(seed, call, n, c.num_proxies);
                Ok(Tensor::from_data(TensorData::new(meta, [n]), &input.embeddings.device()))
            }
        }
    }
}

impl MetricLoss for ManifoldLoss {
    /// Compares embeddings with proxies, so a single embedding is enough.
    fn needs_pairs(&self) -> bool {
        false
    }

    /// PML's `indices_tuple` is the meta classes, not mined pairs.
    fn accepts_mined(&self) -> bool {
        false
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        // The term is already reduced, which every reducer passes through.
        Reducer::Mean
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        match c.meta_classes {
            ManifoldMetaClasses::Labels => {
                check_class_input(NAME, input, c.embedding_size, c.num_proxies, false)?
            }
            // The labels are not used: only the rest is checked.
            ManifoldMetaClasses::Random { .. } => {
                let zeros = vec![0; input.batch_size()];
                let mut unlabelled = LossInput::from_host_labels(input.embeddings.clone(), &zeros);
                unlabelled.reference = input.reference.clone();
                unlabelled.mined = input.mined.clone();
                check_class_input(NAME, &unlabelled, c.embedding_size, 1, false)?
            }
        }
        let n = input.batch_size();
        let k = c.num_proxies;
        let meta = self.meta_classes(input)?;
        let nodes = Tensor::cat(vec![input.embeddings.clone(), self.proxies.val()], 0);
        let m = n + k;
        let device = nodes.device();
        let cos = Distance::Cosine.matrix(nodes.clone(), nodes);
        let off_diagonal = Tensor::<2>::eye(m, &device).neg().add_scalar(1.0);
        let s = cos.clamp_min(0.0).mul_scalar(2.0).exp() * off_diagonal;
        // Every off-diagonal affinity is at least 1, so the row sums are at least m - 1.
        let d = s.clone().sum_dim(1).sqrt().recip(); // [m, 1]
        let s_bar = d.clone() * s * d.transpose();
        let f =
            inverse_of_identity_minus(s_bar.mul_scalar(c.alpha), c.alpha).mul_scalar(1.0 - c.alpha);
        let own = one_hot(&meta, k).float(); // [n, k]
        let f_e = f.clone().slice([0..n, 0..m]);
        let f_p = f.slice([n..m, 0..m]);
        let mut loss = proxy_margin_loss(f_e.clone().slice([0..n, n..m]), own.clone(), c.margin);
        if c.lambda_c != 0.0 {
            let ctx = proxy_margin_loss(Distance::Cosine.matrix(f_e, f_p), own, c.margin);
            loss = loss + ctx.mul_scalar(c.lambda_c);
        }
        Ok(vec![LossTerm::reduced("loss", loss)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_config() {
        let device = Device::flex();
        let bad = [
            ("embedding_size", ManifoldLossConfig::new(0)),
            ("num_proxies", ManifoldLossConfig::new(4).with_num_proxies(0)),
            ("lambda_c", ManifoldLossConfig::new(4).with_lambda_c(-1.0)),
            ("lambda_c", ManifoldLossConfig::new(4).with_lambda_c(f64::INFINITY)),
            ("alpha", ManifoldLossConfig::new(4).with_alpha(0.0)),
            ("alpha", ManifoldLossConfig::new(4).with_alpha(1.0)),
            ("alpha", ManifoldLossConfig::new(4).with_alpha(f64::NAN)),
            ("margin", ManifoldLossConfig::new(4).with_margin(f64::NAN)),
        ];
        for (name, config) in bad {
            match config.init(&device) {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        let wrong = Tensor::<2>::zeros([3, 4], &device);
        assert!(matches!(
            ManifoldLossConfig::new(4).with_num_proxies(2).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn the_product_is_the_inverse() {
        let device = Device::flex();
        // A symmetric matrix of spectral norm 0.9 (eigenvalues 0.9 and -0.5).
        let a = Tensor::<2>::from_floats([[0.2, 0.7], [0.7, 0.2]], &device);
        let inv = inverse_of_identity_minus(a.clone(), 0.9);
        let eye = Tensor::<2>::eye(2, &device);
        let check = (eye.clone() - a).matmul(inv) - eye;
        let err = check.abs().max().into_scalar::<f32>();
        assert!(err < 1e-5, "{err}");
        assert_eq!(factors(0.8), 7);
        assert!(0.99f64.powi(1 << factors(0.99)) / 0.01 < 1e-10);
    }

    #[test]
    fn random_meta_classes_give_every_proxy_an_embedding() {
        let (n, k) = (20, 7);
        let a = random_meta_classes(3, 0, n, k);
        assert_eq!(a.len(), n);
        for proxy in 0..k as i64 {
            assert!(a.contains(&proxy), "proxy {proxy} in {a:?}");
        }
        assert!(a.iter().all(|&m| (0..k as i64).contains(&m)));
        assert_eq!(a, random_meta_classes(3, 0, n, k), "the same seed and call repeat");
        assert_ne!(a, random_meta_classes(3, 1, n, k), "the next call draws anew");
        assert_ne!(a, random_meta_classes(4, 0, n, k), "another seed draws anew");
    }

    #[test]
    fn random_meta_classes_are_the_labels_of_the_same_draw() {
        let device = Device::flex();
        let (n, k, l) = (6, 3, 4);
        let proxies = Tensor::<2>::random([k, l], Distribution::Normal(0.0, 1.0), &device);
        let e = Tensor::<2>::random([n, l], Distribution::Normal(0.0, 1.0), &device);
        let random = ManifoldLossConfig::new(l)
            .with_num_proxies(k)
            .with_meta_classes(ManifoldMetaClasses::Random { seed: 9 })
            .init_with(proxies.clone())
            .unwrap();
        let labelled = ManifoldLossConfig::new(l).with_num_proxies(k).init_with(proxies).unwrap();
        let ignored = Tensor::<1, Int>::from_ints([0, 5, 9, 0, 1, 2], &device);
        let a = random.forward(e.clone(), ignored).unwrap().into_scalar::<f32>();
        let meta = random_meta_classes(9, 0, n, k);
        let y = Tensor::<1, Int>::from_data(TensorData::new(meta, [n]), &device);
        let b = labelled.forward(e.clone(), y).unwrap().into_scalar::<f32>();
        assert_eq!(a, b);
        let too_few = e.slice([0..2, 0..l]);
        let y = Tensor::<1, Int>::from_ints([0, 0], &device);
        assert!(matches!(random.forward(too_few, y), Err(LossError::ShapeMismatch { .. })));
    }

    #[test]
    fn labels_out_of_range_are_rejected() {
        let device = Device::flex();
        let loss = ManifoldLossConfig::new(2).with_num_proxies(3).init(&device).unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 3], &device);
        assert!(matches!(loss.forward(e, y), Err(LossError::LabelOutOfRange { .. })));
    }

    #[test]
    fn duplicates_and_zero_rows_are_finite_with_a_connected_graph() {
        let device = Device::flex().autodiff();
        let proxies = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], &device);
        let loss = ManifoldLossConfig::new(2).with_num_proxies(3).init_with(proxies).unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 2.0]], &device)
            .require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1, 2], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert!(value.clone().into_scalar::<f32>().is_finite());
        let grads = value.backward();
        let ge = e.grad(&grads).expect("embeddings in the graph");
        assert!(ge.to_data().iter::<f32>().all(f32::is_finite));
        let gp = loss.proxies.val().grad(&grads).expect("proxies in the graph");
        assert!(gp.to_data().iter::<f32>().all(f32::is_finite));
    }
}
