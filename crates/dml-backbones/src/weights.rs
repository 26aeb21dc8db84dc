//! Importing PyTorch checkpoints (`.pth`, safetensors) and saving/loading our own models.
//!
//! Every import goes through one pipeline: read the tensors, rename their keys with regex
//! remaps (per model: [`RESNET50_KEY_REMAPS`], [`BN_INCEPTION_KEY_REMAPS`],
//! [`SMALL_CNN_KEY_REMAPS`]), then apply them through burn-store's PyTorch adapter (BatchNorm
//! `weight`/`bias` -> `gamma`/`beta`, Linear weights transposed) followed by
//! [`SqueezeBatchNormAdapter`] (`[1, C]` BatchNorm vectors -> `[C]`). Anything the model needs
//! and the file lacks, and any shape that differs, is an error; tensors the model
//! does not use (`num_batches_tracked`, a classifier the model was built without) are listed in
//! the [`ImportReport`].

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::pytorch_reader::PytorchReader;
use burn::store::{
    ApplyError, ApplyResult, ChainAdapter, KeyRemapper, ModuleAdapter, ModuleContext,
    ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, SafetensorsStore, bridge,
};
use burn::tensor::{Shape, TensorData};

use crate::bn_inception::{BN_INCEPTION_KEY_REMAPS, BnInception};
use crate::resnet::{RESNET50_KEY_REMAPS, ResNet50};
use crate::small_cnn::{SMALL_CNN_KEY_REMAPS, SmallCnn};
use crate::{BackboneError, BackboneResult};

type PackTensor = burn::store::burn_pack::Tensor;

/// What an import applied, and what the file held that the model does not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Model parameter paths that received a tensor.
    pub applied: Vec<String>,
    /// Checkpoint keys (after remapping) that the model has no parameter for.
    pub unused: Vec<String>,
}

/// Reshapes `[1, C]` BatchNorm vectors to `[C]`: the BN-Inception checkpoint stores its
/// BatchNorm weight, bias and running statistics that way (the DML repositories squeeze them
/// before `load_state_dict`). Only tensors landing in a `BatchNorm` are touched.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqueezeBatchNormAdapter;

impl ModuleAdapter for SqueezeBatchNormAdapter {
    fn adapt(&self, tensor: PackTensor, ctx: ModuleContext<'_>) -> PackTensor {
        let is_bn = ctx.module_type().is_some_and(|t| t.ends_with("BatchNorm"));
        let dims = tensor.shape.to_vec();
        if !is_bn || dims.len() != 2 || dims[0] != 1 {
            return tensor;
        }
        let shape = Shape::from(vec![dims[1]]);
        let name = tensor.name.clone();
        let dtype = tensor.dtype;
        let target = shape.clone();
        bridge::map_data(tensor, name, dtype, shape, move |data: TensorData| {
            let (bytes, _, dtype) = data.into_parts();
            TensorData::from_bytes(bytes, target.clone(), dtype)
        })
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(*self)
    }
}

fn check_readable(path: &Path) -> BackboneResult<()> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|source| BackboneError::Io { path: path.to_path_buf(), source })
}

fn read_pytorch(path: &Path) -> BackboneResult<Vec<PackTensor>> {
    check_readable(path)?;
    let reader = PytorchReader::new(path).map_err(|e| BackboneError::NotACheckpoint {
        path: path.to_path_buf(),
        format: "PyTorch .pth",
        reason: e.to_string(),
    })?;
    Ok(reader.into_tensors().into_values().map(bridge::from_pytorch).collect())
}

fn read_safetensors(path: &Path) -> BackboneResult<Vec<PackTensor>> {
    check_readable(path)?;
    let mut store = SafetensorsStore::from_file(path);
    let tensors = store.get_all_tensors().map_err(|e| BackboneError::NotACheckpoint {
        path: path.to_path_buf(),
        format: "safetensors",
        reason: e.to_string(),
    })?;
    Ok(tensors.values().cloned().collect())
}

fn apply<M: Module>(
    module: &mut M,
    tensors: Vec<PackTensor>,
    remaps: &[(&str, &str)],
    adapter: Option<Box<dyn ModuleAdapter>>,
    path: &Path,
) -> BackboneResult<ImportReport> {
    // PyTorch names never contain Burn's enum variant names (`backbone.ResNet50.conv1`); our
    // own saved files do.
    let skip_enum_variants = adapter.is_some();
    let remapper = KeyRemapper::from_patterns(remaps.to_vec())
        .map_err(|e| BackboneError::InvalidRemap(e.to_string()))?;
    let (tensors, _) = remapper.remap(tensors);
    let result = module.apply(tensors, None, adapter, skip_enum_variants);
    into_report(result, path)
}

fn into_report(result: ApplyResult, path: &Path) -> BackboneResult<ImportReport> {
    let path_buf = || PathBuf::from(path);
    if !result.errors.is_empty() {
        let shape_errors: Vec<String> = result
            .errors
            .iter()
            .filter_map(|e| match e {
                ApplyError::ShapeMismatch { path, expected, found } => Some(format!(
                    "'{path}': model expects {:?}, checkpoint has {:?}",
                    expected.to_vec(),
                    found.to_vec()
                )),
                _ => None,
            })
            .collect();
        if !shape_errors.is_empty() {
            return Err(BackboneError::WrongShape { path: path_buf(), details: shape_errors });
        }
        let details = result.errors.iter().map(|e| e.to_string()).collect();
        return Err(BackboneError::Incompatible { path: path_buf(), details });
    }
    if !result.missing.is_empty() {
        let keys = result.missing.into_iter().map(|(p, _)| p).collect();
        return Err(BackboneError::MissingKeys { path: path_buf(), keys });
    }
    Ok(ImportReport { applied: result.applied, unused: result.unused })
}

fn pytorch_adapter() -> Box<dyn ModuleAdapter> {
    Box::new(ChainAdapter::new(PyTorchToBurnAdapter, SqueezeBatchNormAdapter))
}

/// Imports a PyTorch `.pth` state dict into `module`, renaming keys with `remaps`
/// (`(regex, replacement)` pairs applied in order).
///
/// # Errors
/// [`BackboneError::Io`] (missing file), [`BackboneError::NotACheckpoint`],
/// [`BackboneError::MissingKeys`], [`BackboneError::WrongShape`],
/// [`BackboneError::Incompatible`], [`BackboneError::InvalidRemap`]. On error the module may
/// hold a mix of imported and initial weights: rebuild it before retrying.
pub fn load_pytorch<M: Module>(
    module: &mut M,
    path: impl AsRef<Path>,
    remaps: &[(&str, &str)],
) -> BackboneResult<ImportReport> {
    let path = path.as_ref();
    let tensors = read_pytorch(path)?;
    apply(module, tensors, remaps, Some(pytorch_adapter()), path)
}

/// Imports a safetensors file written from a PyTorch state dict (PyTorch names and layout),
/// like [`load_pytorch`].
///
/// # Errors
/// As [`load_pytorch`].
pub fn load_pytorch_safetensors<M: Module>(
    module: &mut M,
    path: impl AsRef<Path>,
    remaps: &[(&str, &str)],
) -> BackboneResult<ImportReport> {
    let path = path.as_ref();
    let tensors = read_safetensors(path)?;
    apply(module, tensors, remaps, Some(pytorch_adapter()), path)
}

/// Saves any module (e.g. a struct holding an [`EmbeddingModel`](crate::EmbeddingModel) and a
/// loss with proxies) to a safetensors file in Burn's own names, overwriting it.
///
/// BatchNorm running statistics are saved, including the last pending update; training flags and `require_grad` settings are
/// runtime configuration and are not (re-apply the switches after loading).
///
/// # Errors
/// [`BackboneError::Save`] when the file cannot be written.
pub fn save_model<M: Module>(module: &M, path: impl AsRef<Path>) -> BackboneResult<()> {
    let path = path.as_ref();
    let mut store = SafetensorsStore::from_file(path).overwrite(true);
    // `valid()` folds the BatchNorm running-statistics updates still pending on worker threads
    // into the saved values (a plain visit would save them one update behind).
    module
        .valid()
        .save_into(&mut store)
        .map_err(|e| BackboneError::Save { path: path.to_path_buf(), reason: e.to_string() })
}

/// Loads a file written by [`save_model`] into a module of the same structure.
///
/// # Errors
/// As [`load_pytorch`].
pub fn load_model<M: Module>(
    module: &mut M,
    path: impl AsRef<Path>,
) -> BackboneResult<ImportReport> {
    let path = path.as_ref();
    let tensors = read_safetensors(path)?;
    apply(module, tensors, &[], None, path)
}

impl ResNet50 {
    /// Imports torchvision's `resnet50` state dict (`.pth`), e.g. `resnet50-0676ba61.pth` or
    /// `resnet50-11ad3fa6.pth`.
    ///
    /// # Errors
    /// As [`load_pytorch`].
    pub fn load_torchvision(&mut self, path: impl AsRef<Path>) -> BackboneResult<ImportReport> {
        load_pytorch(self, path, RESNET50_KEY_REMAPS)
    }
}

impl BnInception {
    /// Imports the BN-Inception checkpoint (`bn_inception-52deb4733.pth`, its `[1, C]`
    /// BatchNorm vectors included).
    ///
    /// # Errors
    /// As [`load_pytorch`].
    pub fn load_pretrained(&mut self, path: impl AsRef<Path>) -> BackboneResult<ImportReport> {
        load_pytorch(self, path, BN_INCEPTION_KEY_REMAPS)
    }
}

impl SmallCnn {
    /// Imports the PyTorch `SmallCnn` of `tools/gen_backbone_checkpoints.py` from `.pth` or
    /// `.safetensors` (chosen by extension).
    ///
    /// # Errors
    /// As [`load_pytorch`].
    pub fn load_pytorch(&mut self, path: impl AsRef<Path>) -> BackboneResult<ImportReport> {
        let path = path.as_ref();
        if path.extension().is_some_and(|e| e == "safetensors") {
            load_pytorch_safetensors(self, path, SMALL_CNN_KEY_REMAPS)
        } else {
            load_pytorch(self, path, SMALL_CNN_KEY_REMAPS)
        }
    }
}
