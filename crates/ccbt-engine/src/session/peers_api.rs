//! [`Session::peers`]: the connected peers of a torrent, as the CLI, the API and the session
//! snapshot show them.

use super::Session;
use crate::sync::lock;
use crate::torrent::TorrentShared;
use crate::{PeerInfo, SessionError, TorrentId};

impl Session {
    /// The connected peers of a torrent.
    pub fn peers(&self, id: TorrentId) -> Result<Vec<PeerInfo>, SessionError> {
        Ok(peers_of(&*self.shared(id)?))
    }
}

/// The connected peers of a running torrent, copied under its lock.
pub(super) fn peers_of(shared: &TorrentShared) -> Vec<PeerInfo> {
    let inner = lock(&shared.inner);
    let now = std::time::Instant::now();
    let total = inner.swarm.have().len();
    let info = |(&key, p): (&ccbt_proto::PeerKey, &crate::torrent::PeerSlot)| {
        let health = inner.swarm.peer_health(key, now);
        let summary = inner.swarm.peer_summary(key);
        let pieces = summary.map_or(0, |s| s.pieces);
        PeerInfo {
            addr: p.addr,
            client: p.peer_id.to_string(),
            send_queue: p.send_queue.queued(),
            send_queue_peak: p.send_queue.peak(),
            outstanding_requests: p.requests.outstanding(),
            queued_peer_requests: p.requests.queued(),
            download_rate: health.map_or(0, |h| h.download_rate),
            upload_rate: health.map_or(0, |h| h.upload_rate),
            request_latency: health.and_then(|h| h.request_latency),
            snubbed: health.is_some_and(|h| h.snubbed),
            health: health.map(|h| h.score()),
            pieces,
            progress: if total == 0 { 0.0 } else { f64::from(pieces) / f64::from(total) },
            is_seed: summary.is_some_and(|s| s.is_seed),
            interested: summary.is_some_and(|s| s.interested),
            am_interested: summary.is_some_and(|s| s.am_interested),
            unchoked: summary.is_some_and(|s| s.unchoked),
        }
    };
    inner.peers.iter().map(info).collect()
}
