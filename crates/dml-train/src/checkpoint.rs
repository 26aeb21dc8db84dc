//! Checkpoint files: named binary sections behind a magic number, a length and a CRC-32,
//! written atomically (temporary file in the same directory, fsync, rename, fsync of the
//! directory), so that a crash mid-write leaves the previous checkpoint intact and a damaged
//! file is reported as such instead of being half-loaded.
//!
//! Layout (little endian):
//! `b"DMLCKPT1"`, `u64` payload length, `u32` CRC-32 of the payload, payload; the payload is a
//! `u32` section count followed by `(u32 name length, name, u64 data length, data)` per
//! section.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{TrainError, TrainResult, io_err};

const MAGIC: &[u8; 8] = b"DMLCKPT1";
const HEADER: usize = 8 + 8 + 4;

/// Writes `bytes` to `path` atomically: the file either keeps its old content or holds all
/// of the new one, whatever happens during the write.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> TrainResult<()> {
    write_atomic_with(path, bytes, &|| {})
}

/// [`write_atomic`], calling `midway` when half of the bytes are in the temporary file (the
/// crash tests' fault point, [`crate::fault`]).
pub fn write_atomic_with(path: &Path, bytes: &[u8], midway: &dyn Fn()) -> TrainResult<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io_err("creating directory", &dir))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp).map_err(io_err("creating", &tmp))?;
        let half = bytes.len() / 2;
        file.write_all(&bytes[..half]).map_err(io_err("writing", &tmp))?;
        file.flush().map_err(io_err("writing", &tmp))?;
        midway();
        file.write_all(&bytes[half..]).map_err(io_err("writing", &tmp))?;
        file.sync_all().map_err(io_err("syncing", &tmp))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io_err("renaming into", path))?;
        // Make the rename itself durable. Not every platform can open a directory; the data
        // is already safe, so a failure here is not an error.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A checkpoint in memory: named byte sections (`meta`, `model`, `loss`, `optim.model`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checkpoint {
    /// The sections, by name.
    pub sections: BTreeMap<String, Vec<u8>>,
}

impl Checkpoint {
    /// An empty checkpoint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a section.
    pub fn insert(&mut self, name: &str, data: Vec<u8>) {
        self.sections.insert(name.to_string(), data);
    }

    /// The section `name`, or an error naming it and the file.
    pub fn section(&self, name: &str, path: &Path) -> TrainResult<&[u8]> {
        self.sections.get(name).map(Vec::as_slice).ok_or_else(|| TrainError::CorruptCheckpoint {
            path: path.to_path_buf(),
            reason: format!("section `{name}` is missing"),
        })
    }

    /// Serializes the checkpoint.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend_from_slice(&(self.sections.len() as u32).to_le_bytes());
        for (name, data) in &self.sections {
            payload.extend_from_slice(&(name.len() as u32).to_le_bytes());
            payload.extend_from_slice(name.as_bytes());
            payload.extend_from_slice(&(data.len() as u64).to_le_bytes());
            payload.extend_from_slice(data);
        }
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Parses a checkpoint, checking its magic number, length and checksum; `path` is only
    /// used in error messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> TrainResult<Self> {
        let corrupt =
            |reason: String| TrainError::CorruptCheckpoint { path: path.to_path_buf(), reason };
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(corrupt("not a dml checkpoint (wrong magic number)".into()));
        }
        let len = u64::from_le_bytes(array(&bytes[8..16])) as usize;
        let crc = u32::from_le_bytes(array(&bytes[16..20]));
        let payload = &bytes[HEADER..];
        if payload.len() != len {
            return Err(corrupt(format!(
                "truncated or extended: {} payload bytes, the header says {len}",
                payload.len()
            )));
        }
        if crc32fast::hash(payload) != crc {
            return Err(corrupt("checksum mismatch (the file is damaged)".into()));
        }
        let mut reader = Reader { bytes: payload, pos: 0 };
        let count = reader.u32().ok_or_else(|| corrupt("no section count".into()))?;
        let mut sections = BTreeMap::new();
        for _ in 0..count {
            let name_len = reader.u32().ok_or_else(|| corrupt("truncated section".into()))?;
            let name = reader.take(name_len as usize).ok_or_else(|| corrupt("truncated".into()))?;
            let name = String::from_utf8(name.to_vec())
                .map_err(|_| corrupt("section name is not UTF-8".into()))?;
            let data_len = reader.u64().ok_or_else(|| corrupt("truncated section".into()))?;
            let data = reader.take(data_len as usize).ok_or_else(|| corrupt("truncated".into()))?;
            sections.insert(name, data.to_vec());
        }
        Ok(Self { sections })
    }

    /// Writes the checkpoint atomically.
    pub fn save(&self, path: &Path) -> TrainResult<()> {
        write_atomic(path, &self.to_bytes())
    }

    /// Writes the checkpoint atomically, calling `midway` half way through (see
    /// [`write_atomic_with`]).
    pub fn save_with(&self, path: &Path, midway: &dyn Fn()) -> TrainResult<()> {
        write_atomic_with(path, &self.to_bytes(), midway)
    }

    /// Reads and checks a checkpoint; a missing file is [`TrainError::MissingCheckpoint`], a
    /// damaged one [`TrainError::CorruptCheckpoint`].
    pub fn load(path: &Path) -> TrainResult<Self> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TrainError::MissingCheckpoint(path.to_path_buf()));
            }
            Err(e) => return Err(io_err("reading checkpoint", path)(e)),
        };
        Self::from_bytes(&bytes, path)
    }
}

fn array<const N: usize>(slice: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&slice[..N]);
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes(array(b)))
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64::from_le_bytes(array(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        let mut c = Checkpoint::new();
        c.insert("meta", b"{\"epoch\":3}".to_vec());
        c.insert("model", vec![7u8; 1000]);
        c
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.ckpt");
        sample().save(&path).expect("save");
        assert_eq!(Checkpoint::load(&path).expect("load"), sample());
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_detected() {
        let bytes = sample().to_bytes();
        let p = Path::new("x.ckpt");
        for cut in [0, 5, HEADER, bytes.len() / 2, bytes.len() - 1] {
            let err = Checkpoint::from_bytes(&bytes[..cut], p).expect_err("truncated");
            assert!(matches!(err, TrainError::CorruptCheckpoint { .. }), "{err}");
        }
        for pos in [HEADER + 3, bytes.len() - 10] {
            let mut b = bytes.clone();
            b[pos] ^= 0x10;
            let err = Checkpoint::from_bytes(&b, p).expect_err("flipped");
            assert!(err.to_string().contains("checksum"), "{err}");
        }
    }

    #[test]
    fn missing_file_is_named() {
        let err = Checkpoint::load(Path::new("/nonexistent/dir/last.ckpt")).expect_err("missing");
        assert!(matches!(err, TrainError::MissingCheckpoint(_)));
        assert!(err.to_string().contains("/nonexistent/dir/last.ckpt"));
    }
}
