//! Evaluates a trained checkpoint: Recall@K, precision@1, R-precision, MAP@R, NMI and AMI,
//! printed and written as JSON (docs/training.md). Also takes the seed systems' evaluation
//! command lines:
//!
//! ```text
//! cargo run --release --example evaluate -- --checkpoint runs/cub200/best.ckpt
//! cargo run --release --example evaluate -- ldm --gpu-id 0 --batch-size 120 --model bn_inception \
//!     --embedding-size 512 --dataset cub --resume runs/cub200/best.ckpt --device cpu
//! cargo run --release --example evaluate -- paddle --model=ResNet50 --batch_size=50 \
//!     --pretrained_model=runs/sop/best.ckpt --use_gpu=False
//! ```

fn main() {
    dml::train::eval_command::main_evaluate();
}
