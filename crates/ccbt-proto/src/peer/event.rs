//! What a connection reports to its torrent.

use std::time::Duration;

use bytes::Bytes;
use ccbt_core::{Bitfield, BlockRef};
use ccbt_wire::ext::pex::PexMessage;
use ccbt_wire::ext::ExtHandshake;
use ccbt_wire::{HashRequest, Hashes};

/// Something the torrent must know, drained with [`PeerConn::poll_event`](super::PeerConn::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// The peer's whole availability, when it is the first thing the peer announced (later
    /// bitfields arrive as [`PeerEvent::Have`]s of their new pieces).
    Bitfield(Bitfield),
    /// The peer has every piece (BEP 6), possibly after a Bitfield or Haves (reported once).
    HaveAll,
    /// The peer has no piece (BEP 6); no picker update is needed.
    HaveNone,
    /// The peer newly has this piece: a Have, or a piece a later Bitfield added (each piece is
    /// reported once).
    Have(u32),
    /// A block we requested arrived; it is no longer outstanding.
    Block { block: BlockRef, data: Bytes },
    /// The peer wants this block and may have it: read it and call
    /// [`PeerConn::serve_block`](super::PeerConn::serve_block).
    Request(BlockRef),
    /// Our requests that will not be answered (choke without fast extension, Reject, timeout):
    /// the picker may hand them to another peer.
    RequestsReleased(Vec<BlockRef>),
    /// The peer choked us.
    Choked,
    /// The peer unchoked us.
    Unchoked,
    /// The peer's interest in us changed to this value.
    Interested(bool),
    /// The peer suggests we download this piece (BEP 6).
    Suggest(u32),
    /// We may request this piece even while choked (BEP 6); reported once per piece.
    AllowedFast(u32),
    /// The peer's BEP 10 extension handshake (an undecodable one is dropped: the peer's
    /// extensions then stay off, the base protocol still works).
    ExtendedHandshake(ExtHandshake),
    /// The peer asks for piece `piece` of the info dictionary (BEP 9, sent to our `ut_metadata` id).
    MetadataRequest { piece: u32 },
    /// A BEP 11 peer exchange message (sent to our `ut_pex` id).
    Pex(PexMessage),
    /// The peer's DHT port (BEP 5).
    Port(u16),
    /// The peer asks for merkle hashes (BEP 52): answer with
    /// [`HashServer::respond`](crate::hashes::HashServer::respond).
    HashRequest(HashRequest),
    /// Merkle hashes (BEP 52), for [`PieceLayerFetcher::on_hashes`](crate::hashes::PieceLayerFetcher::on_hashes).
    Hashes(Hashes),
    /// The peer will not answer this hash request (BEP 52), for
    /// [`PieceLayerFetcher::on_hash_reject`](crate::hashes::PieceLayerFetcher::on_hash_reject).
    HashReject(HashRequest),
}

/// Counters of one connection, payload bytes only (block data, not protocol overhead).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Bytes of blocks we requested and received.
    pub downloaded: u64,
    /// Bytes of blocks we queued for sending.
    pub uploaded: u64,
    /// Download rate in bytes/s over a short moving window, as of the latest `now` given.
    pub download_rate: u64,
    /// Upload rate in bytes/s over a short moving window, as of the latest `now` given.
    pub upload_rate: u64,
    /// Bytes of blocks received that we no longer (or never) wanted.
    pub wasted: u64,
    /// Blocks received that we never requested (late answers to cancelled or released
    /// requests are wasted but not counted here).
    pub unrequested_blocks: u32,
    /// Rejects received for requests we never sent.
    pub unexpected_rejects: u32,
    /// The peer's requests we refused since we last unchoked it.
    pub refused_requests: u32,
    /// Smoothed time from sending a request to receiving its block (None before the first
    /// block). It includes the wait behind earlier requests in the peer's queue, so it grows
    /// with the pipeline when the peer is slow.
    pub request_latency: Option<Duration>,
}

impl PeerStats {
    /// Protocol violations tolerated so far: blocks we never requested and Rejects of requests
    /// we never sent (each is an error past `max_unrequested`).
    pub fn protocol_errors(&self) -> u32 {
        self.unrequested_blocks.saturating_add(self.unexpected_rejects)
    }
}
