//! BatchNorm with PyTorch's running-variance update, over Burn's [`BatchNorm`] module.
//!
//! Burn's `BatchNorm::forward` in training mode normalizes with the biased batch variance (as
//! PyTorch does) but also folds that biased variance into `running_var`. PyTorch's
//! `BatchNorm2d` folds in the **unbiased** variance, `var * n / (n - 1)` with `n` the number of
//! values per channel (batch x height x width). The difference is `momentum / (n - 1)`
//! relative per step, small, but it is a different number from the one PyTorch keeps, and the
//! running statistics are what an exported model evaluates with. [`batch_norm`] computes the
//! same output as Burn's forward and updates the running statistics as PyTorch does.
//!
//! In a data-parallel step with synchronized statistics ([`crate::batch_norm_sync`]), the
//! statistics are those of every shard's samples.
//!
//! The module stays Burn's own `BatchNorm` (its parameter names, its PyTorch import, its
//! `freeze`), so checkpoints and weight import are unchanged.

use burn::nn::BatchNorm;
use burn::tensor::Tensor;

/// `bn(x)` with PyTorch's `BatchNorm` semantics.
///
/// - Inference (a device without autodiff, or a frozen BatchNorm): normalizes with the running
///   statistics, exactly [`BatchNorm::forward`].
/// - Training: normalizes with the batch mean and biased batch variance, then updates
///   `running_mean <- (1 - momentum) running_mean + momentum mean` and
///   `running_var <- (1 - momentum) running_var + momentum var n / (n - 1)`, as PyTorch's
///   `BatchNorm2d(track_running_stats=True)` with a fixed momentum. With `n = 1` (one value
///   per channel, where PyTorch refuses to train) the biased variance (0) is folded in.
/// - Training inside [`BatchNormSync::run`](crate::BatchNormSync::run) (a shard of a
///   data-parallel step with synchronized statistics): the same with the statistics of every
///   shard's samples, the running statistics updated by shard 0 only.
///
/// # Shapes
/// - `x`: `[batch, channels, ...]` -> the same shape
pub fn batch_norm<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    // Mixed precision: a low-precision activation is normalized in float32 (its parameters and
    // running statistics stay float32, as PyTorch's autocast keeps BatchNorm) and cast back.
    let dtype = x.dtype();
    if matches!(dtype, burn::tensor::DType::BF16 | burn::tensor::DType::F16) {
        let out = batch_norm(bn, x.cast(burn::tensor::FloatDType::F32));
        return out.cast(burn::tensor::FloatDType::from(dtype));
    }
    if !(x.device().is_autodiff() && bn.training.is_enabled()) {
        return bn.forward(x);
    }
    // A shard of a data-parallel step with synchronized statistics.
    if let Some((sync, rank)) = crate::batch_norm_sync::current() {
        return crate::batch_norm_sync::synced_batch_norm(bn, x, &sync, rank);
    }
    let device = x.device();
    let per_channel = x.shape().num_elements() / x.dims()[1]; // batch x spatial positions
    let result =
        burn::tensor::module::batch_norm_train(x, bn.gamma.val(), bn.beta.val(), bn.epsilon);
    let correction =
        if per_channel > 1 { per_channel as f64 / (per_channel - 1) as f64 } else { 1.0 };
    let momentum = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device).mul_scalar(1.0 - momentum)
        + result.mean.detach().mul_scalar(momentum);
    let running_var = bn.running_var.value_sync().to_device(&device).mul_scalar(1.0 - momentum)
        + result.variance.detach().mul_scalar(momentum * correction);
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    result.output
}

#[cfg(test)]
mod tests {
    use burn::nn::BatchNormConfig;
    use burn::tensor::{Device, Distribution};

    use super::*;

    fn floats(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32")
    }

    // PyTorch's documented update, computed on the host in float64:
    //   bn = torch.nn.BatchNorm2d(3); bn.train(); bn(x)
    //   bn.running_mean == 0.9 * 0 + 0.1 * x.mean(dim=(0, 2, 3))
    //   bn.running_var == 0.9 * 1 + 0.1 * x.var(dim=(0, 2, 3), unbiased=True)
    // (tests/parity_pytorch.rs checks the same against PyTorch's own numbers.)
    #[test]
    fn training_updates_running_var_with_the_unbiased_variance() {
        let device = Device::flex().autodiff();
        let bn = BatchNormConfig::new(3).init(&device);
        let x = Tensor::<4>::random([2, 3, 4, 5], Distribution::Normal(1.0, 2.0), &device);
        let host: Vec<f32> = x.clone().into_data().try_to_vec().expect("f32");
        let y = batch_norm(&bn, x.clone());
        let burn_y = BatchNormConfig::new(3).init(&device).forward(x);
        let diff = (y - burn_y).abs().max().into_scalar::<f32>();
        assert!(diff == 0.0, "output differs from Burn's forward by {diff}");

        let n = 2 * 4 * 5;
        let (mut means, mut vars) = (vec![], vec![]);
        for c in 0..3 {
            let values: Vec<f64> = (0..2)
                .flat_map(|b| (0..20).map(move |k| (b, k)))
                .map(|(b, k)| host[b * 60 + c * 20 + k] as f64)
                .collect();
            let mean = values.iter().sum::<f64>() / n as f64;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            means.push(0.1 * mean);
            vars.push(0.9 + 0.1 * var);
        }
        let got_mean = floats(bn.running_mean.value_sync());
        let got_var = floats(bn.running_var.value_sync());
        for c in 0..3 {
            assert!((got_mean[c] as f64 - means[c]).abs() < 1e-5, "mean {c}: {got_mean:?}");
            assert!((got_var[c] as f64 - vars[c]).abs() < 1e-5, "var {c}: {got_var:?} vs {vars:?}");
        }
    }

    #[test]
    fn inference_and_frozen_use_the_running_statistics_and_do_not_update_them() {
        use burn::module::Module;
        let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Default, &Device::flex());
        for (device, frozen) in [(Device::flex(), false), (Device::flex().autodiff(), true)] {
            let bn = BatchNormConfig::new(3).init(&device);
            let bn = if frozen { bn.freeze() } else { bn };
            let x = x.clone().to_device(&device);
            let y = batch_norm(&bn, x.clone());
            let diff = (y - bn.forward(x)).abs().max().into_scalar::<f32>();
            assert!(diff == 0.0);
            assert_eq!(floats(bn.running_var.value_sync()), vec![1.0; 3]);
            assert_eq!(floats(bn.running_mean.value_sync()), vec![0.0; 3]);
        }
    }
}
