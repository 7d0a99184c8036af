//! Tunables of one connection.

use std::time::Duration;

use ccbt_core::{Lengths, BLOCK_SIZE};

/// Tunables of one [`PeerConn`](super::PeerConn), fixed for the connection's life except the
/// peer's `reqq` (see [`PeerConn::set_peer_max_requests`](super::PeerConn::set_peer_max_requests)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConnOptions {
    /// Piece and block geometry of the torrent.
    pub lengths: Lengths,
    /// Both sides set the BEP 6 (fast extension) reserved bit.
    pub fast_extension: bool,
    /// Both sides set the BEP 10 (extension protocol) reserved bit.
    pub extension_protocol: bool,
    /// The starting and minimum number of our outstanding requests (config `pipeline_depth`).
    pub min_pipeline_depth: u32,
    /// Upper bound of the adaptive pipeline.
    pub max_pipeline_depth: u32,
    /// A request of ours unanswered this long is released and the pipeline depth halved.
    pub request_timeout: Duration,
    /// We send a KeepAlive if we queued nothing else for this long.
    pub keepalive_interval: Duration,
    /// The peer sent nothing (not even a KeepAlive) for this long: [`PeerError::Timeout`](super::PeerError::Timeout).
    pub idle_timeout: Duration,
    /// How many of the peer's requests we queue; beyond that requests are refused. Refused
    /// requests (over the queue, while choked, oversized, for pieces we lack) beyond this
    /// count again drop the connection.
    pub max_peer_requests: usize,
    /// Largest block the peer may request from us. 16 KiB is what every mainstream client
    /// requests; larger in-range requests are refused like requests while choked, not errors.
    pub max_block_len: u32,
    /// Blocks we never requested, and Rejects of requests we never sent, tolerated before the
    /// connection is dropped (each counted separately). Late answers to requests we cancelled or
    /// released recently do not count: they are the normal outcome of cancel/choke races.
    pub max_unrequested: u32,
}

/// How many of a peer's requests we queue by default, and the `reqq` we advertise: as many as
/// libtorrent (`max_allowed_in_request_queue`). A leecher keeps at most our `reqq` requests
/// outstanding; on loopback libtorrent's leecher took 470 MB/s from us with 500 and 650 with
/// 2000 (docs/benchmarks.md). What that costs is a queue of block addresses, not data: the
/// bytes read for them stay bounded by the engine's per-peer write cap.
pub const MAX_PEER_REQUESTS: usize = 2000;

impl PeerConnOptions {
    /// The defaults: pipeline 16..=128, request timeout 30 s, keep-alive 90 s, idle timeout
    /// 180 s, [`MAX_PEER_REQUESTS`] queued peer requests, 16 KiB largest served block, 64 unrequested blocks.
    /// Both extensions start disabled: the engine sets them from the handshake bits.
    pub fn new(lengths: Lengths) -> Self {
        PeerConnOptions {
            lengths,
            fast_extension: false,
            extension_protocol: false,
            min_pipeline_depth: 16,
            max_pipeline_depth: 128,
            request_timeout: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(90),
            idle_timeout: Duration::from_secs(180),
            max_peer_requests: MAX_PEER_REQUESTS,
            max_block_len: BLOCK_SIZE,
            max_unrequested: 64,
        }
    }
}
