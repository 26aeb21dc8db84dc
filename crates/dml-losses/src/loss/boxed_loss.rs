//! [`BoxedLoss`]: a [`Loss`] behind a pointer, so that a loss can hold another loss (Burn
//! implements [`Module`] for `Vec` and `Option`, not for `Box`).

use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
};
use burn::tensor::Device;

use super::Loss;

/// A [`Loss`] on the heap, as a Burn [`Module`] that is transparent: its parameters sit at the
/// wrapped loss's own paths under the field that holds it (`loss.NTXentLoss...`), as if the
/// loss were stored inline. [`SelfSupervisedLoss`](super::SelfSupervisedLoss) holds its wrapped
/// loss this way.
#[derive(Debug, Clone)]
pub struct BoxedLoss(pub Box<Loss>);

impl BoxedLoss {
    /// Boxes `loss`.
    pub fn new(loss: Loss) -> Self {
        Self(Box::new(loss))
    }
}

impl std::ops::Deref for BoxedLoss {
    type Target = Loss;

    fn deref(&self) -> &Loss {
        &self.0
    }
}

impl std::ops::DerefMut for BoxedLoss {
    fn deref_mut(&mut self) -> &mut Loss {
        &mut self.0
    }
}

impl Module for BoxedLoss {
    fn collect_devices(&self, devices: Devices) -> Devices {
        self.0.collect_devices(devices)
    }

    fn fork(self, device: &Device) -> Self {
        Self(Box::new(self.0.fork(device)))
    }

    fn to_device(self, device: &Device) -> Self {
        Self(Box::new(self.0.to_device(device)))
    }

    fn train(self) -> Self {
        Self(Box::new(self.0.train()))
    }

    fn valid(&self) -> Self {
        Self(Box::new(self.0.valid()))
    }

    fn materialize(self) -> Self {
        Self(Box::new(self.0.materialize()))
    }

    fn num_params(&self) -> usize {
        Module::num_params(&*self.0)
    }

    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        self.0.visit(visitor)
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        Self(Box::new(self.0.map(mapper)))
    }
}

impl ModuleDisplayDefault for BoxedLoss {
    fn content(&self, content: Content) -> Option<Content> {
        self.0.content(content)
    }

    fn num_params(&self) -> usize {
        Module::num_params(&*self.0)
    }
}

impl ModuleDisplay for BoxedLoss {}
