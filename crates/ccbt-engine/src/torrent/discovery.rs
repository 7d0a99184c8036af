//! Peer discovery of one torrent: its trackers (BEP 3/12/15) and, unless the torrent is private,
//! the DHT (BEP 5). Everything found arrives on one channel the torrent task drains.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::TorrentShared;
use crate::dht::DhtHandle;
use crate::tracker::{spawn_announcer, AnnounceTarget, AnnouncerHandle, AnnouncerOptions, TrackerStats};
use crate::{SessionOptions, TrackerInfo};

/// Capacity of the discovered-peers channel; a full channel drops a batch (more will come).
const PEER_BATCHES: usize = 32;

/// How often a torrent announces itself to the DHT and asks it for peers.
const DHT_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The discovery sources of a running torrent.
pub(crate) struct Discovery {
    announcer: Option<AnnouncerHandle>,
    dht: Option<JoinHandle<()>>,
}

/// Announces `info_hash` on the DHT (`announce` is a `get_peers` lookup followed by
/// `announce_peer`; with `port` None only `get_peers`), forwarding the peers it finds, then
/// again after 5 s, 10 s, 20 s, ... up to `interval` (the first lookups may run before the
/// routing table is filled). Runs until aborted.
pub(crate) fn spawn_dht_lookups(
    dht: DhtHandle,
    info_hash: ccbt_core::InfoHash,
    port: Option<u16>,
    interval: Duration,
    tx: mpsc::Sender<Vec<SocketAddr>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // A lookup on an empty routing table ends at once with nobody asked: give a fresh node
        // up to 10 s to join before the first one (it returns as soon as there are nodes).
        for _ in 0..20 {
            match dht.status().await {
                Some(s) if s.good_nodes + s.questionable_nodes > 0 => break,
                Some(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                None => return,
            }
        }
        let mut wait = Duration::from_secs(5);
        loop {
            let mut found = match port {
                Some(port) => dht.announce(info_hash, port).await,
                None => dht.get_peers(info_hash).await,
            };
            while let Some(peers) = found.recv().await {
                tracing::debug!(%info_hash, count = peers.len(), "peers from the dht");
                let _ = tx.try_send(peers);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(interval);
        }
    })
}

/// The tracker URLs the options allow, tier by tier (empty tiers dropped).
pub(crate) fn usable_tiers(options: &SessionOptions, tiers: &[Vec<String>]) -> Vec<Vec<String>> {
    tiers
        .iter()
        .map(|tier| {
            tier.iter()
                .filter(|url| {
                    let url = url.to_ascii_lowercase();
                    (options.enable_http_trackers
                        && (url.starts_with("http://") || url.starts_with("https://")))
                        || (options.enable_udp_trackers && url.starts_with("udp://"))
                })
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|tier| !tier.is_empty())
        .collect()
}

impl Discovery {
    /// Starts announcing; discovered peers arrive on the returned receiver.
    pub(crate) fn start(
        shared: &Arc<TorrentShared>,
        dht: Option<DhtHandle>,
    ) -> (Discovery, mpsc::Receiver<Vec<SocketAddr>>) {
        let (tx, rx) = mpsc::channel(PEER_BATCHES);
        let tiers = usable_tiers(&shared.options, &shared.torrent.trackers);
        let announcer = (!tiers.is_empty()).then(|| {
            let stats_source = shared.clone();
            let stats = move || {
                let c = &stats_source.counters;
                let left = stats_source.selection.totals().1.saturating_sub(c.bytes_have.load(Relaxed));
                TrackerStats { uploaded: c.uploaded(), downloaded: c.downloaded(), left }
            };
            let target = AnnounceTarget {
                tiers,
                info_hash: shared.torrent.info_hash,
                peer_id: shared.peer_id,
                port: shared.listen_port,
            };
            spawn_announcer(target, AnnouncerOptions::default(), stats, tx.clone())
        });
        // BEP 27: private torrents get peers from their trackers only.
        let dht = dht.filter(|_| !shared.torrent.private).map(|dht| {
            spawn_dht_lookups(
                dht,
                shared.torrent.info_hash,
                Some(shared.listen_port),
                DHT_INTERVAL,
                tx.clone(),
            )
        });
        (Discovery { announcer, dht }, rx)
    }

    /// The download completed: tell the trackers.
    pub(crate) async fn completed(&self) {
        if let Some(a) = &self.announcer {
            a.completed().await;
        }
    }

    /// Asks the trackers for more peers early (the announcer still honours `min interval`).
    pub(crate) fn reannounce(&self) {
        if let Some(a) = &self.announcer {
            a.reannounce();
        }
    }

    /// What each tracker last said.
    pub(crate) fn trackers(&self) -> Vec<TrackerInfo> {
        let Some(a) = &self.announcer else { return Vec::new() };
        a.status()
            .into_iter()
            .map(|t| TrackerInfo {
                url: t.url,
                tier: t.tier,
                last_error: t.last_error,
                last_warning: t.last_warning,
                peers_received: t.peers_received,
                seeders: t.seeders,
                leechers: t.leechers,
                next_announce_in: t.next_announce_in,
            })
            .collect()
    }

    /// Stops announcing (sends `stopped` to the trackers, bounded wait).
    pub(crate) async fn stop(self) {
        if let Some(dht) = self.dht {
            dht.abort();
        }
        if let Some(a) = self.announcer {
            a.stop().await;
        }
    }
}
