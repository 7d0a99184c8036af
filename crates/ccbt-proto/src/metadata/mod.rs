//! BEP 9 metadata exchange for magnet links: [`MetadataFetcher`] downloads the info dictionary
//! from many peers in parallel and checks it against the magnet's info hashes ([`MetadataTarget`]:
//! SHA-1 for v1, SHA-256 for v2, both for a hybrid); [`MetadataConn`] is one
//! connection of the metadata phase; [`MetadataCandidates`] the peers it may dial;
//! [`MetadataServer`] answers other peers' requests for ours.
//!
//! All are sans-IO: the engine decodes peer-wire messages, feeds them in with the time, and
//! sends what the machines hand back.

mod candidates;
mod conn;
mod fetcher;
mod piece;
mod server;
mod target;

pub use candidates::{
    MetadataCandidates, MAX_CANDIDATES, MAX_CANDIDATES_PER_IP, MAX_CONNECTIONS_PER_IP, MAX_FAILURES,
};
pub use conn::{
    ConnEnd, ConnEvent, ConnOptions, MetadataConn, EXT_HANDSHAKE_DEADLINE, MAX_PEX_PEERS, MAX_QUEUED_REJECTS,
    SERVE_DEADLINE,
};
pub use fetcher::{MetadataFailure, MetadataFetcher, DEFAULT_MAX_METADATA_SIZE, MAX_REQUESTS_PER_PEER};
pub use server::MetadataServer;
pub use target::MetadataTarget;

use thiserror::Error;

use crate::PeerKey;

/// A peer sent metadata we cannot use. The piece is not stored; the engine should drop the
/// connection, since an honest peer never sends any of these.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// Data from a peer that was never added with [`MetadataFetcher::add_peer`].
    #[error("metadata data from unknown peer {peer:?}")]
    UnknownPeer { peer: PeerKey },
    /// The data message's `total_size` is not the metadata size we are fetching.
    #[error("metadata data says total_size {got}, but the metadata is {expected} bytes")]
    WrongTotalSize { got: u64, expected: u64 },
    /// The piece index is beyond the last piece.
    #[error("metadata piece {piece} is out of range ({num_pieces} pieces)")]
    InvalidPiece { piece: u32, num_pieces: u32 },
    /// The piece has the wrong number of bytes.
    #[error("metadata piece {piece} has {got} bytes, expected {expected}")]
    WrongLength { piece: u32, got: usize, expected: usize },
}

#[cfg(test)]
mod candidates_tests;
#[cfg(test)]
mod conn_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod v2_tests;
