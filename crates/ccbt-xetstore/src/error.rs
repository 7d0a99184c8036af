//! The store's one error type.

use std::path::PathBuf;

/// What went wrong in the chunk store. Lower-case messages naming the file or the value.
#[derive(Debug, thiserror::Error)]
pub enum XetStoreError {
    /// The store folder or a payload file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot create the store folder").
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `index.redb` is not a readable index; it can be deleted and rebuilt.
    #[error(
        "the xet index {} is damaged ({reason}); delete it to start an empty index (payload files are indexed again when their torrents are checked)",
        path.display()
    )]
    Corrupt { path: PathBuf, reason: String },
    /// Another process (or another handle in this one) has the index open.
    #[error("the xet index {} is in use by another ccbt process (a running daemon or session)", path.display())]
    InUse { path: PathBuf },
    /// The embedded database failed for another reason.
    #[error("xet index {}: {reason}", path.display())]
    Database { path: PathBuf, reason: String },
    /// `index_file` was given chunks that do not describe the file.
    #[error("{} does not match its chunks: {reason}", path.display())]
    ChunksMismatch { path: PathBuf, reason: String },
    /// A manifest entry no chunker produces (a length of 0 or over 128 KiB), or offsets that overflow.
    #[error("bad manifest: {0}")]
    BadManifest(String),
    /// The file changed while `index_path` was reading it.
    #[error("{} changed while it was being indexed", path.display())]
    ChangedWhileIndexing { path: PathBuf },
}

/// Shorthand for the store's results.
pub type Result<T, E = XetStoreError> = std::result::Result<T, E>;
