//! The loss of a run: any [`Loss`] of `dml-losses` (a Burn module, trained and checkpointed
//! beside the model), optionally with regularizers, optionally with a miner, optionally inside
//! a cross-batch memory.

use burn::tensor::{Device, Int, Tensor, TensorData};
use dml_losses::{AnyMiner, CrossBatchMemory, Loss, LossInput, MetricLoss, Miner, Regularized};

use crate::config::{TrainConfig, loss_error};
use crate::error::{TrainError, TrainResult};

/// The loss of a run, as it is called each step.
#[allow(clippy::large_enum_variant)] // one value per run
pub enum TrainLoss {
    /// The loss on the batch itself (with the miner's selection, if any).
    Plain {
        /// The loss, with the run's regularizers.
        loss: Regularized<Loss>,
        /// The miner.
        miner: Option<AnyMiner>,
    },
    /// The loss of the batch against a queue of recent embeddings (the miner inside).
    Memory(Box<CrossBatchMemory<Regularized<Loss>>>),
}

impl TrainLoss {
    /// Builds `config`'s loss for `num_classes` training classes on `device`.
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the loss, miner or memory setting the library rejects.
    pub fn init(config: &TrainConfig, num_classes: usize, device: &Device) -> TrainResult<Self> {
        let loss_config = config.loss_for(num_classes);
        let loss =
            loss_config.init(device).map_err(|e| loss_error("loss", loss_config.name(), e))?;
        let loss = match &config.regularization {
            Some(r) => r
                .init(loss)
                .map_err(|e| crate::error::TrainError::Config(format!("`regularization`: {e}")))?,
            None => Regularized::plain(loss),
        };
        let miner = match &config.miner {
            Some(m) => Some(m.init().map_err(|e| loss_error("miner", m.name(), e))?),
            None => None,
        };
        Ok(match &config.memory {
            None => Self::Plain { loss, miner },
            Some(memory) => {
                let mut memory = memory.clone();
                memory.embedding_size = config.embedding_size();
                let mut cbm = memory
                    .init(loss, device)
                    .map_err(|e| loss_error("memory", "CrossBatchMemory", e))?;
                if let Some(m) = miner {
                    cbm = cbm.with_boxed_miner(Box::new(m));
                }
                Self::Memory(Box::new(cbm))
            }
        })
    }

    /// The loss module.
    pub fn loss(&self) -> &Loss {
        match self {
            Self::Plain { loss, .. } => loss.loss(),
            Self::Memory(m) => m.loss().loss(),
        }
    }

    /// The loss module, mutably (the optimizers update it in place).
    pub fn loss_mut(&mut self) -> &mut Loss {
        match self {
            Self::Plain { loss, .. } => loss.loss_mut(),
            Self::Memory(m) => m.loss_mut().loss_mut(),
        }
    }

    /// The loss value for a batch (a memory also enqueues it). The labels are host values, as
    /// the loader has them: they go to the embeddings' device once, and the class and proxy
    /// losses check their range on the host, so a step reads nothing back from the device
    /// before the backward pass.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `labels`: `[n]` -> `[1]`
    pub fn forward(&mut self, embeddings: Tensor<2>, labels: &[i64]) -> TrainResult<Tensor<1>> {
        let mut input = LossInput::from_host_labels(embeddings, labels);
        Ok(match self {
            Self::Plain { loss, miner } => {
                if let Some(m) = miner {
                    let mined = m.mine(input.embeddings.clone(), input.labels.clone())?;
                    input = input.with_mined(mined);
                }
                loss.forward_input(&input)?
            }
            Self::Memory(m) => m.forward(input.embeddings, input.labels)?,
        })
    }

    /// The memory queue as bytes (for a checkpoint): `u64` position, `u8` filled, then the
    /// `f32` embeddings and `i64` labels, little endian. `None` without a memory.
    pub fn memory_bytes(&self) -> TrainResult<Option<Vec<u8>>> {
        let Self::Memory(m) = self else { return Ok(None) };
        let (e, l) = m.memory();
        let e = e.into_data().convert::<f32>().try_to_vec::<f32>().map_err(read_err)?;
        let l = l.into_data().convert::<i64>().try_to_vec::<i64>().map_err(read_err)?;
        let mut out = Vec::with_capacity(9 + 4 * e.len() + 8 * l.len());
        out.extend_from_slice(&(m.queue_idx() as u64).to_le_bytes());
        out.push(u8::from(m.has_been_filled()));
        e.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        l.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        Ok(Some(out))
    }

    /// Restores a queue written by [`TrainLoss::memory_bytes`]; `what` names the file in
    /// errors.
    pub fn restore_memory(&mut self, bytes: &[u8], what: &str) -> TrainResult<()> {
        let Self::Memory(m) = self else { return Ok(()) };
        let (e, l) = m.memory();
        let ([rows, d], [n]) = (e.dims(), l.dims());
        let bad = || TrainError::Model(format!("{what}: the memory section is damaged"));
        if bytes.len() != 9 + 4 * rows * d + 8 * n {
            return Err(bad());
        }
        let idx = u64::from_le_bytes(bytes[..8].try_into().map_err(|_| bad())?) as usize;
        let filled = bytes[8] != 0;
        let floats: Vec<f32> = bytes[9..9 + 4 * rows * d]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let ints: Vec<i64> = bytes[9 + 4 * rows * d..]
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let device = e.device();
        let e = Tensor::<2>::from_data(TensorData::new(floats, [rows, d]), &device);
        let l = Tensor::<1, Int>::from_data(TensorData::new(ints, [n]), &device);
        m.restore_queue(e, l, idx, filled).map_err(|e| TrainError::Model(format!("{what}: {e}")))
    }
}

fn read_err(e: impl std::fmt::Debug) -> TrainError {
    TrainError::Model(format!("reading the memory queue: {e:?}"))
}
