//! ResNet50 in torchvision's layout (`conv1, bn1, layer1..layer4, fc`).

mod bottleneck;
mod resnet50;

pub use bottleneck::{Bottleneck, Downsample};
pub use resnet50::{RESNET50_KEY_REMAPS, ResNet50, ResNet50Config};
