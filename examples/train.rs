//! Trains from a configuration file and flags, or from a seed system's command line as its
//! README writes it (see docs/training.md):
//!
//! ```text
//! cargo run --release --example train -- --config my_run.toml
//! cargo run --release --example train -- ldm --gpu-id 0 --loss AMLoss --model resnet50 ...
//! cargo run --release --example train -- paddle-train-elem --model=ResNet50 --loss_name=arcmargin ...
//! cargo run --release --example train -- paddle-train-pair --loss_name=eml --samples_each_class=2 ...
//! cargo run --release --example train -- mindspore --loss_name=triplet --device_target=GPU ...
//! cargo run --release --example train -- online-ml --dataroot DIR --loss contrastive ...
//! ```
//!
//! `--device cpu` (or `--use_gpu=False`) trains on the CPU; `--data-dir` points at the dataset
//! where the seed hard-codes its location.

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    dml::train::run::main_with(dml::train::run::resolve_command_line(&argv));
}
