//! Learning-rate schedules as pure functions of the epoch, so that resuming at epoch `e`
//! continues the schedule exactly (the schedule's position is the epoch stored in the
//! checkpoint).

use crate::config::{ScheduleKind, TrainConfig};

/// The learning-rate factor (multiplying the base `lr`) for the 0-based `epoch`.
///
/// - `Constant`: 1.
/// - `Step`: `gamma ^ floor(epoch / step)`, PyTorch's `StepLR(step_size, gamma)` stepped once
///   per epoch (Proxy-Anchor: step 10, gamma 0.5).
/// - `Cosine`: `(1 + cos(pi * epoch / epochs)) / 2`, PyTorch's `CosineAnnealingLR(T_max =
///   epochs, eta_min = 0)` stepped per epoch.
pub fn lr_factor(config: &TrainConfig, epoch: usize) -> f64 {
    match config.schedule {
        ScheduleKind::Constant => 1.0,
        ScheduleKind::Step => {
            let step = config.lr_decay_step.max(1);
            config.lr_decay_gamma.powi((epoch / step) as i32)
        }
        ScheduleKind::Cosine => {
            let t = epoch as f64 / config.epochs.max(1) as f64;
            0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatasetKind;

    #[test]
    fn step_and_cosine_match_pytorch() {
        let mut c = TrainConfig::base(DatasetKind::Cub200);
        c.schedule = ScheduleKind::Step;
        c.lr_decay_step = 10;
        c.lr_decay_gamma = 0.5;
        assert_eq!(lr_factor(&c, 9), 1.0);
        assert_eq!(lr_factor(&c, 10), 0.5);
        assert_eq!(lr_factor(&c, 25), 0.25);
        c.schedule = ScheduleKind::Cosine;
        c.epochs = 4;
        assert!((lr_factor(&c, 2) - 0.5).abs() < 1e-12);
        assert_eq!(lr_factor(&c, 0), 1.0);
    }
}
