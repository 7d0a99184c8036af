//! Why a connection ended: one typed reason per way out of the socket pump, so the torrent can
//! tell a protocol error from a closed socket or a close we asked for.

use thiserror::Error;

/// Why we close a connection on our own initiative (sent as [`super::PeerCommand::Close`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub(crate) enum CloseReason {
    #[error("torrent paused")]
    Paused,
    #[error("torrent checking its data again")]
    Rechecking,
    #[error("torrent shutting down")]
    ShuttingDown,
    #[error("banned for sending corrupt data")]
    Banned,
    #[error("storage error")]
    StorageError,
    /// Neither side was interested and nothing moved for a while, or the peer misbehaved
    /// (snubbing us, hash failures, protocol errors), and a candidate waits.
    #[error("useless or unhealthy while a candidate waits")]
    Useless,
    /// A connection limit was lowered (hot reload) below the connections open.
    #[error("connection limit lowered")]
    OverLimit,
}

/// How a connection ended. Only its own connection is affected (errors by blast radius).
#[derive(Debug, Error)]
pub(crate) enum ConnEnd {
    #[error("peer closed the connection")]
    PeerClosed,
    #[error("socket error: {0}")]
    Io(#[source] std::io::Error),
    /// The byte stream cannot be decoded; it cannot be resynchronised.
    #[error("undecodable message: {0}")]
    Wire(#[source] ccbt_wire::WireError),
    /// The peer broke the protocol (the peer machine's verdict).
    #[error("{0}")]
    Protocol(#[source] ccbt_proto::peer::PeerError),
    /// The metadata-phase machine ended the connection (done, lied, stalled, ...).
    #[error("{0}")]
    Metadata(#[source] ccbt_proto::metadata::ConnEnd),
    #[error("both sides are seeds")]
    BothSeeds,
    #[error("{0}")]
    Closed(CloseReason),
    /// The torrent task is gone (its channels closed).
    #[error("torrent stopped")]
    TorrentStopped,
    /// The peer broke the `xet_cas` extension's rules.
    #[error("{0}")]
    Xet(#[source] super::xet_answers::XetEnd),
    #[error("upload read task failed: {0}")]
    ReadTask(#[source] tokio::task::JoinError),
}
