use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_positive};
use crate::ops::{masked_logsumexp, same_label, softplus};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "InstanceLoss";

/// Configuration of [`InstanceLoss`]; defaults are PML's `InstanceLoss(gamma=64)`. PML asserts
/// the cosine similarity, so there is no `distance` field.
#[derive(Config, Debug)]
pub struct InstanceLossConfig {
    /// Factor multiplying the cosine similarities (the logits of the cross-entropy).
    #[config(default = 64.0)]
    pub gamma: f64,
    /// How the per-embedding values are reduced (PML's default: mean).
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Instance loss (Zheng et al., "Dual-Path Convolutional Image-Text Embeddings with Instance
/// Loss", ACM TOMM 2020), as PML's `InstanceLoss`.
///
/// With `S` the `[n, n]` cosine similarity matrix of the batch (its diagonal included),
/// embedding `i` gets the cross-entropy `loss_i = logsumexp_j(gamma S_ij) - gamma S_{i, t_i}`
/// (computed as `softplus(logsumexp_{j != t_i}(gamma S_ij) - gamma S_{i, t_i})`),
/// where `t_i` is the rank of `y_i` among the batch's distinct labels in increasing order
/// (PML's `torch.unique(labels, return_inverse=True)`): the target column is the embedding whose
/// batch position equals that rank, as in PML. With all labels distinct and sorted by position
/// (`y_i = i`) the target is the embedding itself. The rank is computed on the device.
///
/// Mined pairs and a reference set are rejected (`Unsupported`), as in PML.
#[derive(Module, Debug)]
pub struct InstanceLoss {
    #[module(skip)]
    config: InstanceLossConfig,
}

impl InstanceLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<InstanceLoss> {
        check_positive(NAME, "gamma", self.gamma)?;
        self.reducer.validate()?;
        Ok(InstanceLoss { config: self.clone() })
    }
}

impl InstanceLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &InstanceLossConfig {
        &self.config
    }
}

/// One-hot `[n, n]` matrix of each label's rank among the distinct labels (increasing order).
///
/// # Shapes
/// - `labels`: `[n]` -> `[n, n]`
fn label_rank_one_hot(labels: &Tensor<1, Int>) -> Tensor<2> {
    let n = labels.dims()[0];
    let device = labels.device();
    let positions = Tensor::<1, Int>::arange(0..n as i64, &device);
    // earlier[j, k] = k < j; first[j] = no earlier embedding has label y_j.
    let earlier = positions
        .clone()
        .reshape([n, 1])
        .expand([n, n])
        .greater(positions.clone().reshape([1, n]).expand([n, n]));
    let repeated = same_label(labels, labels).bool_and(earlier).float().sum_dim(1); // [n, 1]
    let first = repeated.lower_equal_elem(0.0).float().reshape([1, n]);
    // rank[i] = number of distinct labels below y_i.
    let below = labels
        .clone()
        .reshape([n, 1])
        .expand([n, n])
        .greater(labels.clone().reshape([1, n]).expand([n, n]))
        .float();
    let rank = (below * first).sum_dim(1); // [n, 1], exact small integers
    let columns = positions.float().reshape([1, n]);
    rank.expand([n, n]).equal(columns.expand([n, n])).float()
}

impl MetricLoss for InstanceLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn accepts_mined(&self) -> bool {
        false
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        if !input.same_set() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "a reference set (the loss is defined on the batch alone)".into(),
            });
        }
        if input.mined.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "mined pairs or triplets (the loss uses every embedding)".into(),
            });
        }
        let n = input.batch_size();
        let e = input.embeddings.clone();
        let logits = Distance::Cosine.matrix(e.clone(), e).mul_scalar(self.config.gamma);
        let one_hot = label_rank_one_hot(&input.labels);
        let target = (logits.clone() * one_hot.clone()).sum_dim(1); // [n, 1]
        // -log softmax = log(1 + sum_{j != t} exp(z_j - z_t)): a softplus of the log-ratio keeps
        // its relative precision when the target dominates (a difference of the log-sum-exp
        // and the target logit does not).
        let others = masked_logsumexp(logits, one_hot.lower_elem(0.5), false);
        let loss = softplus(others - target).reshape([n]);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, loss)])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::miner::Mined;

    #[test]
    fn rejects_bad_config_naming_the_field() {
        let bad = [
            (InstanceLossConfig::new().with_gamma(0.0), "gamma"),
            (InstanceLossConfig::new().with_gamma(f64::NAN), "gamma"),
            (InstanceLossConfig::new().with_reducer(Reducer::Divisor { divisor: -2.0 }), "divisor"),
        ];
        for (config, name) in bad {
            match config.init() {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(InstanceLossConfig::new().init().is_ok());
    }

    #[test]
    fn the_target_is_the_rank_of_the_label_among_the_distinct_labels() {
        let device = Device::flex();
        let y = Tensor::<1, Int>::from_ints([7, 3, 7, 9, 3], &device);
        // distinct labels 3, 7, 9: ranks 1, 0, 1, 2, 0
        let v = label_rank_one_hot(&y).into_data().try_to_vec::<f32>().unwrap();
        let argmax: Vec<usize> =
            v.chunks(5).map(|r| r.iter().position(|&x| x == 1.0).unwrap()).collect();
        assert_eq!(argmax, vec![1, 0, 1, 2, 0]);
        assert!(v.chunks(5).all(|r| r.iter().sum::<f32>() == 1.0));
    }

    #[test]
    fn mined_input_and_a_reference_set_are_rejected() {
        let device = Device::flex();
        let loss = InstanceLossConfig::new().init().unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let with_ref = LossInput::new(e.clone(), y.clone()).with_reference(e.clone(), y.clone());
        assert!(matches!(loss.forward_input(&with_ref), Err(LossError::Unsupported { .. })));
        let z = Tensor::<2>::zeros([2, 2], &device);
        let mined =
            LossInput::new(e, y).with_mined(Mined::Pairs { positive: z.clone(), negative: z });
        assert!(matches!(loss.forward_input(&mined), Err(LossError::Unsupported { .. })));
        assert!(!loss.accepts_mined() && !loss.accepts_reference());
    }
}
