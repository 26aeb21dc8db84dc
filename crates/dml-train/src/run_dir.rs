//! A run directory is owned by one run: an exclusive lock while it trains, and no silent
//! replacement of an earlier run's results.
//!
//! - **Lock.** `<dir>/.lock` is locked exclusively (an advisory OS lock, `File::try_lock`) for
//!   as long as the run trains; the lock goes with the process, even when it is killed. A
//!   second run on the same directory fails at once, naming the holder's PID from the file.
//! - **Earlier results.** A directory that holds another run's outputs (a checkpoint of another
//!   run id, or metrics and `config.json` without a checkpoint of this run) is refused unless
//!   `run.overwrite` is set, in which case those files are removed first. A resumed run owns
//!   the directory its checkpoint came from (same run id).
//! - **Stale temporary files** (`.<name>.tmp-<pid>` of an atomic write that was interrupted)
//!   are removed once the lock is held: no other writer can be using them.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::checkpoint::Checkpoint;
use crate::error::{TrainError, TrainResult, io_err};

/// The files a run writes into its directory (besides numbered `step-*.ckpt` checkpoints).
pub const RUN_OUTPUTS: [&str; 8] = [
    "config.json",
    "last.ckpt",
    "best.ckpt",
    "metrics.csv",
    "evaluations.csv",
    "metrics.json",
    "plot.svg",
    "history.json",
];

/// A held run directory; the lock is released when this is dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: File,
}

fn is_numbered_checkpoint(name: &str) -> bool {
    name.starts_with("step-") && name.ends_with(".ckpt")
}

fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// The run id recorded in a checkpoint's metadata, if the file is readable.
fn run_id_of(path: &Path) -> Option<String> {
    let ckpt = Checkpoint::load(path).ok()?;
    let meta: serde_json::Value = serde_json::from_slice(ckpt.section("meta", path).ok()?).ok()?;
    meta.get("run_id").and_then(|v| v.as_str()).map(str::to_string)
}

impl RunDir {
    /// Takes `path` for the run `run_id` (creating the directory).
    ///
    /// # Errors
    /// [`TrainError::RunDirectoryInUse`] when another process holds it,
    /// [`TrainError::RunDirectoryOccupied`] when it holds another run's results and `overwrite`
    /// is false, [`TrainError::Io`] for file-system errors.
    pub fn claim(path: &Path, run_id: &str, overwrite: bool) -> TrainResult<Self> {
        std::fs::create_dir_all(path).map_err(io_err("creating run directory", path))?;
        let lock_path = path.join(".lock");
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err("opening", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                let holder = holder.trim().replace('\n', ", ");
                return Err(TrainError::RunDirectoryInUse {
                    path: path.to_path_buf(),
                    holder: if holder.is_empty() { "a process".into() } else { holder },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err("locking", &lock_path)(e)),
        }
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        lock.set_len(0).map_err(io_err("writing", &lock_path))?;
        lock.seek(SeekFrom::Start(0)).map_err(io_err("writing", &lock_path))?;
        write!(
            lock,
            "process {}, run {run_id}, started at unix time {started}",
            std::process::id()
        )
        .map_err(io_err("writing", &lock_path))?;
        let _ = lock.flush();

        let mut found = Vec::new();
        let mut ours = false;
        let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(path)
            .map_err(io_err("listing", path))?
            .filter_map(|e| e.ok())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        entries.sort();
        for (name, file) in &entries {
            if is_temporary(name) {
                std::fs::remove_file(file).map_err(io_err("removing stale", file))?;
            } else if name == "last.ckpt" || name == "best.ckpt" {
                match run_id_of(file) {
                    Some(id) if id == run_id => ours = true,
                    Some(id) => found.push(format!("{name} of run {id}")),
                    None => found.push(format!("{name} (unreadable)")),
                }
            } else if RUN_OUTPUTS.contains(&name.as_str()) || is_numbered_checkpoint(name) {
                found.push(name.clone());
            }
        }
        let foreign: Vec<&String> = found
            .iter()
            .filter(|f| !(ours && (RUN_OUTPUTS.contains(&f.as_str()) || is_numbered_checkpoint(f))))
            .collect();
        if !foreign.is_empty() {
            if !overwrite {
                return Err(TrainError::RunDirectoryOccupied {
                    path: path.to_path_buf(),
                    found: foreign.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                });
            }
            for (name, file) in &entries {
                if RUN_OUTPUTS.contains(&name.as_str()) || is_numbered_checkpoint(name) {
                    std::fs::remove_file(file).map_err(io_err("removing", file))?;
                }
            }
        }
        Ok(Self { path: path.to_path_buf(), _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_fails_naming_the_holder_and_stale_temporaries_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".last.ckpt.tmp-999"), b"half").expect("write");
        let held = RunDir::claim(dir.path(), "run-a", false).expect("first");
        assert!(!dir.path().join(".last.ckpt.tmp-999").exists());
        let err = RunDir::claim(dir.path(), "run-b", false).expect_err("held").to_string();
        assert!(err.contains(&format!("process {}", std::process::id())), "{err}");
        drop(held);
        RunDir::claim(dir.path(), "run-b", false).expect("released");
    }

    #[test]
    fn earlier_results_are_refused_unless_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("metrics.csv"), b"epoch\n").expect("write");
        let err = RunDir::claim(dir.path(), "run-a", false).expect_err("occupied").to_string();
        assert!(err.contains("metrics.csv") && err.contains("--overwrite"), "{err}");
        assert!(dir.path().join("metrics.csv").exists());
        RunDir::claim(dir.path(), "run-a", true).expect("overwrite");
        assert!(!dir.path().join("metrics.csv").exists());
    }
}
