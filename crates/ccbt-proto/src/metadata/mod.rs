//! BEP 9 metadata exchange for magnet links: [`MetadataFetcher`] downloads the info dictionary
//! from many peers in parallel and checks it against the info hash; [`MetadataServer`] answers
//! other peers' requests for ours.
//!
//! Both are sans-IO: the engine decodes `ut_metadata` messages with
//! [`ccbt_wire::ext::metadata::MetadataMessage`], feeds them in with the time, and sends what
//! the machines hand back.

mod fetcher;
mod server;

pub use fetcher::{MetadataFailure, MetadataFetcher, DEFAULT_MAX_METADATA_SIZE, MAX_REQUESTS_PER_PEER};
pub use server::MetadataServer;

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
mod proptests;
#[cfg(test)]
mod tests;
