//! Gradients flow through backbone + head + loss; the training switches hold; models round-trip
//! through save/load. Small CNN on 28x28 inputs, so it runs in well under a second.

use burn::module::Module;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Distribution, Int, Tensor};
use dml_backbones::{
    Backbone, BackboneConfig, EmbeddingModel, EmbeddingModelConfig, SmallCnnConfig, load_model,
    save_model,
};
use dml_losses::{MetricLoss, ProxyAnchorLoss, ProxyAnchorLossConfig};

const CLASSES: usize = 4;
const EMBEDDING: usize = 16;

#[derive(Module, Debug)]
struct Trainable {
    model: EmbeddingModel,
    loss: ProxyAnchorLoss,
}

impl Trainable {
    fn new(device: &Device, freeze_bn: bool) -> Self {
        let model = EmbeddingModelConfig::new(BackboneConfig::SmallCnn(SmallCnnConfig::new()))
            .with_embedding_size(Some(EMBEDDING))
            .with_freeze_batch_norm(freeze_bn)
            .init(device);
        let loss = ProxyAnchorLossConfig::new(CLASSES, EMBEDDING).init(device).expect("loss");
        Self { model, loss }
    }

    fn loss(&self, images: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<1> {
        self.loss.forward(self.model.forward(images), labels).expect("loss value")
    }
}

fn batch(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let images = Tensor::<4>::random([8, 1, 28, 28], Distribution::Normal(0.0, 1.0), device);
    let labels = Tensor::<1, Int>::arange(0..8, device).remainder_scalar(CLASSES as i64);
    (images, labels)
}

fn sgd_step(t: Trainable, images: Tensor<4>, labels: Tensor<1, Int>, lr: f64) -> Trainable {
    let loss = t.loss(images, labels);
    let grads = GradientsParams::from_grads(loss.backward(), &t);
    let mut optim = SgdConfig::new().init();
    optim.step(lr, t, grads)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec().expect("f32")
}

fn small_cnn(t: &Trainable) -> &dml_backbones::SmallCnn {
    match &t.model.backbone {
        Backbone::SmallCnn(m) => m,
        _ => unreachable!("built as SmallCnn"),
    }
}

fn scalar(t: Tensor<1>) -> f32 {
    values(t)[0]
}

#[test]
fn one_sgd_step_lowers_the_loss() {
    let device = Device::flex().autodiff();
    let t = Trainable::new(&device, false);
    let (images, labels) = batch(&device);
    let before = scalar(t.loss(images.clone(), labels.clone()));
    let conv_before = values(small_cnn(&t).block1.conv.weight.val());
    let t = sgd_step(t, images.clone(), labels.clone(), 0.01);
    let after = scalar(t.loss(images, labels));
    println!("ProxyAnchor loss {before} -> {after}");
    assert!(after < before, "loss did not decrease: {before} -> {after}");
    assert_ne!(conv_before, values(small_cnn(&t).block1.conv.weight.val()), "backbone trained");
}

#[test]
fn frozen_batch_norm_does_not_change() {
    let device = Device::flex().autodiff();
    let t = Trainable::new(&device, true);
    let (images, labels) = batch(&device);
    let bn = &small_cnn(&t).block2.bn;
    let before = [
        values(bn.gamma.val()),
        values(bn.beta.val()),
        values(bn.running_mean.value_sync()),
        values(bn.running_var.value_sync()),
    ];
    let conv_before = values(small_cnn(&t).block2.conv.weight.val());
    let t = sgd_step(t, images, labels, 0.01);
    let bn = &small_cnn(&t).block2.bn;
    let after = [
        values(bn.gamma.val()),
        values(bn.beta.val()),
        values(bn.running_mean.value_sync()),
        values(bn.running_var.value_sync()),
    ];
    assert_eq!(before, after, "frozen BatchNorm changed");
    assert_ne!(conv_before, values(small_cnn(&t).block2.conv.weight.val()), "conv trains");
}

#[test]
fn warmup_trains_only_head_and_proxies() {
    let device = Device::flex().autodiff();
    let mut t = Trainable::new(&device, true);
    t.model = t.model.with_warmup(true);
    let (images, labels) = batch(&device);
    let conv_before = values(small_cnn(&t).block1.conv.weight.val());
    let gamma_before = values(small_cnn(&t).block1.bn.gamma.val());
    let head_before = values(t.model.head.linear.as_ref().expect("linear").weight.val());
    let proxies_before = values(t.loss.proxies.val());
    let mut t = sgd_step(t, images.clone(), labels.clone(), 0.01);
    assert_eq!(conv_before, values(small_cnn(&t).block1.conv.weight.val()), "backbone frozen");
    assert_eq!(gamma_before, values(small_cnn(&t).block1.bn.gamma.val()), "bn frozen");
    let head_after = values(t.model.head.linear.as_ref().expect("linear").weight.val());
    assert_ne!(head_before, head_after, "head trains");
    assert_ne!(proxies_before, values(t.loss.proxies.val()), "proxies train");

    // After warm-up the backbone trains again, its BatchNorm staying frozen.
    t.model = t.model.with_warmup(false);
    let t = sgd_step(t, images, labels, 0.01);
    assert_ne!(conv_before, values(small_cnn(&t).block1.conv.weight.val()), "backbone trains");
    assert_eq!(gamma_before, values(small_cnn(&t).block1.bn.gamma.val()), "bn still frozen");
}

#[test]
fn save_and_load_round_trip_backbone_head_and_loss() {
    let device = Device::flex().autodiff();
    let t = Trainable::new(&device, false);
    let (images, labels) = batch(&device);
    // One step so that running statistics and weights differ from a fresh model.
    let t = sgd_step(t, images.clone(), labels, 0.01);
    let dir = std::env::temp_dir().join(format!("dml-backbones-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("model.safetensors");
    save_model(&t, &path).expect("save");

    let mut loaded = Trainable::new(&device, false);
    let report = load_model(&mut loaded, &path).expect("load");
    assert!(report.unused.is_empty(), "{report:?}");
    let expected = values(t.model.valid().infer(images.clone().without_autodiff()));
    let actual = values(loaded.model.valid().infer(images.without_autodiff()));
    assert_eq!(expected, actual, "embeddings after reload");
    assert_eq!(values(t.loss.proxies.val()), values(loaded.loss.proxies.val()), "proxies");
    std::fs::remove_dir_all(&dir).ok();
}
