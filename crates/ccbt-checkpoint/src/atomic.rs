//! Durable replacement of a file: the new content is complete on disk before it takes the name,
//! and the rename itself is durable before we report success.
//!
//! Steps: write a temporary file in the same folder (so the rename stays on one file system) under
//! a unique hidden name, fsync it, rename it over the real name, fsync the folder. A crash at any
//! point leaves either the old file or the new one under the real name, never a half-written one;
//! at worst a stale temporary file remains, which readers ignore and `clean` removes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::CheckpointError;

/// Temporary files start with this (hidden, and never matching a checkpoint's name).
pub(crate) const TEMP_PREFIX: &str = ".tmp.";

/// Makes each temporary name unique within the process; the pid makes it unique across processes.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `bytes` durably (see the module docs). The file is created 0600.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let dir = parent(path);
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let serial = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!("{TEMP_PREFIX}{}.{serial}.{file_name}", std::process::id()));
    let result = write_synced(&temp, bytes).and_then(|()| {
        fs::rename(&temp, path).map_err(|e| CheckpointError::io("rename into place", path, e))
    });
    if result.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_file(&temp);
        return result;
    }
    sync_dir(&dir)
}

fn write_synced(temp: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(|e| CheckpointError::io("create", temp, e))?;
    file.write_all(bytes).map_err(|e| CheckpointError::io("write", temp, e))?;
    file.sync_all().map_err(|e| CheckpointError::io("fsync", temp, e))
}

/// Makes renames and removals in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| CheckpointError::io("fsync folder", dir, e))
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.checkpoint.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.checkpoint.json")]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        write_atomically(&path, b"old").unwrap();
        // Renaming a file over a non-empty folder fails: the old content must stay and no
        // temporary file may be left behind.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("inside"), b"").unwrap();
        assert!(write_atomically(&blocked, b"new").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let temps = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(TEMP_PREFIX))
            .count();
        assert_eq!(temps, 0);
    }
}
