use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::{Mined, Miner, Triplets};
use crate::error::{LossError, LossResult};

const NAME: &str = "EmbeddingsAlreadyPackagedAsTriplets";

/// Configuration of [`EmbeddingsAlreadyPackagedAsTriplets`] (PML's miner of that name); it has
/// no fields.
#[derive(Config, Debug)]
pub struct EmbeddingsAlreadyPackagedAsTripletsConfig {}

/// The batch is already a list of triplets: rows `3k`, `3k + 1`, `3k + 2` are the anchor, the
/// positive and the negative of triplet `k` (PML's `EmbeddingsAlreadyPackagedAsTriplets`; the
/// layout of PaddlePaddle's and MindSpore's triplet readers).
///
/// Returns [`Triplets::PerAnchor`]: anchor row `3k` uses positive `3k + 1` and negative
/// `3k + 2` (valid 1); rows `3k + 1` and `3k + 2` have no triplet (valid 0; their indices point
/// into their own triplet but are not used). The labels are not looked at, as in PML. A batch
/// whose size is not a multiple of 3 is a [`LossError::ShapeMismatch`]; mining against a
/// separate reference set is [`LossError::Unsupported`].
#[derive(Module, Debug)]
pub struct EmbeddingsAlreadyPackagedAsTriplets {
    #[module(skip)]
    config: EmbeddingsAlreadyPackagedAsTripletsConfig,
}

impl EmbeddingsAlreadyPackagedAsTripletsConfig {
    /// Builds the miner.
    pub fn init(&self) -> LossResult<EmbeddingsAlreadyPackagedAsTriplets> {
        Ok(EmbeddingsAlreadyPackagedAsTriplets { config: self.clone() })
    }
}

impl Miner for EmbeddingsAlreadyPackagedAsTriplets {
    fn name(&self) -> &'static str {
        NAME
    }

    fn mine_against(
        &self,
        embeddings: Tensor<2>,
        _labels: &Tensor<1, Int>,
        _ref_embeddings: Tensor<2>,
        _ref_labels: &Tensor<1, Int>,
        same_set: bool,
    ) -> LossResult<Mined> {
        if !same_set {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "a separate reference set (the triplets are rows of the batch itself)"
                    .into(),
            });
        }
        let n = embeddings.dims()[0];
        if !n.is_multiple_of(3) {
            return Err(LossError::ShapeMismatch {
                component: NAME,
                detail: format!(
                    "a batch of {n} embeddings is not a whole number of (anchor, positive, \
                     negative) triplets: its size must be a multiple of 3"
                ),
            });
        }
        let device = embeddings.device();
        let rows = Tensor::<1, Int>::arange(0..n as i64, &device);
        let first = rows.clone().div_scalar(3).mul_scalar(3); // 3k for rows 3k, 3k+1, 3k+2
        let positive = first.clone().add_scalar(1);
        let negative = first.clone().add_scalar(2);
        let valid = rows.equal(first).float();
        Ok(Mined::Triplets(Triplets::PerAnchor { positive, negative, valid }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distance::Distance;
    use crate::loss::{LossInput, MetricLoss, TripletMarginLossConfig};
    use crate::reducer::Reducer;
    use burn::tensor::Device;

    fn ints(t: Tensor<1, Int>) -> Vec<i64> {
        t.into_data().convert::<i64>().try_to_vec::<i64>().unwrap()
    }

    #[test]
    fn anchors_are_every_third_row() {
        let device = Device::flex();
        let e = Tensor::<2>::zeros([6, 2], &device);
        let y = Tensor::<1, Int>::from_ints([0, 0, 1, 2, 2, 3], &device);
        let miner = EmbeddingsAlreadyPackagedAsTripletsConfig::new().init().unwrap();
        let Mined::Triplets(Triplets::PerAnchor { positive, negative, valid }) =
            miner.mine(e, y).unwrap()
        else {
            panic!("expected per-anchor triplets");
        };
        assert_eq!(valid.into_data().try_to_vec::<f32>().unwrap(), [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        let (p, q) = (ints(positive), ints(negative));
        assert_eq!((p[0], q[0], p[3], q[3]), (1, 2, 4, 5));
    }

    #[test]
    fn a_batch_not_a_multiple_of_three_is_an_error_naming_its_size() {
        let device = Device::flex();
        let e = Tensor::<2>::zeros([7, 2], &device);
        let y = Tensor::<1, Int>::zeros([7], &device);
        let miner = EmbeddingsAlreadyPackagedAsTripletsConfig::new().init().unwrap();
        let err = miner.mine(e, y).unwrap_err();
        assert!(matches!(err, LossError::ShapeMismatch { .. }) && err.to_string().contains("7"));
    }

    #[test]
    fn is_registered_in_miner_config() {
        let config =
            crate::MinerConfig::default_for("EmbeddingsAlreadyPackagedAsTriplets").unwrap();
        assert_eq!(config.init().unwrap().name(), NAME);
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(json, "{\"EmbeddingsAlreadyPackagedAsTriplets\":{}}");
        let back: crate::MinerConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.name(), NAME);
    }

    #[test]
    fn a_reference_set_is_an_error() {
        let device = Device::flex();
        let e = Tensor::<2>::zeros([3, 2], &device);
        let y = Tensor::<1, Int>::zeros([3], &device);
        let miner = EmbeddingsAlreadyPackagedAsTripletsConfig::new().init().unwrap();
        let err = miner.mine_with_reference(e.clone(), y.clone(), e, y).unwrap_err();
        assert!(matches!(err, LossError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn with_triplet_margin_loss_gives_paddle_tripletloss() {
        // PaddlePaddle's tripletloss.py on two triples: rows L2-normalized, then
        // mean_k relu(|a - p|^2 + 0.1 - |a - n|^2).
        // Triple 0: a = (1, 0), p = (3, 4) -> (0.6, 0.8), n = (0, -2) -> (0, -1):
        //   |a - p|^2 = 0.16 + 0.64 = 0.8, |a - n|^2 = 1 + 1 = 2: relu(0.8 + 0.1 - 2) = 0.
        // Triple 1: a = (0, 5) -> (0, 1), p = (1, 0), n = (1, 1) -> (s, s), s = 1/sqrt(2):
        //   |a - p|^2 = 2, |a - n|^2 = s^2 + (1 - s)^2 = 2 - sqrt(2) = 0.585786...:
        //   relu(2 + 0.1 - 0.585786) = 1.514214.
        // Mean over the two triples: 0.757107.
        let device = Device::flex().autodiff();
        let e = Tensor::<2>::from_floats(
            [[1.0, 0.0], [3.0, 4.0], [0.0, -2.0], [0.0, 5.0], [1.0, 0.0], [1.0, 1.0]],
            &device,
        )
        .require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1, 2, 2, 3], &device);
        let miner = EmbeddingsAlreadyPackagedAsTripletsConfig::new().init().unwrap();
        let mined = miner.mine(e.clone(), y.clone()).unwrap();
        let loss = TripletMarginLossConfig::new()
            .with_margin(0.1)
            .with_distance(Distance::squared_l2())
            .with_reducer(Reducer::Mean)
            .init()
            .unwrap();
        let v = loss.forward_input(&LossInput::new(e.clone(), y).with_mined(mined)).unwrap();
        let expected = (2.1 - (2.0 - 2f64.sqrt())) / 2.0;
        let got = v.clone().into_scalar::<f32>() as f64;
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        let g = e.grad(&v.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g[..6].iter().all(|v| *v == 0.0), "the first triple is inactive: {g:?}");
    }
}
