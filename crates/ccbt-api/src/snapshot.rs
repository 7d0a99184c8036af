//! `GET /api/v1/snapshot`: the session's [`SessionSnapshot`] as JSON, the figures `/metrics`
//! and `ccbt status --json` show (one snapshot per request).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ccbt_engine::{DhtInfo, PeerInfo, SessionSnapshot, SessionTotals, TorrentSnapshot, TrackerInfo};
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::{ApiContext, TorrentView};

/// The whole session at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotView {
    /// Payload bytes per second over all torrents.
    pub download_rate: u64,
    pub upload_rate: u64,
    pub connected_peers: usize,
    pub handshaking_peers: usize,
    /// IPs banned for corrupt data, over all torrents.
    pub banned_peers: u64,
    /// Pieces waiting for a hashing thread, and pieces being hashed and written.
    pub hash_queue_depth: usize,
    pub disk_queue_depth: usize,
    /// Totals since the session started, removed torrents included.
    pub totals: TotalsView,
    /// The DHT node (absent when the DHT is off).
    pub dht: Option<DhtView>,
    pub torrents: Vec<TorrentSnapshotView>,
}

/// [`SessionTotals`] in JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalsView {
    pub downloaded: u64,
    pub uploaded: u64,
    pub wasted: u64,
    pub hash_failures: u64,
    pub hash_failed_bytes: u64,
    pub checkpoint_writes: u64,
    /// Outgoing connection attempts that succeeded, and that failed.
    pub connections_succeeded: u64,
    pub connections_failed: u64,
    /// Tracker announces answered, and failed.
    pub announces_ok: u64,
    pub announces_failed: u64,
}

/// The DHT node's counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhtView {
    pub good_nodes: usize,
    pub questionable_nodes: usize,
    pub active_lookups: usize,
    pub queries_in: u64,
    pub queries_out: u64,
}

/// One torrent: the fields of [`TorrentView`] and its counters, peers and trackers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TorrentSnapshotView {
    #[serde(flatten)]
    pub torrent: TorrentView,
    pub hash_failed_bytes: u64,
    pub checkpoint_writes: u64,
    pub connections_succeeded: u64,
    pub connections_failed: u64,
    /// Requests to its peers not yet answered (blocks in flight), and its peers' requests
    /// waiting to be served.
    pub outstanding_requests: u64,
    pub queued_peer_requests: u64,
    /// Milliseconds from its start of downloading (after the data check or metadata fetch;
    /// again at each resume) to the first payload byte, and to the first verified piece; none
    /// until then, and for a torrent that started complete.
    pub time_to_first_byte_ms: Option<u64>,
    pub time_to_first_piece_ms: Option<u64>,
    pub peers: Vec<PeerView>,
    pub trackers: Vec<TrackerView>,
}

/// One connected peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    pub addr: String,
    /// Its peer id, printable characters kept.
    pub client: String,
    pub download_rate: u64,
    pub upload_rate: u64,
    /// Bytes queued for it.
    pub send_queue: usize,
    /// Our requests to it not yet answered (blocks in flight), and its requests to us waiting
    /// to be served.
    pub outstanding_requests: usize,
    pub queued_peer_requests: usize,
    /// Smoothed request-to-block time, milliseconds.
    pub request_latency_ms: Option<u64>,
    pub snubbed: bool,
    /// Health score, 0 to 1000.
    pub health: Option<u32>,
}

/// What one tracker last said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerView {
    pub url: String,
    pub tier: usize,
    pub last_error: Option<String>,
    pub last_warning: Option<String>,
    pub peers_received: u64,
    pub seeders: Option<u32>,
    pub leechers: Option<u32>,
    pub announces_ok: u64,
    pub announces_failed: u64,
    pub next_announce_secs: Option<u64>,
}

impl From<&SessionSnapshot> for SnapshotView {
    fn from(s: &SessionSnapshot) -> SnapshotView {
        SnapshotView {
            download_rate: s.download_rate,
            upload_rate: s.upload_rate,
            connected_peers: s.connected_peers,
            handshaking_peers: s.handshaking_peers,
            banned_peers: s.banned_peers,
            hash_queue_depth: s.hash_queue_depth,
            disk_queue_depth: s.disk_queue_depth,
            totals: TotalsView::from(&s.totals),
            dht: s.dht.as_ref().map(DhtView::from),
            torrents: s.torrents.iter().map(TorrentSnapshotView::from).collect(),
        }
    }
}

impl From<&SessionTotals> for TotalsView {
    fn from(t: &SessionTotals) -> TotalsView {
        TotalsView {
            downloaded: t.downloaded,
            uploaded: t.uploaded,
            wasted: t.wasted,
            hash_failures: t.hash_failures,
            hash_failed_bytes: t.hash_failed_bytes,
            checkpoint_writes: t.checkpoint_writes,
            connections_succeeded: t.connection_attempts.succeeded,
            connections_failed: t.connection_attempts.failed,
            announces_ok: t.announces_ok,
            announces_failed: t.announces_failed,
        }
    }
}

impl From<&DhtInfo> for DhtView {
    fn from(d: &DhtInfo) -> DhtView {
        DhtView {
            good_nodes: d.good_nodes,
            questionable_nodes: d.questionable_nodes,
            active_lookups: d.active_lookups,
            queries_in: d.queries_in,
            queries_out: d.queries_out,
        }
    }
}

impl From<&TorrentSnapshot> for TorrentSnapshotView {
    fn from(t: &TorrentSnapshot) -> TorrentSnapshotView {
        TorrentSnapshotView {
            torrent: TorrentView::from(&t.status),
            hash_failed_bytes: t.hash_failed_bytes,
            checkpoint_writes: t.checkpoint_writes,
            connections_succeeded: t.connection_attempts.succeeded,
            connections_failed: t.connection_attempts.failed,
            outstanding_requests: t.outstanding_requests,
            queued_peer_requests: t.queued_peer_requests,
            time_to_first_byte_ms: t.time_to_first_byte.map(millis),
            time_to_first_piece_ms: t.time_to_first_piece.map(millis),
            peers: t.peers.iter().map(PeerView::from).collect(),
            trackers: t.trackers.iter().map(TrackerView::from).collect(),
        }
    }
}

impl From<&PeerInfo> for PeerView {
    fn from(p: &PeerInfo) -> PeerView {
        PeerView {
            addr: p.addr.to_string(),
            client: p.client.clone(),
            download_rate: p.download_rate,
            upload_rate: p.upload_rate,
            send_queue: p.send_queue,
            outstanding_requests: p.outstanding_requests,
            queued_peer_requests: p.queued_peer_requests,
            request_latency_ms: p.request_latency.map(millis),
            snubbed: p.snubbed,
            health: p.health,
        }
    }
}

impl From<&TrackerInfo> for TrackerView {
    fn from(t: &TrackerInfo) -> TrackerView {
        TrackerView {
            url: t.url.clone(),
            tier: t.tier,
            last_error: t.last_error.clone(),
            last_warning: t.last_warning.clone(),
            peers_received: t.peers_received,
            seeders: t.seeders,
            leechers: t.leechers,
            announces_ok: t.announces_ok,
            announces_failed: t.announces_failed,
            next_announce_secs: t.next_announce_in.map(|d| d.as_secs()),
        }
    }
}

/// A duration in whole milliseconds (saturating).
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) async fn snapshot(State(ctx): State<Arc<ApiContext>>) -> Response {
    json(StatusCode::OK, &SnapshotView::from(&ctx.session.snapshot().await))
}
