//! Mixed precision (`run.precision`): the network in bfloat16 or float16 from float32 master
//! weights trains, keeps its weights, gradients' destination and checkpoint in float32, stays
//! finite, and follows the float32 run to within the low precision's rounding.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{DType, Tensor};
use common::{run, tiny};
use dml_train::config::Precision;
use dml_train::{TrainConfig, Trainer};

/// Every float parameter's values and dtype.
struct Flatten(Vec<f32>, Vec<DType>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        self.1.push(t.dtype());
        let data = t.into_data().convert::<f32>();
        self.0.extend(data.try_to_vec::<f32>().expect("f32 data"));
    }
}

fn params<M: Module>(m: &M) -> (Vec<f32>, Vec<DType>) {
    let mut f = Flatten(Vec::new(), Vec::new());
    m.visit(&mut f);
    (f.0, f.1)
}

fn with_precision(dir: &std::path::Path, loss: &str, precision: Precision) -> TrainConfig {
    let mut c = tiny(dir, loss);
    c.run.precision = precision;
    c
}

#[test]
fn bf16_and_f16_train_float32_master_weights_close_to_the_float32_run() {
    for loss in ["ProxyAnchorLoss", "ContrastiveLoss"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let full = run(with_precision(dir.path(), loss, Precision::F32), None);
        let (reference, _) = params(&full.model);
        let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for precision in [Precision::Bf16, Precision::F16] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut c = with_precision(dir.path(), loss, precision);
            if precision == Precision::F16 {
                c.run.loss_scale = 1024.0; // float16's range, as MindSpore trains
            }
            let t: Trainer = run(c, None);
            assert_eq!(t.step, 6);
            assert!(
                t.history.epochs.iter().all(|e| e.loss.is_finite() && e.loss > 0.0),
                "{loss} {precision:?}: {:?}",
                t.history.epochs
            );
            let (values, dtypes) = params(&t.model);
            assert!(dtypes.iter().all(|d| *d == DType::F32), "{loss} {precision:?}: {dtypes:?}");
            let diff =
                reference.iter().zip(&values).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
                    / scale;
            eprintln!("{loss} {precision:?}: relative parameter difference to float32 {diff:e}");
            // The low precision was used (float32 rounding alone differs by ~1e-7), and the run
            // follows the float32 one (bfloat16 keeps 8 bits of mantissa: 4e-3 relative).
            assert!(diff > 1e-5 && diff < 0.1, "{loss} {precision:?}: {diff}");
            // The checkpoint is float32 and resumes in float32.
            assert!(t.output_dir().join("last.ckpt").exists());
        }
    }
}

#[test]
fn data_parallel_training_in_bf16() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = with_precision(dir.path(), "MultiSimilarityLoss", Precision::Bf16);
    c.run.devices = vec!["cpu".into(), "cpu".into()];
    let t = run(c, None);
    assert_eq!((t.step, t.replicas.len()), (6, 1));
    assert!(t.history.epochs.iter().all(|e| e.loss.is_finite()));
}
