//! Learning-rate schedules as pure functions of the position in the run (the epoch or the
//! optimizer step, whichever the schedule counts), so that a resumed run continues the
//! schedule exactly: the position is stored in the checkpoint, there is no scheduler state.

use serde::{Deserialize, Serialize};

use crate::error::{TrainError, TrainResult};

/// What a schedule (or an interval) counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Epochs: the value changes between epochs (PyTorch's scheduler stepped once per epoch).
    Epoch,
    /// Optimizer steps (iterations): the value changes between steps (PyTorch's scheduler
    /// stepped once per iteration; PaddlePaddle's `piecewise_decay`).
    Iteration,
}

/// How the learning rate decays. Every rule is a factor multiplying the base learning rate of
/// each parameter group, evaluated at the 0-based position `t` (in the schedule's [`Unit`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LrDecay {
    /// Factor 1.
    Constant,
    /// `gamma ^ floor(t / step_size)` (PyTorch's `StepLR`).
    Step {
        /// Positions between decays.
        step_size: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// `gamma ^ (number of milestones <= t)` (PyTorch's `MultiStepLR`; PaddlePaddle's
    /// `piecewise_decay` with values `lr * gamma^i`).
    MultiStep {
        /// Positions at which the rate is multiplied by `gamma`, ascending.
        milestones: Vec<usize>,
        /// Decay factor.
        gamma: f64,
    },
    /// `min + (1 - min) (1 + cos(pi t / t_max)) / 2` (PyTorch's `CosineAnnealingLR` with
    /// `eta_min = min_factor * lr`), constant at `min` after `t_max`.
    Cosine {
        /// Length of the half cosine; `None` is the run's length in the schedule's unit.
        t_max: Option<usize>,
        /// The final factor (`eta_min / lr`).
        min_factor: f64,
    },
    /// `gamma ^ (number of fractions f with t >= f T)`, `T` the schedule's length: decays at
    /// fixed fractions of the run (MindSpore's `steps` mode: 0.4 and 0.8, gamma 0.1).
    MultiStepFraction {
        /// Fractions of the schedule's length, ascending, in (0, 1].
        fractions: Vec<f64>,
        /// Decay factor.
        gamma: f64,
    },
    /// `end + (1 - end) (1 - min(t, total) / total) ^ power` (PyTorch's `PolynomialLR` for
    /// `end_factor = 0`; MindSpore's `poly` mode with power 2, its `liner` mode with power 1).
    Poly {
        /// Exponent.
        power: f64,
        /// Positions until the final factor; `None` is the run's length.
        total: Option<usize>,
        /// The final factor.
        end_factor: f64,
    },
}

impl LrDecay {
    /// The rule's factor at position `position` of a schedule `length` long.
    pub fn factor(&self, position: usize, length: usize) -> f64 {
        let t = position as f64;
        match self {
            Self::Constant => 1.0,
            Self::Step { step_size, gamma } => gamma.powi((position / (*step_size).max(1)) as i32),
            Self::MultiStep { milestones, gamma } => {
                gamma.powi(milestones.iter().filter(|&&m| m <= position).count() as i32)
            }
            Self::MultiStepFraction { fractions, gamma } => {
                let passed = fractions.iter().filter(|&&f| t >= f * length as f64).count();
                gamma.powi(passed as i32)
            }
            Self::Cosine { t_max, min_factor } => {
                let t_max = t_max.unwrap_or(length).max(1) as f64;
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * t.min(t_max) / t_max).cos());
                min_factor + (1.0 - min_factor) * cos
            }
            Self::Poly { power, total, end_factor } => {
                let total = total.unwrap_or(length).max(1) as f64;
                end_factor + (1.0 - end_factor) * (1.0 - t.min(total) / total).powf(*power)
            }
        }
    }

    /// One default per variant (the configuration registry).
    pub fn defaults() -> Vec<Self> {
        vec![
            Self::Constant,
            Self::Step { step_size: 10, gamma: 0.5 },
            Self::MultiStep { milestones: Vec::new(), gamma: 0.1 },
            Self::MultiStepFraction { fractions: Vec::new(), gamma: 0.1 },
            Self::Cosine { t_max: None, min_factor: 0.0 },
            Self::Poly { power: 1.0, total: None, end_factor: 0.0 },
        ]
    }
}

/// A learning-rate schedule: a decay rule counted in epochs or iterations, optionally after a
/// linear warm-up.
///
/// The position `t` of the optimizer step about to be taken is its 0-based epoch (unit
/// `epoch`) or its 0-based step count (unit `iteration`), plus `offset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The decay rule.
    pub decay: LrDecay,
    /// What the rule's positions (and `warmup`) count.
    pub unit: Unit,
    /// Linear warm-up length `W` (converted to `unit`; 0: none): the factor is multiplied by
    /// `start + (1 - start) t / W` for `t < W` (PyTorch's `LinearLR(start_factor,
    /// total_iters=W)`).
    pub warmup: super::Span,
    /// The warm-up's first factor.
    pub warmup_start_factor: f64,
    /// `false`: the decay counts from the start, multiplied by the warm-up (PyTorch's
    /// `ChainedScheduler`). `true`: the decay starts after the warm-up, at position
    /// `t - warmup` over a length `T - warmup` (PyTorch's `SequentialLR`; MindSpore's `poly`).
    pub decay_after_warmup: bool,
    /// Added to every position: 1 reproduces a scheduler stepped before each optimizer step
    /// (the online-metric-learning seed's `scheduler.step()` at the top of its loop).
    pub offset: usize,
    /// The length the rule counts to (`Cosine`'s and `Poly`'s default, `MultiStepFraction`'s
    /// `T`); `None` is the run's length. MindSpore's schedule spans `epoch_size` epochs even
    /// when `pretrain_epoch_size` shortens the run.
    pub length: Option<super::Span>,
}

impl Default for ScheduleConfig {
    /// A constant rate, counted in epochs, no warm-up.
    fn default() -> Self {
        Self {
            decay: LrDecay::Constant,
            unit: Unit::Epoch,
            warmup: super::Span::Epochs(0),
            warmup_start_factor: 0.0,
            decay_after_warmup: false,
            offset: 0,
            length: None,
        }
    }
}

impl ScheduleConfig {
    /// A rule counted in `unit`, without warm-up.
    pub fn new(decay: LrDecay, unit: Unit) -> Self {
        Self { decay, unit, ..Self::default() }
    }

    /// The factor at the 0-based `position` (before `offset`) of a schedule `length` long
    /// with a warm-up `warmup` long (all in `self.unit`: [`crate::optim::group_lr`] converts
    /// the spans).
    pub fn factor(&self, position: usize, length: usize, warmup: usize) -> f64 {
        let position = position + self.offset;
        let warm = if position < warmup {
            let s = self.warmup_start_factor;
            s + (1.0 - s) * position as f64 / warmup as f64
        } else {
            1.0
        };
        if self.decay_after_warmup && position < warmup {
            return warm;
        }
        let (p, len) = if self.decay_after_warmup {
            (position - warmup, length.saturating_sub(warmup))
        } else {
            (position, length)
        };
        self.decay.factor(p, len) * warm
    }

    /// Checks every field; errors name the key under `at` (`schedule` or a group's).
    pub fn validate(&self, at: &str) -> TrainResult<()> {
        let bad = |key: &str, why: String| Err(TrainError::Config(format!("`{at}.{key}` {why}")));
        let finite_positive = |v: f64| v.is_finite() && v > 0.0;
        match &self.decay {
            LrDecay::Constant => {}
            LrDecay::Step { step_size, gamma } => {
                if *step_size == 0 {
                    return bad("decay.Step.step_size", "must be at least 1".into());
                }
                if !finite_positive(*gamma) {
                    return bad("decay.Step.gamma", format!("must be finite and > 0, got {gamma}"));
                }
            }
            LrDecay::MultiStep { milestones, gamma } => {
                if milestones.windows(2).any(|w| w[0] >= w[1]) {
                    return bad(
                        "decay.MultiStep.milestones",
                        format!("must be strictly increasing, got {milestones:?}"),
                    );
                }
                if !finite_positive(*gamma) {
                    return bad(
                        "decay.MultiStep.gamma",
                        format!("must be finite and > 0, got {gamma}"),
                    );
                }
            }
            LrDecay::MultiStepFraction { fractions, gamma } => {
                if fractions.iter().any(|f| !(f.is_finite() && *f > 0.0 && *f <= 1.0))
                    || fractions.windows(2).any(|w| w[0] >= w[1])
                {
                    return bad(
                        "decay.MultiStepFraction.fractions",
                        format!("must be strictly increasing, in (0, 1], got {fractions:?}"),
                    );
                }
                if !finite_positive(*gamma) {
                    return bad(
                        "decay.MultiStepFraction.gamma",
                        format!("must be finite and > 0, got {gamma}"),
                    );
                }
            }
            LrDecay::Cosine { t_max, min_factor } => {
                if *t_max == Some(0) {
                    return bad("decay.Cosine.t_max", "must be at least 1".into());
                }
                if !(min_factor.is_finite() && *min_factor >= 0.0) {
                    return bad(
                        "decay.Cosine.min_factor",
                        format!("must be finite and >= 0, got {min_factor}"),
                    );
                }
            }
            LrDecay::Poly { power, total, end_factor } => {
                if !finite_positive(*power) {
                    return bad("decay.Poly.power", format!("must be finite and > 0, got {power}"));
                }
                if *total == Some(0) {
                    return bad("decay.Poly.total", "must be at least 1".into());
                }
                if !(end_factor.is_finite() && *end_factor >= 0.0) {
                    return bad(
                        "decay.Poly.end_factor",
                        format!("must be finite and >= 0, got {end_factor}"),
                    );
                }
            }
        }
        if self.length.is_some_and(|l| l.count() == 0) {
            return bad("length", "must be at least 1".into());
        }
        if self.length.is_some_and(|l| l.unit() != self.unit) && self.unit == Unit::Epoch {
            return bad("length", "must count epochs when the schedule counts epochs".into());
        }
        if !(self.warmup_start_factor.is_finite()
            && (0.0..=1.0).contains(&self.warmup_start_factor))
        {
            return bad(
                "warmup_start_factor",
                format!("must be in [0, 1], got {}", self.warmup_start_factor),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_multistep_cosine_poly_and_warmup() {
        let step = ScheduleConfig::new(LrDecay::Step { step_size: 10, gamma: 0.5 }, Unit::Epoch);
        assert_eq!([9, 10, 25].map(|e| step.factor(e, 60, 0)), [1.0, 0.5, 0.25]);
        let multi = ScheduleConfig::new(
            LrDecay::MultiStep { milestones: vec![15_000, 25_000], gamma: 0.1 },
            Unit::Iteration,
        );
        let f = [14_999, 15_000, 24_999, 25_000].map(|s| multi.factor(s, 30_000, 0));
        assert_eq!(f[0], 1.0);
        assert!((f[1] - 0.1).abs() < 1e-15 && (f[2] - 0.1).abs() < 1e-15);
        assert!((f[3] - 0.01).abs() < 1e-15);
        let cos =
            ScheduleConfig::new(LrDecay::Cosine { t_max: None, min_factor: 0.0 }, Unit::Epoch);
        assert!((cos.factor(2, 4, 0) - 0.5).abs() < 1e-12);
        assert_eq!(cos.factor(0, 4, 0), 1.0);
        let mut warm = ScheduleConfig::new(LrDecay::Constant, Unit::Iteration);
        warm.warmup_start_factor = 0.2;
        let f = [0, 2, 4].map(|s| warm.factor(s, 10, 4));
        assert!((f[0] - 0.2).abs() < 1e-15 && (f[1] - 0.6).abs() < 1e-15 && f[2] == 1.0, "{f:?}");
        // MindSpore's steps mode: x0.1 from 0.4 T, x0.01 from 0.8 T.
        let frac = ScheduleConfig::new(
            LrDecay::MultiStepFraction { fractions: vec![0.4, 0.8], gamma: 0.1 },
            Unit::Iteration,
        );
        assert_eq!(frac.factor(39, 100, 0), 1.0);
        assert!((frac.factor(40, 100, 0) - 0.1).abs() < 1e-15);
        assert!((frac.factor(80, 100, 0) - 0.01).abs() < 1e-15);
        // MindSpore's poly: warm-up, then (1 - (i - w) / (T - w))^2.
        let mut poly = ScheduleConfig::new(
            LrDecay::Poly { power: 2.0, total: None, end_factor: 0.0 },
            Unit::Iteration,
        );
        poly.decay_after_warmup = true;
        assert!((poly.factor(55, 100, 10) - 0.25).abs() < 1e-15);
        // A scheduler stepped before the optimizer: update n uses gamma^floor(n / step).
        let mut early =
            ScheduleConfig::new(LrDecay::Step { step_size: 5, gamma: 0.1 }, Unit::Iteration);
        early.offset = 1;
        assert_eq!(early.factor(3, 20, 0), 1.0);
        assert!((early.factor(4, 20, 0) - 0.1).abs() < 1e-15);
    }

    #[test]
    fn validation_names_the_key() {
        let bad = ScheduleConfig::new(
            LrDecay::MultiStep { milestones: vec![5, 3], gamma: 0.1 },
            Unit::Iteration,
        );
        let err = bad.validate("schedule").unwrap_err().to_string();
        assert!(err.contains("`schedule.decay.MultiStep.milestones`"), "{err}");
    }
}
