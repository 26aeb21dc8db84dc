use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::{Mined, Miner, Triplets, all_pairs};
use crate::error::{LossResult, invalid};

/// The `eps` that PyTorch's `pairwise_distance` adds to every difference (`|x - y + eps|`).
const PAIRWISE_EPS: f64 = 1e-6;

/// Configuration of [`AngularMiner`]; defaults are PML's `AngularMiner()`.
#[derive(Config, Debug)]
pub struct AngularMinerConfig {
    /// The angle threshold in degrees, in `[0, 90]`: a triplet is kept when its angle at the
    /// negative is strictly larger.
    #[config(default = 20.0)]
    pub angle: f64,
}

/// Angle-based triplet mining after Wang et al., "Deep Metric Learning with Angular Loss"
/// (ICCV 2017), as PML's `AngularMiner`: of all triplets `(a, p, n)` given by the labels, those
/// whose angle `atan(|a - p| / (2 |n - c|))`, with `c = (a + p) / 2`, is larger than the
/// threshold.
///
/// The distances are Euclidean on the embeddings as given (PML's `pairwise_distance` does not
/// normalize, although the miner requires a normalizing L2 distance), with PyTorch's `1e-6`
/// added to every difference.
#[derive(Module, Debug)]
pub struct AngularMiner {
    #[module(skip)]
    config: AngularMinerConfig,
}

impl AngularMinerConfig {
    /// Validates the configuration and builds the miner.
    pub fn init(&self) -> LossResult<AngularMiner> {
        let a = self.angle;
        if !(0.0..=90.0).contains(&a) {
            return Err(invalid("AngularMiner", "angle", format!("{a} is not in [0, 90] degrees")));
        }
        Ok(AngularMiner { config: self.clone() })
    }
}

impl Miner for AngularMiner {
    fn name(&self) -> &'static str {
        "AngularMiner"
    }

    fn mine_against(
        &self,
        embeddings: Tensor<2>,
        labels: &Tensor<1, Int>,
        ref_embeddings: Tensor<2>,
        ref_labels: &Tensor<1, Int>,
        same_set: bool,
    ) -> LossResult<Mined> {
        let [n, d] = embeddings.dims();
        let m = ref_embeddings.dims()[0];
        let (pos, neg) = all_pairs(labels, ref_labels, same_set);
        let candidates = super::pair_product(&pos, &neg);
        if self.config.angle >= 90.0 {
            // atan never exceeds 90 degrees: nothing is mined.
            return Ok(Mined::Triplets(Triplets::Dense(candidates.zeros_like())));
        }
        let e = PAIRWISE_EPS;
        let q = embeddings;
        let r = ref_embeddings;
        // Squared norms, coordinate sums and inner products.
        let qq = q.clone().square().sum_dim(1); // [n, 1]
        let rr = r.clone().square().sum_dim(1); // [m, 1]
        let qs = q.clone().sum_dim(1); // [n, 1]
        let rs = r.clone().sum_dim(1); // [m, 1]
        let qr = q.matmul(r.clone().transpose()); // [n, m]
        let rr_gram = r.clone().matmul(r.transpose()); // [m, m]
        let de2 = d as f64 * e * e;
        // |a - p + e|^2 for every anchor-positive pair: [n, m].
        let ap2 = qq.clone() + rr.clone().transpose() - qr.clone().mul_scalar(2.0)
            + (qs.clone() - rs.clone().transpose()).mul_scalar(2.0 * e)
            + de2;
        // |n - c + e|^2 with c = (a + p) / 2, indexed [a, p, n].
        let cc = (qq + rr.clone().transpose() + qr.clone().mul_scalar(2.0)).div_scalar(4.0); // [n, m]
        let cs = (qs + rs.clone().transpose()).div_scalar(2.0); // [n, m]
        let nn = rr.reshape([1, 1, m]);
        let ns = rs.reshape([1, 1, m]);
        // n . c = (a . n + p . n) / 2
        let nc_dot = (qr.reshape([n, 1, m]).expand([n, m, m])
            + rr_gram.reshape([1, m, m]).expand([n, m, m]))
        .div_scalar(2.0);
        let nc2 = nn.expand([n, m, m]) + cc.reshape([n, m, 1]).expand([n, m, m])
            - nc_dot.mul_scalar(2.0)
            + (ns.expand([n, m, m]) - cs.reshape([n, m, 1]).expand([n, m, m])).mul_scalar(2.0 * e)
            + de2;
        let ap2 = ap2.clamp_min(0.0).reshape([n, m, 1]).expand([n, m, m]);
        let nc2 = nc2.clamp_min(0.0);
        // atan(ap / (2 nc)) > angle  <=>  ap > 2 tan(angle) nc (both sides >= 0), squared.
        let t = self.config.angle.to_radians().tan();
        let keep = ap2.greater(nc2.mul_scalar(4.0 * t * t)).float();
        Ok(Mined::Triplets(Triplets::Dense(candidates * keep)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_an_angle_outside_0_90() {
        for a in [-1.0, 90.5, f64::NAN, f64::INFINITY] {
            let err = AngularMinerConfig::new().with_angle(a).init().unwrap_err();
            assert!(matches!(err, LossError::InvalidConfig { field: "angle", .. }));
        }
        assert!(AngularMinerConfig::new().with_angle(90.0).init().is_ok());
    }
}
