use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::{LossError, LossResult};
use crate::miner::{Mined, all_pairs};

/// Everything a metric loss may be given for one batch, as PML's
/// `loss(embeddings, labels, indices_tuple, ref_emb, ref_labels)`.
#[derive(Clone, Debug)]
pub struct LossInput {
    /// The batch's embeddings.
    ///
    /// # Shapes
    /// - `[n, d]`
    pub embeddings: Tensor<2>,
    /// The batch's class labels.
    ///
    /// # Shapes
    /// - `[n]`
    pub labels: Tensor<1, Int>,
    /// Another set to compare against (a memory bank, a gallery); `None` means the batch itself,
    /// in which case an embedding is never paired with itself.
    pub reference: Option<(Tensor<2>, Tensor<1, Int>)>,
    /// Pairs or triplets chosen by a miner; `None` means all of them.
    pub mined: Option<Mined>,
    /// The smallest and largest label, when the labels were built from host values
    /// ([`LossInput::from_host_labels`]): a loss that checks label ranges reads these instead of
    /// reading the labels back from the device.
    label_range: Option<(i64, i64)>,
}

impl LossInput {
    /// A batch of embeddings and labels, compared with itself, nothing mined.
    pub fn new(embeddings: Tensor<2>, labels: Tensor<1, Int>) -> Self {
        Self { embeddings, labels, reference: None, mined: None, label_range: None }
    }

    /// A batch whose labels are host values (as a data loader has them): the label tensor is
    /// built on the embeddings' device, and the labels' range is kept, so the class and proxy
    /// losses check `0..num_classes` without reading the labels back from the device (a
    /// device-to-host copy that stalls a GPU at every step).
    pub fn from_host_labels(embeddings: Tensor<2>, labels: &[i64]) -> Self {
        let device: Device = embeddings.device();
        let tensor = Tensor::from_data(TensorData::new(labels.to_vec(), [labels.len()]), &device);
        let range = labels.iter().copied().min().zip(labels.iter().copied().max());
        Self { label_range: range, ..Self::new(embeddings, tensor) }
    }

    /// The smallest and largest label when they are known on the host
    /// ([`LossInput::from_host_labels`]); `None` when only the device has them (or the batch is
    /// empty).
    pub fn host_label_range(&self) -> Option<(i64, i64)> {
        self.label_range
    }

    /// Uses what a miner selected.
    pub fn with_mined(mut self, mined: Mined) -> Self {
        self.mined = Some(mined);
        self
    }

    /// Compares against another reference set instead of the batch itself.
    pub fn with_reference(mut self, embeddings: Tensor<2>, labels: Tensor<1, Int>) -> Self {
        self.reference = Some((embeddings, labels));
        self
    }

    /// True when the reference set is the batch itself.
    pub fn same_set(&self) -> bool {
        self.reference.is_none()
    }

    /// The reference embeddings (the batch itself when no reference was given).
    pub fn ref_embeddings(&self) -> Tensor<2> {
        match &self.reference {
            Some((e, _)) => e.clone(),
            None => self.embeddings.clone(),
        }
    }

    /// The reference labels (the batch's own when no reference was given).
    pub fn ref_labels(&self) -> Tensor<1, Int> {
        match &self.reference {
            Some((_, l)) => l.clone(),
            None => self.labels.clone(),
        }
    }

    /// Number of embeddings `n` in the batch.
    pub fn batch_size(&self) -> usize {
        self.embeddings.dims()[0]
    }

    /// Number of reference embeddings `m`.
    pub fn ref_size(&self) -> usize {
        match &self.reference {
            Some((e, _)) => e.dims()[0],
            None => self.batch_size(),
        }
    }

    /// Checks that embeddings, labels, reference and mined masks agree in size.
    pub fn validate(&self, component: &'static str) -> LossResult<()> {
        let mismatch = |detail: String| Err(LossError::ShapeMismatch { component, detail });
        let [n, d] = self.embeddings.dims();
        if n == 0 {
            return mismatch("the batch is empty".into());
        }
        if self.labels.dims()[0] != n {
            return mismatch(format!("{n} embeddings but {} labels", self.labels.dims()[0]));
        }
        if let Some((e, l)) = &self.reference {
            let [m, rd] = e.dims();
            if rd != d {
                return mismatch(format!("embedding size {d} but reference size {rd}"));
            }
            if l.dims()[0] != m {
                return mismatch(format!("{m} reference embeddings but {} labels", l.dims()[0]));
            }
        }
        let m = self.ref_size();
        if let Some(mined) = &self.mined {
            let dims: Vec<usize> = match mined {
                Mined::Pairs { positive, negative } => {
                    if positive.dims() != negative.dims() {
                        return mismatch("mined positive and negative masks differ".into());
                    }
                    positive.dims().to_vec()
                }
                Mined::Triplets(crate::miner::Triplets::Dense(t)) => {
                    let [a, p, q] = t.dims();
                    if p != q {
                        return mismatch(format!("dense triplet mask is [{a}, {p}, {q}]"));
                    }
                    vec![a, p]
                }
                Mined::Triplets(crate::miner::Triplets::PerAnchor {
                    positive,
                    negative,
                    valid,
                }) => {
                    let k = valid.dims()[0];
                    if positive.dims()[0] != k || negative.dims()[0] != k {
                        return mismatch("per-anchor triplet indices differ in length".into());
                    }
                    vec![k, m]
                }
            };
            if dims != [n, m] {
                return mismatch(format!("mined masks are {dims:?}, expected [{n}, {m}]"));
            }
        }
        Ok(())
    }

    /// Positive and negative pair multiplicities: the mined ones, or all pairs from the labels.
    ///
    /// # Shapes
    /// - returns `([n, m], [n, m])`
    pub fn pair_masks(&self) -> (Tensor<2>, Tensor<2>) {
        match &self.mined {
            Some(mined) => mined.to_pairs(self.ref_size()),
            None => all_pairs(&self.labels, &self.ref_labels(), self.same_set()),
        }
    }
}
