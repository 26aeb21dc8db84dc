//! Embedding files: what `embed` writes and `query` reads.
//!
//! Two formats, chosen by the file extension:
//! - **`.npy`** (NumPy format 1.0, `<f4`, C order, shape `[n, d]`), with two sidecar files
//!   beside it: `<stem>.paths.txt` (one image path per line, in row order) and, when the
//!   images have labels, `<stem>.labels.npy` (`<i8`, shape `[n]`). `numpy.load` reads them.
//! - **`.safetensors`**: tensors `embeddings` (F32 `[n, d]`) and optionally `labels`
//!   (I64 `[n]`); the metadata key `paths` holds the image paths as a JSON array, `model`
//!   and `checkpoint` say what produced them. `safetensors.numpy.load_file` reads it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};

use crate::checkpoint::write_atomic;
use crate::error::{TrainError, TrainResult, io_err};

/// Embeddings of a set of images with their paths (and labels when known).
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingFile {
    /// Row-major `[rows, dim]` values.
    pub embeddings: Vec<f32>,
    /// Embedding size.
    pub dim: usize,
    /// The image of each row.
    pub paths: Vec<String>,
    /// The label of each row, when the images came with labels.
    pub labels: Option<Vec<i64>>,
    /// Provenance (`checkpoint`, `model`, `model_hash`, `config_hash`, ...), kept in the
    /// safetensors metadata or the `.npy`'s `<stem>.info.json`; on load, `file` names the file
    /// read.
    pub info: HashMap<String, String>,
}

fn format_err(path: &Path, reason: impl Into<String>) -> TrainError {
    TrainError::EmbeddingFile { path: path.to_path_buf(), reason: reason.into() }
}

/// The file formats, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Npy,
    Safetensors,
}

fn format_of(path: &Path) -> TrainResult<Format> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("npy") => Ok(Format::Npy),
        Some("safetensors") => Ok(Format::Safetensors),
        _ => Err(format_err(path, "the file name must end in .npy or .safetensors")),
    }
}

/// `dir/stem.suffix` beside `path`.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!("{stem}.{suffix}"))
}

impl EmbeddingFile {
    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.paths.len()
    }

    /// Checks that the parts agree in length.
    fn check(&self, path: &Path) -> TrainResult<()> {
        let n = self.paths.len();
        if self.dim == 0 || self.embeddings.len() != n * self.dim {
            return Err(format_err(
                path,
                format!("{} values for {n} paths of dimension {}", self.embeddings.len(), self.dim),
            ));
        }
        if let Some(l) = &self.labels
            && l.len() != n
        {
            return Err(format_err(path, format!("{} labels for {n} rows", l.len())));
        }
        Ok(())
    }

    /// Writes the file (and its sidecars for `.npy`), each atomically.
    ///
    /// # Errors
    /// [`TrainError::EmbeddingFile`] for an unknown extension or inconsistent lengths,
    /// [`TrainError::Io`] when writing fails.
    pub fn save(&self, path: &Path) -> TrainResult<()> {
        self.check(path)?;
        match format_of(path)? {
            Format::Npy => {
                let values: Vec<u8> =
                    self.embeddings.iter().flat_map(|v| v.to_le_bytes()).collect();
                write_atomic(path, &npy_bytes("<f4", &[self.rows(), self.dim], &values))?;
                let mut text = String::new();
                for p in &self.paths {
                    text.push_str(p);
                    text.push('\n');
                }
                write_atomic(&sidecar(path, "paths.txt"), text.as_bytes())?;
                let mut info = self.info.clone();
                info.remove("file");
                let info = serde_json::to_vec_pretty(&info)
                    .map_err(|e| format_err(path, e.to_string()))?;
                write_atomic(&sidecar(path, "info.json"), &info)?;
                let labels_path = sidecar(path, "labels.npy");
                match &self.labels {
                    Some(l) => {
                        let bytes: Vec<u8> = l.iter().flat_map(|v| v.to_le_bytes()).collect();
                        write_atomic(&labels_path, &npy_bytes("<i8", &[l.len()], &bytes))?;
                    }
                    // A stale labels file from an earlier run would be read with these rows.
                    None if labels_path.exists() => std::fs::remove_file(&labels_path)
                        .map_err(io_err("removing stale", &labels_path))?,
                    None => {}
                }
                Ok(())
            }
            Format::Safetensors => {
                let values: Vec<u8> =
                    self.embeddings.iter().flat_map(|v| v.to_le_bytes()).collect();
                let label_bytes: Option<Vec<u8>> =
                    self.labels.as_ref().map(|l| l.iter().flat_map(|v| v.to_le_bytes()).collect());
                let view_err = |e: safetensors::SafeTensorError| format_err(path, e.to_string());
                let mut tensors = vec![(
                    "embeddings",
                    TensorView::new(Dtype::F32, vec![self.rows(), self.dim], &values)
                        .map_err(view_err)?,
                )];
                if let Some(b) = &label_bytes {
                    tensors.push((
                        "labels",
                        TensorView::new(Dtype::I64, vec![self.rows()], b).map_err(view_err)?,
                    ));
                }
                let mut meta = self.info.clone();
                meta.remove("file");
                meta.insert(
                    "paths".into(),
                    serde_json::to_string(&self.paths)
                        .map_err(|e| format_err(path, e.to_string()))?,
                );
                let bytes = safetensors::serialize(tensors, Some(meta)).map_err(view_err)?;
                write_atomic(path, &bytes)
            }
        }
    }

    /// Reads a file written by [`save`](Self::save) (or by NumPy / safetensors with the same
    /// layout).
    ///
    /// # Errors
    /// [`TrainError::EmbeddingFile`] naming the file and what is wrong with it.
    pub fn load(path: &Path) -> TrainResult<Self> {
        let bytes = std::fs::read(path).map_err(io_err("reading", path))?;
        let file = match format_of(path)? {
            Format::Npy => {
                let (shape, data) = parse_npy(&bytes, "<f4", path)?;
                let [rows, dim] = shape[..] else {
                    return Err(format_err(path, format!("shape {shape:?} is not 2-D")));
                };
                let embeddings = data.chunks_exact(4).map(f32_le).collect();
                let paths_file = sidecar(path, "paths.txt");
                let text =
                    std::fs::read_to_string(&paths_file).map_err(io_err("reading", &paths_file))?;
                let paths: Vec<String> = text.lines().map(str::to_string).collect();
                if paths.len() != rows {
                    return Err(format_err(
                        &paths_file,
                        format!("{} lines, the embeddings have {rows} rows", paths.len()),
                    ));
                }
                let labels_file = sidecar(path, "labels.npy");
                let labels = if labels_file.exists() {
                    let lb =
                        std::fs::read(&labels_file).map_err(io_err("reading", &labels_file))?;
                    let (_, data) = parse_npy(&lb, "<i8", &labels_file)?;
                    Some(data.chunks_exact(8).map(i64_le).collect())
                } else {
                    None
                };
                let info_file = sidecar(path, "info.json");
                let info = if info_file.exists() {
                    let text = std::fs::read_to_string(&info_file)
                        .map_err(io_err("reading", &info_file))?;
                    serde_json::from_str(&text)
                        .map_err(|e| format_err(&info_file, e.to_string()))?
                } else {
                    HashMap::new()
                };
                Self { embeddings, dim, paths, labels, info }
            }
            Format::Safetensors => {
                let err = |e: safetensors::SafeTensorError| format_err(path, e.to_string());
                let st = safetensors::SafeTensors::deserialize(&bytes).map_err(err)?;
                let emb = st.tensor("embeddings").map_err(err)?;
                let (&[rows, dim], Dtype::F32) = (emb.shape(), emb.dtype()) else {
                    return Err(format_err(path, "`embeddings` must be a 2-D F32 tensor"));
                };
                let embeddings = emb.data().chunks_exact(4).map(f32_le).collect();
                let labels = match st.tensor("labels") {
                    Ok(l) if l.dtype() == Dtype::I64 && l.shape() == [rows] => {
                        Some(l.data().chunks_exact(8).map(i64_le).collect())
                    }
                    Ok(_) => return Err(format_err(path, "`labels` must be an I64 [rows] tensor")),
                    Err(_) => None,
                };
                let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(err)?;
                let mut info = meta.metadata().clone().unwrap_or_default();
                let paths_json = info
                    .remove("paths")
                    .ok_or_else(|| format_err(path, "metadata key `paths` is missing"))?;
                let paths: Vec<String> = serde_json::from_str(&paths_json)
                    .map_err(|e| format_err(path, format!("metadata `paths`: {e}")))?;
                Self { embeddings, dim, paths, labels, info }
            }
        };
        file.check(path)?;
        let mut file = file;
        file.info.insert("file".into(), path.display().to_string());
        Ok(file)
    }
}

fn f32_le(c: &[u8]) -> f32 {
    f32::from_le_bytes([c[0], c[1], c[2], c[3]])
}

fn i64_le(c: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(c);
    i64::from_le_bytes(b)
}

/// A NumPy format 1.0 file of `shape` holding `data` (already in `descr`'s byte layout).
fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // The magic (6), version (2), length (2) and header end on a 64-byte boundary, with '\n'.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Parses a NumPy file whose dtype must be `descr` (C order): its shape and data bytes.
fn parse_npy<'a>(bytes: &'a [u8], descr: &str, path: &Path) -> TrainResult<(Vec<usize>, &'a [u8])> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format_err(path, "not a NumPy .npy file (bad magic)"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => {
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(format_err(path, format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| format_err(path, "truncated or non-text .npy header"))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        Some(header[at..].trim_start().strip_prefix(':')?.trim_start())
    };
    let d = field("descr").ok_or_else(|| format_err(path, "header has no 'descr'"))?;
    if !d.starts_with(&format!("'{descr}'")) {
        return Err(format_err(
            path,
            format!("dtype {} (expected '{descr}')", &d[..d.len().min(8)]),
        ));
    }
    if !field("fortran_order").is_some_and(|f| f.starts_with("False")) {
        return Err(format_err(path, "Fortran-ordered arrays are not supported"));
    }
    let s = field("shape").ok_or_else(|| format_err(path, "header has no 'shape'"))?;
    let inner = s
        .strip_prefix('(')
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| format_err(path, "malformed 'shape'"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<usize>().map_err(|_| format_err(path, format!("bad dimension `{t}`"))))
        .collect::<TrainResult<Vec<usize>>>()?;
    let item = if descr.ends_with('8') { 8 } else { 4 };
    let expected = shape.iter().product::<usize>() * item;
    let data = &bytes[start + header_len..];
    if data.len() != expected {
        return Err(format_err(
            path,
            format!("{} data bytes, shape {shape:?} needs {expected}", data.len()),
        ));
    }
    Ok((shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(labels: bool) -> EmbeddingFile {
        EmbeddingFile {
            embeddings: vec![1.0, 0.0, 0.5, -0.25, 3.0, 1e-8],
            dim: 2,
            paths: vec!["a/1.jpg".into(), "a/2.jpg".into(), "b 3.jpg".into()],
            labels: labels.then(|| vec![0, 0, 7]),
            info: HashMap::new(),
        }
    }

    #[test]
    fn npy_and_safetensors_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["e.npy", "e.safetensors"] {
            for labels in [true, false] {
                let path = dir.path().join(name);
                let f = sample(labels);
                f.save(&path).expect("saves");
                let back = EmbeddingFile::load(&path).expect("loads");
                assert_eq!(back.embeddings, f.embeddings, "{name}");
                assert_eq!(back.paths, f.paths);
                assert_eq!(back.labels, f.labels, "{name} labels={labels}");
            }
        }
    }

    #[test]
    fn npy_header_is_numpy_format_1() {
        let bytes = npy_bytes("<f4", &[3, 2], &[0u8; 24]);
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("text");
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }"));
        assert!(header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + header_len + 24);
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.npy");
        std::fs::write(&path, b"hello").expect("write");
        let e = EmbeddingFile::load(&path).expect_err("bad magic").to_string();
        assert!(e.contains("x.npy") && e.contains("magic"), "{e}");
        let f = sample(false);
        f.save(&path).expect("saves");
        std::fs::write(sidecar(&path, "paths.txt"), "only one\n").expect("write");
        let e = EmbeddingFile::load(&path).expect_err("short paths").to_string();
        assert!(e.contains("x.paths.txt") && e.contains("3 rows"), "{e}");
        let e = f.save(&dir.path().join("x.csv")).expect_err("extension").to_string();
        assert!(e.contains(".npy or .safetensors"), "{e}");
        let mut wrong = sample(true);
        wrong.labels = Some(vec![1]);
        let e = wrong.save(&path).expect_err("lengths").to_string();
        assert!(e.contains("1 labels for 3 rows"), "{e}");
    }
}
