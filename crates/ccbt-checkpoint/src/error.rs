//! What can be wrong with a checkpoint, named so a caller can warn in words and fall back to a
//! full recheck.

use std::path::PathBuf;

use ccbt_core::{InfoHash, InfoHashV2};

/// A checkpoint that could not be written, read or trusted.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The data ends before the checkpoint does (a write cut short, a truncated copy).
    #[error("truncated checkpoint: {reason}")]
    Truncated { reason: String },
    /// Neither a JSON checkpoint nor the binary format's magic bytes: not a ccbt checkpoint.
    #[error("not a ccbt checkpoint (unknown format)")]
    BadMagic,
    /// The binary payload does not match its CRC32: the file was damaged.
    #[error("checkpoint checksum mismatch (expected {expected:08x}, computed {computed:08x})")]
    ChecksumMismatch { expected: u32, computed: u32 },
    /// Written by a newer ccbt (or an unknown version number): never read partially.
    #[error("checkpoint format version {found} is not supported (this build reads 1 to {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
    /// Well framed but its content does not make sense.
    #[error("malformed checkpoint: {reason}")]
    Malformed { reason: String },
    /// Larger than any checkpoint this build writes or reads ([`crate::MAX_CHECKPOINT_BYTES`]).
    #[error("checkpoint too large: {size} bytes (limit {limit})")]
    TooLarge { size: u64, limit: u64 },
    /// The checkpoint belongs to another torrent than the one asked for (a foreign file).
    #[error("checkpoint is for torrent {found}, expected {expected}")]
    InfoHashMismatch { expected: InfoHash, found: InfoHash },
    /// The stored info dictionary does not hash to the checkpoint's info hash.
    #[error("the info dictionary in the checkpoint hashes to {computed}, not to its info hash {info_hash}")]
    InfoDictMismatch { info_hash: InfoHash, computed: InfoHash },
    /// The stored info dictionary's SHA-256 is not the checkpoint's v2 info hash.
    #[error("the info dictionary in the checkpoint hashes (SHA-256) to {computed}, not to its v2 info hash {info_hash_v2}")]
    InfoDictMismatchV2 { info_hash_v2: InfoHashV2, computed: InfoHashV2 },
    /// The checkpoint cannot be encoded (a path that is not UTF-8, a version this build does not write).
    #[error("cannot encode checkpoint: {reason}")]
    Encode { reason: String },
    /// No checkpoint matches an info hash or prefix.
    #[error("no checkpoint matches {query}")]
    NotFound { query: String },
    /// An info hash prefix matches several checkpoints.
    #[error("{query} matches several checkpoints: {}", matches.join(", "))]
    Ambiguous { query: String, matches: Vec<String> },
    /// A file system operation on the checkpoint folder failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The problem of one checkpoint file, with its path.
    #[error("{}: {source}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<CheckpointError>,
    },
}

impl CheckpointError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> CheckpointError {
        CheckpointError::Io { op, path: path.into(), source }
    }

    pub(crate) fn in_file(self, path: impl Into<PathBuf>) -> CheckpointError {
        match self {
            already @ CheckpointError::InFile { .. } => already,
            other => CheckpointError::InFile { path: path.into(), source: Box::new(other) },
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> CheckpointError {
        CheckpointError::Malformed { reason: reason.into() }
    }

    /// The error itself, without the file it was found in.
    pub fn kind(&self) -> &CheckpointError {
        match self {
            CheckpointError::InFile { source, .. } => source.kind(),
            other => other,
        }
    }
}
