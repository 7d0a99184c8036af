//! Why a connection is dropped.

use std::time::Duration;

use ccbt_core::CoreError;
use thiserror::Error;

/// A protocol violation or timeout that ends one connection (the engine logs it and closes the
/// socket; the torrent carries on).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerError {
    /// The bitfield's length or spare bits do not match the torrent.
    #[error("invalid bitfield")]
    InvalidBitfield {
        #[source]
        source: CoreError,
    },
    /// An availability message that repeats or contradicts an earlier one: a second HaveAll, a
    /// HaveNone after any availability, or a Bitfield without a piece announced before.
    #[error("{message} repeats or contradicts the peer's earlier availability")]
    InvalidAvailability { message: &'static str },
    /// A message named a piece the torrent does not have.
    #[error("{message} names piece {piece}, but the torrent has {num_pieces} pieces")]
    InvalidPiece { message: &'static str, piece: u32, num_pieces: u32 },
    /// A message named a block outside its piece, or an empty one.
    #[error("{message} names an out-of-range block: piece {piece}, offset {offset}, length {len}")]
    InvalidBlock { message: &'static str, piece: u32, offset: u32, len: u32 },
    /// A BEP 6 message although the fast extension was not negotiated.
    #[error("{message} received but the fast extension was not negotiated")]
    FastExtensionNotNegotiated { message: &'static str },
    /// A BEP 10 message although the extension protocol was not negotiated.
    #[error("extended message {id} received but the extension protocol was not negotiated")]
    ExtensionProtocolNotNegotiated { id: u8 },
    /// The peer keeps sending blocks we never asked for.
    #[error("peer sent {count} blocks we did not request")]
    TooManyUnrequested { count: u32 },
    /// The peer keeps rejecting requests we never sent.
    #[error("peer rejected {count} requests we did not send")]
    TooManyUnexpectedRejects { count: u32 },
    /// The peer keeps sending requests we must refuse (while choked, over its queue limit,
    /// oversized, or for pieces we do not have).
    #[error("peer sent {count} requests we had to refuse")]
    TooManyRefusedRequests { count: u32 },
    /// The peer sent nothing at all for too long.
    #[error("peer sent nothing for {idle:?}")]
    Timeout { idle: Duration },
}
