//! `GET /api/v1/torrents/{info_hash}/peers`: the torrent's connected peers (`Session::peers`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ccbt_engine::PeerInfo;
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::handlers::find;
use crate::{ApiContext, ApiError};

/// `GET /api/v1/torrents/{info_hash}/peers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerList {
    pub info_hash: String,
    pub peers: Vec<PeerView>,
}

/// One connected peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    /// `IP:PORT`.
    pub addr: String,
    /// Its peer id, printable characters kept and the others escaped (names the client).
    pub client: String,
    /// Payload bytes per second from it and to it.
    pub download_rate: u64,
    pub upload_rate: u64,
    /// Smoothed time from a request to its block, in milliseconds (none before the first block).
    pub request_latency_ms: Option<u64>,
    /// It has what we want but sent nothing for a while: it gets one request at a time.
    pub snubbed: bool,
    /// Health score 0 to 1000 (none before its first message).
    pub health: Option<u32>,
    /// Pieces it announced, and that over the torrent's piece count (0 to 1).
    pub pieces: u32,
    pub progress: f64,
    /// `seed` (it has every piece), `interested` (it wants our pieces), `interesting` (we want
    /// its), `unchoked` (we upload to it), `snubbed`, in that order.
    pub flags: Vec<String>,
    /// Bytes queued for it, now and at most.
    pub send_queue: usize,
    pub send_queue_peak: usize,
    /// Our requests to it not yet answered (blocks in flight), and its requests to us waiting
    /// to be served.
    pub outstanding_requests: usize,
    pub queued_peer_requests: usize,
}

impl From<&PeerInfo> for PeerView {
    fn from(p: &PeerInfo) -> PeerView {
        PeerView {
            addr: p.addr.to_string(),
            client: p.client.clone(),
            download_rate: p.download_rate,
            upload_rate: p.upload_rate,
            request_latency_ms: p.request_latency.map(crate::snapshot::millis),
            snubbed: p.snubbed,
            health: p.health,
            pieces: p.pieces,
            progress: p.progress,
            flags: flags(p),
            send_queue: p.send_queue,
            send_queue_peak: p.send_queue_peak,
            outstanding_requests: p.outstanding_requests,
            queued_peer_requests: p.queued_peer_requests,
        }
    }
}

fn flags(p: &PeerInfo) -> Vec<String> {
    let all = [
        (p.is_seed, "seed"),
        (p.interested, "interested"),
        (p.am_interested, "interesting"),
        (p.unchoked, "unchoked"),
        (p.snubbed, "snubbed"),
    ];
    all.iter().filter(|(on, _)| *on).map(|(_, name)| (*name).to_owned()).collect()
}

pub(crate) async fn list(
    State(ctx): State<Arc<ApiContext>>,
    Path(query): Path<String>,
) -> Result<Response, ApiError> {
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    let mut peers: Vec<PeerView> = match ctx.session.peers(status.id) {
        Ok(peers) => peers.iter().map(PeerView::from).collect(),
        // A magnet link still resolving has no swarm yet: no peers to show.
        Err(ccbt_engine::SessionError::MetadataPending(_)) => Vec::new(),
        Err(e) => return Err(ApiError::from_session(&e, &what)),
    };
    // Busiest first, then by address, so two calls list the same swarm the same way.
    peers.sort_by(|a, b| {
        (b.download_rate + b.upload_rate)
            .cmp(&(a.download_rate + a.upload_rate))
            .then_with(|| a.addr.cmp(&b.addr))
    });
    Ok(json(StatusCode::OK, &PeerList { info_hash: what, peers }))
}
