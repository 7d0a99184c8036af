use std::path::PathBuf;

use thiserror::Error;

/// Errors of the storage layer. Every variant that concerns a file names it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An operating-system call on `path` failed.
    #[error("{op} failed on {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What we were doing: "open", "write", "fsync", ...
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file holding part of the range is missing or shorter than the torrent says.
    #[error("file {path} is missing or shorter than the torrent says")]
    Missing { path: PathBuf },
    /// A path component is unsafe (`..`, `.`, empty, separator, NUL) or the path leaves the root.
    #[error("unsafe path {path}")]
    UnsafePath { path: PathBuf },
    /// The byte range lies (partly) outside the torrent.
    #[error("range of {len} bytes at offset {offset} is outside the torrent")]
    OutOfRange { offset: u64, len: u64 },
    /// A file existed with data before the torrent was added, ccbt did not create it, and none
    /// of the torrent's verified pieces lie in it: ccbt does not write into it.
    /// The message names both ways out, since it reaches the user as is.
    #[error(
        "{path} already exists, was not created by ccbt and holds none of this torrent's data, so \
         ccbt does not write into it: move the file away (or download to another folder), or \
         allow overwriting it (--overwrite)"
    )]
    NotOurs { path: PathBuf },
    /// A write was attempted on storage opened read-only by `FileStorage::open_existing`.
    #[error("cannot write to {path}: storage was opened read-only")]
    ReadOnly { path: PathBuf },
    /// A directory given to `scan_path` holds no regular file.
    #[error("directory {path} contains no files")]
    EmptyDirectory { path: PathBuf },
    /// A path given to `scan_path` is neither a regular file nor a directory.
    #[error("{path} is neither a regular file nor a directory")]
    NotRegular { path: PathBuf },
    /// A file name is not valid UTF-8, so it cannot be stored in a torrent.
    #[error("file name {path} is not valid utf-8")]
    NonUtf8Name { path: PathBuf },
}

impl StorageError {
    /// Wraps an I/O error with the file and the operation that failed.
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Self {
        StorageError::Io { path: path.into(), op, source }
    }
}
