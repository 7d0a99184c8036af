//! Engine errors, by blast radius (see docs/ARCHITECTURE.md): a [`SessionError`] is returned by
//! session-level calls; a [`TorrentError`] moves one torrent to the error state with a reason.
//! Errors of single connections end that connection only (`peer::ConnEnd`, which wraps
//! `ccbt_proto::peer::PeerError`). No `From` converts a lower level into a higher one: each
//! seam says which blast radius an error has.

use std::path::PathBuf;

use ccbt_storage::StorageError;
use thiserror::Error;

/// Failure of a session-level operation.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("invalid option `{key}`: {reason}")]
    InvalidOption { key: &'static str, reason: &'static str },
    #[error("cannot listen on port {port}: {source}")]
    Listen { port: u16, source: std::io::Error },
    #[error("no free listen port in {first}..={last}")]
    NoFreePort { first: u16, last: u16 },
    #[error("cannot start the hash pool: {0}")]
    HashPool(#[source] StorageError),
    #[error("torrent {info_hash} is already in the session")]
    DuplicateTorrent { info_hash: String },
    #[error("no torrent with id {0}")]
    UnknownTorrent(u64),
    /// A v2 .torrent without the `piece layers` of some files: its pieces cannot be checked.
    #[error(
        "the v2 torrent {info_hash} lacks the piece layers of {files} file(s), so its pieces cannot be \
         verified; add it by its magnet link (ccbt then fetches the layers from peers)"
    )]
    MissingPieceLayers { info_hash: String, files: usize },
    #[error("torrent {0} is still fetching its metadata")]
    MetadataPending(u64),
    #[error("cannot read {path}: {source}")]
    ReadTorrentFile { path: PathBuf, source: std::io::Error },
    #[error("invalid torrent {path}: {source}")]
    InvalidTorrent { path: PathBuf, source: ccbt_metainfo::MetainfoError },
    #[error("invalid magnet link: {0}")]
    InvalidMagnet(ccbt_metainfo::MagnetError),
    /// A torrent could not be started.
    #[error(transparent)]
    Torrent(TorrentError),
    #[error("invalid file selection: {0}")]
    InvalidSelection(String),
    /// [`crate::Session::open_file`] cannot read this file.
    #[error("cannot read file {index}: {reason}")]
    FileUnavailable { index: u32, reason: String },
    #[error("tracker {url}: {reason}")]
    Tracker { url: String, reason: String },
    #[error("the session is shut down")]
    ShutDown,
    /// A checkpoint cannot be read, or is damaged, foreign or of a newer version.
    #[error("checkpoint: {0}")]
    Checkpoint(#[source] ccbt_checkpoint::CheckpointError),
    /// A checkpoint without the info dictionary, a magnet link or a readable `.torrent`.
    #[error("the checkpoint of {info_hash} says neither what the torrent is nor where it came from")]
    NotResumable { info_hash: String },
    /// The torrent cannot do this in its present state (a recheck while it checks, a
    /// reannounce while it is paused).
    #[error("torrent {id}: {reason}")]
    Busy { id: u64, reason: &'static str },
    /// Deleting a removed torrent's files failed part way (the torrent is removed; the message
    /// names what could not be deleted).
    #[error("deleting the data of the removed torrent: {0}")]
    DeleteData(String),
}

/// Why a torrent stopped working (carried by `TorrentState::Error`).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TorrentError {
    /// Reading, writing or creating the torrent's files failed.
    #[error("storage error: {0}")]
    Storage(#[source] StorageError),
    /// The metadata of a magnet link could not be fetched or used.
    #[error("cannot fetch the metadata: {reason}")]
    Metadata { reason: String },
    /// A background task of the torrent (file creation, data check) panicked or was cancelled.
    #[error("the {task} task failed: {reason}")]
    TaskFailed { task: &'static str, reason: String },
}
