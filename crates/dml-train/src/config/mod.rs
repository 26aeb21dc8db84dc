//! The configuration of a training run ([`TrainConfig`]) and its parts, the layering of
//! presets, files and flags ([`layers`]), and the learning-rate schedules.

pub mod layers;

mod data_config;
mod optim_config;
mod run_config;
mod schedule_config;
mod train_config;

pub use data_config::{DataConfig, DatasetKind, SamplerConfig};
pub use optim_config::{OptimConfig, OptimizerConfig, ParamGroup, ParamGroupConfig};
pub use run_config::{Keep, Precision, RunConfig, Span};
pub use schedule_config::{LrDecay, ScheduleConfig, Unit};
pub(crate) use train_config::loss_error;
pub use train_config::{TrainConfig, backbone_name, feature_channels, variants};
