//! Training recipes for deep metric learning on Burn, as the seed systems run them:
//!
//! - **classification** pre-training (softmax, ArcMargin with easy margin, NormalizedSoftmax),
//!   then **pair** fine-tuning from that checkpoint (`init_from`: triplet, quadruplet, EML,
//!   contrastive, multi-similarity), as PaddlePaddle's and MindSpore's examples do;
//! - **proxy** training (Proxy-Anchor, AMLoss): AdamW, the proxies' learning rate multiplied
//!   (x100), warm-up epochs training only the head and the proxies, BatchNorm freezing, step
//!   decay, gradient clipping by value; AMLoss's margins with their own AdamW;
//! - SGD with momentum, step or cosine schedules, weight decay, any embedding size.
//!
//! A run is a [`TrainConfig`] (defaults of a dataset preset, a JSON/TOML file, then flags:
//! [`cli::Args`]), a [`Trainer`] and the [`data`] it reads. Checkpoints ([`checkpoint`]) are
//! written atomically with a checksum and hold everything needed for an exact resume;
//! [`infer`] reads them back to embed images and answer nearest-neighbour queries.

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod data_parallel;
pub mod device;
pub mod error;
pub mod eval_command;
pub mod evaluate;
pub mod fault;
pub mod infer;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod plot;
pub mod presets;
pub mod progress;
pub mod provenance;
pub mod run;
pub mod run_dir;
pub mod seeds;
pub mod trainer;

pub use checkpoint::Checkpoint;
pub use config::{DatasetKind, TrainConfig};
pub use error::{TrainError, TrainResult};
pub use trainer::Trainer;
