use burn::config::Config;
use burn::tensor::{Tensor, TensorData};

use super::Regularizer;
use super::regularizer_trait::check_reducer;
use crate::error::{LossError, LossResult, invalid};
use crate::ops::{l2_normalize, safe_sqrt};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "SparseCentersRegularizer";

/// Configuration of [`SparseCentersRegularizer`]; PML's
/// `SparseCentersRegularizer(num_classes, centers_per_class)`, with cosine similarity.
///
/// As a weight regularizer, 0 (the default) for either count takes it from the loss
/// (`SoftTripleLoss`'s centers per class, `SubCenterArcFaceLoss`'s sub-centers); as an
/// embedding regularizer both must be given, and the batch must hold
/// `num_classes * centers_per_class` embeddings.
#[derive(Config, Debug)]
pub struct SparseCentersRegularizerConfig {
    /// Number of classes (0: the loss's).
    #[config(default = 0)]
    pub num_classes: usize,
    /// Centers of each class, at least 2 (0: the loss's).
    #[config(default = 0)]
    pub centers_per_class: usize,
    /// How the per-pair values are reduced; `None`: PML's default, the sum divided by
    /// `num_classes * centers_per_class * (centers_per_class - 1)`.
    #[config(default = "None")]
    pub reducer: Option<Reducer>,
}

/// SoftTriple's center regularizer (Qian et al., "SoftTriple Loss: Deep Metric Learning
/// Without Triplet Sampling", ICCV 2019; PML's `SparseCentersRegularizer`): for every pair of
/// distinct centers `i < j` of the same class, with `s_ij` their cosine similarity,
///
/// `reg_ij = sqrt(2 + tiny - min(2 s_ij, 2))` (`= |w^_i - w^_j|`),
///
/// summed and divided by `2 * #pairs = C K (K - 1)`. Rows are class-major (rows `cK..(c+1)K`
/// are class `c`'s centers). Computed per class (`[C, K, K]` similarities, not PML's
/// `[CK, CK]`). The square root has gradient 0 where two centers coincide (PML's is infinite
/// in float32, where `2 + tiny` rounds to 2).
#[derive(Clone, Debug)]
pub struct SparseCentersRegularizer {
    num_classes: usize,
    centers_per_class: usize,
    reducer: Option<Reducer>,
}

impl SparseCentersRegularizerConfig {
    /// Validates the configuration and builds the regularizer; both counts must be set.
    pub fn init(&self) -> LossResult<SparseCentersRegularizer> {
        if self.num_classes == 0 {
            return Err(invalid(
                NAME,
                "num_classes",
                "must be at least 1 (0 is only filled in from a loss's class weights)",
            ));
        }
        if self.centers_per_class < 2 {
            return Err(invalid(
                NAME,
                "centers_per_class",
                format!("must be at least 2, as PML asserts, got {}", self.centers_per_class),
            ));
        }
        check_reducer(NAME, &self.reducer)?;
        Ok(SparseCentersRegularizer {
            num_classes: self.num_classes,
            centers_per_class: self.centers_per_class,
            reducer: self.reducer.clone(),
        })
    }

    /// This configuration with the counts left at 0 taken from a loss whose class weights have
    /// `rows` rows, `centers_per_class` per class.
    pub fn filled_from(&self, rows: usize, centers_per_class: usize) -> Self {
        let mut c = self.clone();
        if c.centers_per_class == 0 {
            c.centers_per_class = centers_per_class;
        }
        if c.num_classes == 0 && c.centers_per_class > 0 {
            c.num_classes = rows / c.centers_per_class;
        }
        c
    }
}

impl Regularizer for SparseCentersRegularizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        let (c, k) = (self.num_classes, self.centers_per_class);
        self.reducer.clone().unwrap_or(Reducer::Divisor { divisor: (c * k * (k - 1)) as f64 })
    }

    fn terms(&self, x: Tensor<2>) -> LossResult<Vec<LossTerm>> {
        let [rows, d] = x.dims();
        let (c, k) = (self.num_classes, self.centers_per_class);
        if rows != c * k {
            return Err(LossError::ShapeMismatch {
                component: NAME,
                detail: format!(
                    "{rows} rows, but num_classes {c} x centers_per_class {k} = {}",
                    c * k
                ),
            });
        }
        let device = x.device();
        let unit = l2_normalize(x).reshape([c, k, d]);
        let sim = unit.clone().matmul(unit.swap_dims(1, 2)); // [C, K, K]
        let doubled = sim.mul_scalar(2.0).clamp_max(2.0);
        let tiny = f64::from(f32::MIN_POSITIVE);
        let reg = safe_sqrt(doubled.neg().add_scalar(2.0 + tiny).reshape([c, k * k]));
        // Pairs i < j within each class (PML's triu(diagonal=1) blocks).
        let upper: Vec<f32> = (0..k * k).map(|e| if e / k < e % k { 1.0 } else { 0.0 }).collect();
        let mask =
            Tensor::<2>::from_data(TensorData::new(upper, [1, k * k]), &device).expand([c, k * k]);
        Ok(vec![LossTerm::masked("loss", TermKind::Element, reg, mask)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_checked_and_filled_from_the_loss() {
        let cfg = SparseCentersRegularizerConfig::new();
        assert!(cfg.init().is_err());
        let filled = cfg.filled_from(30, 3);
        assert_eq!((filled.num_classes, filled.centers_per_class), (10, 3));
        assert!(filled.init().is_ok());
        let one = cfg.filled_from(10, 1);
        let err = one.init().unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "centers_per_class", .. }));
    }
}
