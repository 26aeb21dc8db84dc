//! Mixed precision: the network computed in bfloat16 or float16 from float32 master weights.
//!
//! [`low_precision`] gives a view of a module whose parameters are the master parameters cast
//! to the low precision. The cast is part of the autodiff graph, so the backward pass returns
//! float32 gradients for the master parameters themselves (no copy to keep in step, nothing to
//! unscale but the loss scale). BatchNorm layers are left in float32 (their affine parameters
//! and running statistics): [`crate::batch_norm::batch_norm`] normalizes a low-precision
//! activation in float32 and casts the result back, as PyTorch's autocast keeps batch norm in
//! float32. [`forward_in_precision`] runs an [`EmbeddingModel`] that way and returns float32
//! embeddings, so that the loss is computed in float32.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{FloatDType, Tensor};

use crate::model::EmbeddingModel;

/// Casts every float parameter outside BatchNorm layers.
struct LowPrecision {
    dtype: FloatDType,
    /// How deep the mapper is inside a BatchNorm module (0: outside).
    in_batch_norm: usize,
}

impl ModuleMapper for LowPrecision {
    fn enter_module(&mut self, _name: &str, container_type: &str) {
        if self.in_batch_norm > 0 || container_type == "Struct:BatchNorm" {
            self.in_batch_norm += 1;
        }
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.in_batch_norm = self.in_batch_norm.saturating_sub(1);
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.in_batch_norm > 0 {
            return param;
        }
        let dtype = self.dtype;
        param.map(|t| t.cast(dtype))
    }
}

/// `module` with its parameters cast to `dtype` (BatchNorm layers excepted), as a view: the
/// parameters keep their ids, and gradients flow through the cast to the original (float32)
/// parameters. The BatchNorm running statistics are shared with `module`.
pub fn low_precision<M: Module>(module: M, dtype: FloatDType) -> M {
    module.map(&mut LowPrecision { dtype, in_batch_norm: 0 })
}

/// The float32 embeddings of `images` with the network computed in `dtype` (`None`: float32,
/// exactly [`EmbeddingModel::forward`]).
///
/// # Shapes
/// - `images`: `[n, c, h, w]` (float32) -> `[n, d]` (float32)
pub fn forward_in_precision(
    model: &EmbeddingModel,
    images: Tensor<4>,
    dtype: Option<FloatDType>,
) -> Tensor<2> {
    match dtype {
        None | Some(FloatDType::F32) => model.forward(images),
        Some(d) => low_precision(model.clone(), d).forward(images.cast(d)).cast(FloatDType::F32),
    }
}

#[cfg(test)]
mod tests {
    use burn::module::ModuleVisitor;
    use burn::tensor::{DType, Device, Distribution};

    use super::*;
    use crate::{BackboneConfig, EmbeddingModelConfig, SmallCnnConfig};

    /// The dtypes of the gradients of every parameter.
    struct GradTypes<'a>(&'a burn::tensor::Gradients, Vec<DType>);

    impl ModuleVisitor for GradTypes<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = p.val().grad(self.0) {
                self.1.push(g.dtype());
            }
        }
    }

    #[test]
    fn the_master_parameters_get_float32_gradients_from_a_low_precision_forward() {
        let device = Device::flex().autodiff();
        let config = EmbeddingModelConfig::new(BackboneConfig::SmallCnn(SmallCnnConfig::new()))
            .with_embedding_size(Some(16));
        let model = config.init(&device).train();
        let images = Tensor::<4>::random([8, 1, 28, 28], Distribution::Default, &device);
        for dtype in [FloatDType::BF16, FloatDType::F16] {
            let low = low_precision(model.clone(), dtype);
            assert_eq!(
                low.head.linear.as_ref().map(|l| l.weight.val().dtype()),
                Some(dtype.into())
            );
            let e = forward_in_precision(&model, images.clone(), Some(dtype));
            assert_eq!(e.dtype(), DType::F32);
            let grads = e.powi_scalar(2).sum().backward();
            let mut types = GradTypes(&grads, Vec::new());
            model.visit(&mut types);
            assert!(types.1.len() >= 10, "{:?}", types.1);
            assert!(types.1.iter().all(|t| *t == DType::F32), "{:?}", types.1);
        }
    }
}
