//! Whose files a torrent may write.
//!
//! A torrent names its files, and with the default output folder `.` a torrent named `.bashrc`
//! would land on the user's own file. The rule: ccbt never writes into a file that existed before
//! the torrent was added, held data, and was not created by ccbt, unless
//! - ccbt created it in an earlier run (the caller passes those files in [`Ownership::owned`];
//!   the engine keeps that record in its state folder), or
//! - the user allows it ([`Ownership::overwrite`], the CLI's `--overwrite`), or
//! - it already holds verified pieces of this torrent (a download another client started): after
//!   the check, [`Storage::claim_verified`](crate::Storage::claim_verified) lets writes in.
//!
//! Such a "foreign" file is opened read-only (so it can be checked), never preallocated, and
//! every write to it fails with [`StorageError::NotOurs`] until it is claimed.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::StorageError;

/// What the caller knows about the files under the root before they are opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ownership {
    /// Layout indices of the files ccbt created (or was allowed to overwrite) in earlier runs of
    /// this torrent in this folder: its own partial files, never mistaken for the user's.
    pub owned: BTreeSet<usize>,
    /// Write into any pre-existing file (the user asked for it: `--overwrite`).
    pub overwrite: bool,
    /// Layout indices of files not to create now (the user skipped them). One that is absent is
    /// created by the first write that touches it (a piece it shares with a wanted file), and
    /// never preallocated; one that exists is opened like any other file.
    pub deferred: BTreeSet<usize>,
}

/// How a file of the torrent was found when its storage was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// It did not exist: ccbt created it now.
    Created,
    /// It existed and ccbt may write it: it was empty, ccbt created it in an earlier run, or the
    /// user allowed overwriting. `had_data`: it was not empty.
    Owned { had_data: bool },
    /// It existed with data ccbt did not write: read-only until its data verifies.
    Foreign,
    /// It did not exist and was skipped: ccbt creates it on the first write that touches it.
    Deferred,
}

const OPEN_FLAGS: libc::c_int = libc::O_NOFOLLOW | libc::O_CLOEXEC;

/// Opens the torrent file at `path` (`length` bytes in the torrent), creating it if absent.
/// `may_write` says whether an existing file with data may be written (owned or overwrite).
pub(crate) fn open_file(path: &Path, length: u64, may_write: bool) -> Result<(File, Origin), StorageError> {
    let created =
        OpenOptions::new().read(true).write(true).create_new(true).custom_flags(OPEN_FLAGS).open(path);
    match created {
        Ok(file) => return Ok((file, Origin::Created)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StorageError::io(path, "create", e)),
    }
    // Probe read-only first: write access to a file we may not touch is never asked for. The
    // O_NONBLOCK keeps a fifo of that name from blocking us; regular files ignore it.
    let probe = OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_FLAGS | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| StorageError::io(path, "open", e))?;
    let meta = probe.metadata().map_err(|e| StorageError::io(path, "stat", e))?;
    if !meta.is_file() {
        return Err(StorageError::NotRegular { path: path.to_path_buf() });
    }
    let had_data = meta.len() > 0;
    // A zero-length torrent file is never written, so whatever that file holds is safe.
    if had_data && length > 0 && !may_write {
        return Ok((probe, Origin::Foreign));
    }
    Ok((open_writable(path)?, Origin::Owned { had_data }))
}

/// Opens an existing file read-write, without following a symlink in its last component.
pub(crate) fn open_writable(path: &Path) -> Result<File, StorageError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(OPEN_FLAGS)
        .open(path)
        .map_err(|e| StorageError::io(path, "open", e))
}

/// Opens an existing file read-only (a foreign file, a sync), without following a symlink in
/// its last component; a regular file only. A file that is gone is `Missing`.
pub(crate) fn open_read_only(path: &Path) -> Result<File, StorageError> {
    let file = OpenOptions::new().read(true).custom_flags(OPEN_FLAGS | libc::O_NONBLOCK).open(path).map_err(
        |e| match e.kind() {
            io::ErrorKind::NotFound => StorageError::Missing { path: path.to_path_buf() },
            _ => StorageError::io(path, "open", e),
        },
    )?;
    let meta = file.metadata().map_err(|e| StorageError::io(path, "stat", e))?;
    if !meta.is_file() {
        return Err(StorageError::NotRegular { path: path.to_path_buf() });
    }
    Ok(file)
}

/// The pieces a file's bytes lie in, `first..=last`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PieceSpan {
    first: u64,
    last: u64,
}

impl PieceSpan {
    pub(crate) fn new(first: u64, last: u64) -> PieceSpan {
        PieceSpan { first, last }
    }

    /// Whether `test` holds for some piece of the span (pieces past `u32` never exist).
    pub(crate) fn any(self, test: impl Fn(u32) -> bool) -> bool {
        let last = u32::try_from(self.last).unwrap_or(u32::MAX);
        let Ok(first) = u32::try_from(self.first) else { return false };
        (first..=last).any(test)
    }
}
