//! Engine errors, by blast radius (see docs/ARCHITECTURE.md): a [`SessionError`] is returned by
//! session-level calls; a [`TorrentError`] moves one torrent to the error state with a reason.
//! Errors of single connections are `ccbt_proto::peer::PeerError` and only drop that peer.

use std::path::PathBuf;

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
    #[error("torrent {info_hash} is already in the session")]
    DuplicateTorrent { info_hash: String },
    #[error("no torrent with id {0}")]
    UnknownTorrent(u64),
    #[error("torrent {0} is still fetching its metadata")]
    MetadataPending(u64),
    #[error("cannot read {path}: {source}")]
    ReadTorrentFile { path: PathBuf, source: std::io::Error },
    #[error("invalid torrent {path}: {source}")]
    InvalidTorrent { path: PathBuf, source: ccbt_metainfo::MetainfoError },
    #[error("invalid magnet link: {0}")]
    InvalidMagnet(ccbt_metainfo::MagnetError),
    #[error(transparent)]
    Torrent(#[from] TorrentError),
    #[error("invalid file selection: {0}")]
    InvalidSelection(String),
    #[error("tracker {url}: {reason}")]
    Tracker { url: String, reason: String },
    #[error("the session is shut down")]
    ShutDown,
}

/// Why a torrent stopped working.
#[derive(Debug, Error, Clone)]
#[non_exhaustive]
pub enum TorrentError {
    #[error("storage error: {0}")]
    Storage(String),
    #[error("invalid torrent geometry: {0}")]
    Geometry(String),
}
