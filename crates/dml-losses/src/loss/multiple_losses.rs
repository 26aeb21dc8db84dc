use burn::config::Config;
use burn::module::{Module, ParamId};
use burn::tensor::Device;

use super::{
    ClassWeights, Loss, LossConfig, LossInput, MetricLoss, SoftmaxLossConfig,
    TripletMarginLossConfig,
};
use crate::error::{LossError, LossResult, invalid};
use crate::miner::{AnyMiner, Miner, MinerConfig};
use crate::reducer::{LossTerm, Reducer};

const NAME: &str = "MultipleLosses";

/// One loss of a [`MultipleLossesConfig`]: the `i`-th entries of PML's `losses`, `miners` and
/// `weights` lists side by side (a TOML array has no `None`, so PML's parallel lists with gaps
/// become one table per loss). `name` plays the part of the key of PML's dictionary form.
///
/// In TOML:
/// ```toml
/// [[loss.MultipleLosses.losses]]
/// name = "metric"
/// loss.TripletMarginLoss = { margin = 0.1 }
/// miner = "BatchHardMiner"
///
/// [[loss.MultipleLosses.losses]]
/// name = "classifier"
/// weight = 0.5
/// loss = "SoftmaxLoss"
/// ```
#[derive(Config, Debug)]
pub struct SubLossConfig {
    /// The loss.
    pub loss: LossConfig,
    /// The miner whose pairs or triplets this loss trains on (PML's `miners[i]`). None: every
    /// pair or triplet of the batch, or what the caller mined when no loss has a miner of its
    /// own.
    pub miner: Option<MinerConfig>,
    /// The factor of this loss in the sum (PML's `weights[i]`, 1 by default).
    #[config(default = 1.0)]
    pub weight: f64,
    /// A name for the loss (the key of PML's dictionary form): shown in error messages, unique
    /// within the list when given.
    pub name: Option<String>,
}

/// Configuration of [`MultipleLosses`]: PML's `MultipleLosses(losses, miners=None,
/// weights=None)` as one entry per loss.
#[derive(Config, Debug)]
pub struct MultipleLossesConfig {
    /// The losses, each with its miner and weight (at least one).
    pub losses: Vec<SubLossConfig>,
}

/// A weighted sum of losses, each with its own miner (PML's `MultipleLosses`):
/// `L = sum_i w_i L_i(embeddings, labels, mined_i)`.
///
/// `mined_i` is what loss `i`'s own miner selects from the batch; a loss without a miner uses
/// every pair or triplet, or, when no loss has a miner, what the caller mined (PML passes its
/// `indices_tuple` to every loss then, and refuses one when any loss has a miner). Each loss is
/// reduced by its own reducer before the sum. Learnable state stays with its loss, at the
/// module path `losses.<i>.<LossName>.<param>` (for example `losses.1.SoftmaxLoss.weight`), so a
/// checkpoint loads into the same list of losses.
#[derive(Module, Debug)]
pub struct MultipleLosses {
    /// The losses, in the configured order.
    pub losses: Vec<Loss>,
    /// Each loss's miner (`None` where it has none).
    pub miners: Vec<Option<AnyMiner>>,
    #[module(skip)]
    config: MultipleLossesConfig,
}

impl SubLossConfig {
    /// How the entry is named in error messages: `entry 1 ("metric")`.
    fn label(&self, i: usize) -> String {
        match &self.name {
            Some(name) => format!("entry {i} ({name:?})"),
            None => format!("entry {i}"),
        }
    }
}

impl MultipleLossesConfig {
    /// The catalogue's default (PML's `losses` has none): PML's `TrainWithClassifier` pairing,
    /// `TripletMarginLoss()` named `"metric"` plus `SoftmaxLoss` (a linear classifier on the
    /// embedding with cross-entropy, class count to be set) named `"classifier"`, weights 1,
    /// no miners.
    pub fn joint_default() -> Self {
        Self::new(vec![
            SubLossConfig::new(LossConfig::TripletMarginLoss(TripletMarginLossConfig::new()))
                .with_name(Some("metric".into())),
            SubLossConfig::new(LossConfig::SoftmaxLoss(SoftmaxLossConfig::new(0, 0)))
                .with_name(Some("classifier".into())),
        ])
    }

    /// Checks the list and every loss and miner in it, without building the losses (no class
    /// weights or proxies are drawn).
    ///
    /// # Errors
    /// [`LossError::InvalidConfig`] for the field `losses`, naming the entry: an empty list, a
    /// weight that is not finite, a name used twice, a loss or miner configuration that is
    /// invalid (with its own error), a miner given to a loss that takes none, or a loss reduced
    /// by `Reducer::None` (its per-element values cannot be summed with the others).
    pub fn validate(&self) -> LossResult<()> {
        if self.losses.is_empty() {
            return Err(invalid(NAME, "losses", "must list at least one loss"));
        }
        for (i, entry) in self.losses.iter().enumerate() {
            let at =
                |reason: String| invalid(NAME, "losses", format!("{}: {reason}", entry.label(i)));
            if !entry.weight.is_finite() {
                return Err(at(format!("`weight` must be finite, got {}", entry.weight)));
            }
            if let Some(name) = &entry.name
                && self.losses[..i].iter().any(|e| e.name.as_ref() == Some(name))
            {
                return Err(at(format!("the name {name:?} is used twice")));
            }
            entry.loss.validate().map_err(|e| at(e.to_string()))?;
            if unreduced(&entry.loss) {
                return Err(at(format!(
                    "{} uses `Reducer::None`, whose per-element values cannot be added to the \
                     other losses; give it a reducing reducer",
                    entry.loss.name()
                )));
            }
            if let Some(miner) = &entry.miner {
                miner.init().map_err(|e| at(e.to_string()))?;
                if !entry.loss.accepts_mined() {
                    return Err(at(format!(
                        "{} takes no mined pairs or triplets; remove its miner {}",
                        entry.loss.name(),
                        miner.name()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Validates the configuration and builds every loss (class weights and proxies drawn from
    /// the device's generator, in the order of the list) and miner.
    pub fn init(&self, device: &Device) -> LossResult<MultipleLosses> {
        self.validate()?;
        let mut losses = Vec::with_capacity(self.losses.len());
        let mut miners = Vec::with_capacity(self.losses.len());
        for (i, entry) in self.losses.iter().enumerate() {
            let at = |e: LossError| invalid(NAME, "losses", format!("{}: {e}", entry.label(i)));
            losses.push(entry.loss.init(device).map_err(at)?);
            miners.push(entry.miner.as_ref().map(MinerConfig::init).transpose().map_err(at)?);
        }
        Ok(MultipleLosses { losses, miners, config: self.clone() })
    }

    /// Validates the configuration and assembles it from losses already built (for example
    /// with given class weights, `init_with` of each loss), one per entry and of the entry's
    /// kind; the miners are built from the configuration.
    ///
    /// # Errors
    /// [`LossError::InvalidConfig`] for the field `losses` when the count or a kind differs.
    pub fn init_with(&self, losses: Vec<Loss>) -> LossResult<MultipleLosses> {
        self.validate()?;
        if losses.len() != self.losses.len() {
            return Err(invalid(
                NAME,
                "losses",
                format!("{} entries but {} losses given", self.losses.len(), losses.len()),
            ));
        }
        let mut miners = Vec::with_capacity(losses.len());
        for (i, (entry, loss)) in self.losses.iter().zip(&losses).enumerate() {
            if loss.name() != entry.loss.name() {
                return Err(invalid(
                    NAME,
                    "losses",
                    format!(
                        "{}: a {} given for a {}",
                        entry.label(i),
                        loss.name(),
                        entry.loss.name()
                    ),
                ));
            }
            let at = |e: LossError| invalid(NAME, "losses", format!("{}: {e}", entry.label(i)));
            miners.push(entry.miner.as_ref().map(MinerConfig::init).transpose().map_err(at)?);
        }
        Ok(MultipleLosses { losses, miners, config: self.clone() })
    }

    /// Whether an outer miner's selection can be given: no loss has a miner of its own and
    /// every loss takes mined pairs or triplets.
    pub fn accepts_mined(&self) -> bool {
        self.losses.iter().all(|e| e.miner.is_none() && e.loss.accepts_mined())
    }
}

/// True when `loss` is configured with `Reducer::None` (its `reducer` field serializes as
/// `"None"`).
fn unreduced(loss: &LossConfig) -> bool {
    let Ok(value) = serde_json::to_value(loss) else { return false };
    value
        .as_object()
        .and_then(|m| m.values().next())
        .and_then(|inner| inner.get("reducer"))
        .is_some_and(|r| r.as_str() == Some("None"))
}

impl MultipleLosses {
    /// The configuration the losses were built with.
    pub fn config(&self) -> &MultipleLossesConfig {
        &self.config
    }

    /// The weight of each loss, in order.
    pub fn weights(&self) -> Vec<f64> {
        self.config.losses.iter().map(|e| e.weight).collect()
    }

    /// The learnable margins of every loss ([`Loss::margin_params`]).
    pub fn margin_params(&self) -> Vec<ParamId> {
        self.losses.iter().flat_map(Loss::margin_params).collect()
    }
}

impl MetricLoss for MultipleLosses {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The terms are the weighted losses, already reduced: they are summed.
    fn reducer(&self) -> Reducer {
        Reducer::Sum
    }

    /// Each loss checks its own batch size.
    fn needs_pairs(&self) -> bool {
        false
    }

    fn accepts_mined(&self) -> bool {
        self.miners.iter().all(Option::is_none) && self.losses.iter().all(MetricLoss::accepts_mined)
    }

    /// PML's `MultipleLosses.forward` takes no reference set.
    fn accepts_reference(&self) -> bool {
        false
    }

    /// The class weights of its only loss with learnable class weights or proxies (the
    /// classifier of PML's `TrainWithClassifier` pairing), so a weight regularizer acts on them
    /// (with its own weight, not the loss's); `None` when no loss has any, or when several do
    /// (which would be ambiguous: PML's `MultipleLosses` has no weight regularizer of its own;
    /// a training configuration refuses one then).
    fn class_weights(&self) -> Option<ClassWeights> {
        let mut with = self.losses.iter().filter_map(MetricLoss::class_weights);
        let first = with.next();
        if with.next().is_some() { None } else { first }
    }

    /// One already-reduced term per loss, `w_i L_i`, all named `"loss"`.
    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        if input.reference.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "a reference set (PML's MultipleLosses takes embeddings, labels and \
                         mined tuples only)"
                    .into(),
            });
        }
        let own_miners = self.miners.iter().any(Option::is_some);
        if own_miners && input.mined.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "mined pairs or triplets while some of its losses have miners of their \
                         own (PML asserts the same)"
                    .into(),
            });
        }
        let mut terms = Vec::with_capacity(self.losses.len());
        for ((loss, miner), entry) in self.losses.iter().zip(&self.miners).zip(&self.config.losses)
        {
            let value = match miner {
                Some(m) => {
                    let mined = m.mine(input.embeddings.clone(), input.labels.clone())?;
                    loss.forward_input(&input.clone().with_mined(mined))?
                }
                None => loss.forward_input(input)?,
            };
            if value.dims() != [1] {
                return Err(LossError::Unsupported {
                    component: NAME,
                    detail: format!(
                        "{} gave {:?} values instead of one (Reducer::None)",
                        loss.name(),
                        value.dims()
                    ),
                });
            }
            terms.push(LossTerm::reduced("loss", value.mul_scalar(entry.weight)));
        }
        Ok(terms)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use burn::tensor::{Int, Tensor};

    use super::*;
    use crate::loss::ContrastiveLossConfig;
    use crate::miner::BatchHardMinerConfig;
    use crate::reducer::Reducer;

    fn entry(loss: LossConfig) -> SubLossConfig {
        SubLossConfig::new(loss)
    }

    fn batch(device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        let x = Tensor::<2>::from_floats(
            [[1.0, 0.0, 0.2], [0.9, 0.1, 0.0], [0.0, 1.0, 0.3], [0.1, 0.8, -0.2]],
            device,
        );
        (x, Tensor::<1, Int>::from_ints([0, 0, 1, 1], device))
    }

    #[test]
    fn rejects_bad_lists_naming_the_entry() {
        let empty = MultipleLossesConfig::new(vec![]);
        assert!(matches!(empty.validate(), Err(LossError::InvalidConfig { field: "losses", .. })));
        let contrastive = LossConfig::ContrastiveLoss(ContrastiveLossConfig::new());
        let bad_weight = MultipleLossesConfig::new(vec![
            entry(contrastive.clone()),
            entry(contrastive.clone()).with_weight(f64::NAN),
        ]);
        let msg = bad_weight.validate().unwrap_err().to_string();
        assert!(msg.contains("entry 1") && msg.contains("weight"), "{msg}");
        let twice = MultipleLossesConfig::new(vec![
            entry(contrastive.clone()).with_name(Some("a".into())),
            entry(contrastive.clone()).with_name(Some("a".into())),
        ]);
        assert!(twice.validate().unwrap_err().to_string().contains("used twice"));
        let bad_inner = MultipleLossesConfig::new(vec![
            entry(LossConfig::ContrastiveLoss(
                ContrastiveLossConfig::new().with_neg_margin(f64::NAN),
            ))
            .with_name(Some("pairs".into())),
        ]);
        let msg = bad_inner.validate().unwrap_err().to_string();
        assert!(msg.contains("entry 0 (\"pairs\")") && msg.contains("neg_margin"), "{msg}");
        let classifier = LossConfig::SoftmaxLoss(SoftmaxLossConfig::new(3, 3));
        let mined_classifier = MultipleLossesConfig::new(vec![
            entry(classifier)
                .with_miner(Some(MinerConfig::BatchHardMiner(BatchHardMinerConfig::new()))),
        ]);
        let msg = mined_classifier.validate().unwrap_err().to_string();
        assert!(msg.contains("takes no mined"), "{msg}");
        let unreduced = MultipleLossesConfig::new(vec![entry(LossConfig::ContrastiveLoss(
            ContrastiveLossConfig::new().with_reducer(Reducer::None),
        ))]);
        assert!(unreduced.validate().unwrap_err().to_string().contains("Reducer::None"));
    }

    /// The paths of every float parameter of `module`, as a record names them.
    pub(crate) fn param_paths<M: Module>(module: &M) -> Vec<String> {
        struct Paths(Vec<String>, Vec<String>);
        impl burn::module::ModuleVisitor for Paths {
            fn enter_module(&mut self, name: &str, _: &str) {
                self.0.push(name.to_string());
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.0.pop();
            }
            fn visit_float<const D: usize>(&mut self, _: &burn::module::Param<Tensor<D>>) {
                self.1.push(self.0.join("."));
            }
        }
        let mut p = Paths(Vec::new(), Vec::new());
        module.visit(&mut p);
        p.1
    }

    #[test]
    fn each_loss_keeps_its_parameters_under_its_index() {
        let mut config = LossConfig::MultipleLosses(MultipleLossesConfig::joint_default());
        config.set_classes(5, 3);
        let loss = config.init(&Device::flex()).unwrap();
        assert_eq!(
            param_paths(&loss),
            [
                "MultipleLosses.losses.1.SoftmaxLoss.weight",
                "MultipleLosses.losses.1.SoftmaxLoss.bias"
            ]
        );
        let Loss::MultipleLosses(m) = &loss else { panic!("MultipleLosses") };
        let Loss::SoftmaxLoss(softmax) = &m.losses[1] else { panic!("SoftmaxLoss") };
        assert_eq!(softmax.weight.dims(), [5, 3]);
    }

    #[test]
    fn is_the_weighted_sum_of_its_losses_each_with_its_own_miner() {
        let device = Device::flex();
        let (x, y) = batch(&device);
        let triplet = TripletMarginLossConfig::new().with_margin(0.5);
        let contrastive = ContrastiveLossConfig::new();
        let miner = BatchHardMinerConfig::new();
        let config = MultipleLossesConfig::new(vec![
            entry(LossConfig::TripletMarginLoss(triplet.clone()))
                .with_miner(Some(MinerConfig::BatchHardMiner(miner.clone())))
                .with_weight(2.0),
            entry(LossConfig::ContrastiveLoss(contrastive.clone())).with_weight(0.25),
        ]);
        let multiple = config.init(&device).unwrap();
        assert!(!multiple.accepts_mined() && !config.accepts_mined());
        let got = multiple.forward(x.clone(), y.clone()).unwrap().into_scalar::<f32>();
        let mined = miner.init().mine(x.clone(), y.clone()).unwrap();
        let input = LossInput::new(x.clone(), y.clone()).with_mined(mined);
        let a = triplet.init().unwrap().forward_input(&input).unwrap().into_scalar::<f32>();
        let b = contrastive.init().unwrap().forward(x.clone(), y.clone()).unwrap();
        let expected = 2.0 * a + 0.25 * b.into_scalar::<f32>();
        assert!((got - expected).abs() <= 1e-6 * expected.abs().max(1.0), "{got} vs {expected}");
        // Outer mined tuples are refused while a loss has its own miner.
        let outer = miner.init().mine(x.clone(), y.clone()).unwrap();
        let err = multiple.forward_input(&LossInput::new(x.clone(), y.clone()).with_mined(outer));
        assert!(matches!(err, Err(LossError::Unsupported { .. })));
        let err =
            multiple.forward_input(&LossInput::new(x.clone(), y.clone()).with_reference(x, y));
        assert!(matches!(err, Err(LossError::Unsupported { .. })));
    }

    #[test]
    fn hands_over_the_class_weights_of_its_only_loss_that_has_them() {
        let device = Device::flex();
        let mut joint = LossConfig::MultipleLosses(MultipleLossesConfig::joint_default());
        joint.set_classes(5, 3);
        assert!(joint.has_class_weights());
        assert!(matches!(joint.class_weight_loss(), Some(LossConfig::SoftmaxLoss(_))));
        let loss = joint.init(&device).unwrap();
        let Loss::MultipleLosses(m) = &loss else { panic!("MultipleLosses") };
        let Loss::SoftmaxLoss(softmax) = &m.losses[1] else { panic!("SoftmaxLoss") };
        let got = MetricLoss::class_weights(&loss).expect("the classifier's weights");
        assert_eq!(got.weights.dims(), [5, 3]);
        let want = softmax.weight.val().to_data().try_to_vec::<f32>().unwrap();
        assert_eq!(got.weights.to_data().try_to_vec::<f32>().unwrap(), want);
        // Two losses with class weights: ambiguous, none handed over.
        let two = LossConfig::MultipleLosses(MultipleLossesConfig::new(vec![
            entry(LossConfig::SoftmaxLoss(SoftmaxLossConfig::new(5, 3))),
            entry(LossConfig::ProxyAnchorLoss(crate::loss::ProxyAnchorLossConfig::new(5, 3))),
        ]));
        assert!(!two.has_class_weights());
        assert!(MetricLoss::class_weights(&two.init(&device).unwrap()).is_none());
        // None at all.
        let none = MultipleLossesConfig::new(vec![entry(LossConfig::ContrastiveLoss(
            ContrastiveLossConfig::new(),
        ))]);
        assert!(!LossConfig::MultipleLosses(none.clone()).has_class_weights());
        assert!(none.init(&device).unwrap().class_weights().is_none());
    }
}
