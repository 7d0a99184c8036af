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
use crate::sync::lock;
use crate::tracker::{spawn_announcer, AnnounceTarget, AnnouncerHandle, AnnouncerOptions, TrackerStats};
use crate::{SessionOptions, TrackerInfo};

/// Capacity of the discovered-peers channel; a full channel drops a batch (more will come).
const PEER_BATCHES: usize = 32;

/// How often a torrent announces itself to the DHT and asks it for peers.
const DHT_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The discovery sources of a running torrent. A hybrid torrent (BEP 52) is in two swarms, one
/// per wire id (v1 and truncated v2): each id gets its own announcer and DHT lookups, the first
/// (the torrent's `info_hash`) being the one whose tracker status is shown.
pub(crate) struct Discovery {
    announcers: Vec<AnnouncerHandle>,
    dht: Vec<JoinHandle<()>>,
    /// The session's DHT node (None when the session runs without one).
    dht_node: Option<DhtHandle>,
    /// Where every source sends the peers it finds.
    found: mpsc::Sender<Vec<SocketAddr>>,
    /// The sources run (the torrent is not paused).
    running: bool,
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

/// Time one `host:port` peer of a magnet link (`x.pe`) may take to resolve.
pub(crate) const PEER_HOST_TIMEOUT: Duration = Duration::from_secs(10);

/// Resolves `host:port` peers (a magnet's `x.pe`) all at once, each within `per_host`; hosts that
/// fail or time out are logged and skipped. At most 4 addresses per host.
pub(crate) async fn resolve_peer_hosts(hosts: &[String], per_host: Duration) -> Vec<SocketAddr> {
    resolve_with(hosts, per_host, |host| async move {
        tokio::net::lookup_host(host.as_str()).await.map(|addrs| addrs.collect())
    })
    .await
}

async fn resolve_with<F, Fut>(hosts: &[String], per_host: Duration, resolve: F) -> Vec<SocketAddr>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<Vec<SocketAddr>>> + Send + 'static,
{
    let mut lookups = tokio::task::JoinSet::new();
    for (i, host) in hosts.iter().enumerate() {
        let lookup = resolve(host.clone());
        lookups.spawn(async move { (i, tokio::time::timeout(per_host, lookup).await) });
    }
    let mut found: Vec<(usize, Vec<SocketAddr>)> = Vec::new();
    while let Some(done) = lookups.join_next().await {
        let Ok((i, result)) = done else { continue };
        match result {
            Ok(Ok(addrs)) => found.push((i, addrs.into_iter().take(4).collect())),
            Ok(Err(e)) => tracing::warn!(peer = %hosts[i], error = %e, "cannot resolve a peer host"),
            Err(_) => tracing::warn!(peer = %hosts[i], "resolving a peer host timed out"),
        }
    }
    // In the order given, whatever order the lookups finished in.
    found.sort_unstable_by_key(|(i, _)| *i);
    found.into_iter().flat_map(|(_, addrs)| addrs).collect()
}

/// The tracker URLs the options allow, tier by tier (empty tiers dropped).
pub(crate) fn usable_tiers(options: &SessionOptions, tiers: &[Vec<String>]) -> Vec<Vec<String>> {
    tiers
        .iter()
        .map(|tier| {
            tier.iter()
                .filter(|url| {
                    let lower = url.to_ascii_lowercase();
                    let enabled = (options.enable_http_trackers
                        && (lower.starts_with("http://") || lower.starts_with("https://")))
                        || (options.enable_udp_trackers && lower.starts_with("udp://"));
                    if enabled && options.ssrf_mitigation && !ccbt_tracker::passes_ssrf_rule(url) {
                        tracing::warn!(
                            url = %url,
                            "tracker skipped: on loopback without an /announce path (ssrf_mitigation)"
                        );
                        return false;
                    }
                    enabled
                })
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|tier| !tier.is_empty())
        .collect()
}

impl Discovery {
    /// The discovery of a torrent; discovered peers arrive on the returned receiver. Sources
    /// run only while the torrent runs: `running` false (added paused) starts none until
    /// [`Discovery::resume`].
    pub(crate) fn start(
        shared: &Arc<TorrentShared>,
        dht: Option<DhtHandle>,
        running: bool,
    ) -> (Discovery, mpsc::Receiver<Vec<SocketAddr>>) {
        let (found, rx) = mpsc::channel(PEER_BATCHES);
        let mut discovery =
            Discovery { announcers: Vec::new(), dht: Vec::new(), dht_node: dht, found, running: false };
        if running {
            discovery.resume(shared);
        }
        (discovery, rx)
    }

    /// Starts the trackers' announcer and the DHT lookups (the torrent runs again).
    pub(crate) fn resume(&mut self, shared: &Arc<TorrentShared>) {
        if self.running {
            return;
        }
        self.running = true;
        let options = shared.options();
        self.announcers = self.spawn_announcers(shared, &options);
        self.dht = self.spawn_dht(shared, &options);
    }

    /// Stops every source (the torrent paused): the trackers get `stopped` in the background.
    pub(crate) fn pause(&mut self) {
        self.running = false;
        self.dht.drain(..).for_each(|lookups| lookups.abort());
        for announcer in self.announcers.drain(..) {
            tokio::spawn(announcer.stop());
        }
    }

    /// The user asked to announce now: the trackers at once (still after a tracker's
    /// `min interval` since its last answer, see `AnnounceSchedule::handle_reannounce`), and one
    /// DHT announce besides the periodic lookups. Nothing while paused; false then.
    pub(crate) fn announce_now(&self, shared: &TorrentShared) -> bool {
        if !self.running {
            return false;
        }
        self.reannounce();
        let options = shared.options();
        let Some(node) = self.dht_node.clone().filter(|_| options.enable_dht && !shared.torrent.private) else {
            return true;
        };
        for info_hash in shared.torrent.wire_ids() {
            let (node, port, tx) = (node.clone(), shared.listen_port, self.found.clone());
            tokio::spawn(async move {
                let mut found = node.announce(info_hash, port).await;
                while let Some(peers) = found.recv().await {
                    let _ = tx.try_send(peers);
                }
            });
        }
        true
    }

    /// One announcer per wire id for the trackers `options` allow, if any.
    fn spawn_announcers(&self, shared: &Arc<TorrentShared>, options: &SessionOptions) -> Vec<AnnouncerHandle> {
        let tiers = usable_tiers(options, &shared.torrent.trackers);
        if tiers.is_empty() {
            return Vec::new();
        }
        let spawn_one = |info_hash| {
            let stats_source = shared.clone();
            let stats = move || {
                let c = &stats_source.counters;
                let total = lock(&stats_source.inner).selection.totals().1;
                let left = total.saturating_sub(c.bytes_have.load(Relaxed));
                TrackerStats { uploaded: c.uploaded(), downloaded: c.downloaded(), left }
            };
            let target =
                AnnounceTarget { tiers: tiers.clone(), info_hash, peer_id: shared.peer_id, port: shared.listen_port };
            spawn_announcer(target, AnnouncerOptions::default(), stats, self.found.clone())
        };
        shared.torrent.wire_ids().into_iter().map(spawn_one).collect()
    }

    /// The torrent's DHT lookups, when `options` enable the DHT and the session runs a node.
    /// BEP 27: private torrents get peers from their trackers only.
    fn spawn_dht(&self, shared: &Arc<TorrentShared>, options: &SessionOptions) -> Vec<JoinHandle<()>> {
        let Some(node) = self.dht_node.clone().filter(|_| options.enable_dht && !shared.torrent.private) else {
            return Vec::new();
        };
        let port = Some(shared.listen_port);
        let lookup = |id| spawn_dht_lookups(node.clone(), id, port, DHT_INTERVAL, self.found.clone());
        shared.torrent.wire_ids().into_iter().map(lookup).collect()
    }

    /// Applies changed discovery switches (hot reload): the announcer restarts with the
    /// trackers now allowed (the old one says `stopped` to its trackers in the background), and
    /// the DHT lookups start or stop.
    pub(crate) fn apply_options(
        &mut self,
        shared: &Arc<TorrentShared>,
        old: &SessionOptions,
        new: &SessionOptions,
    ) {
        if !self.running {
            return; // `resume` starts them with the options then in force
        }
        let trackers = |o: &SessionOptions| (o.enable_http_trackers, o.enable_udp_trackers);
        if trackers(old) != trackers(new) {
            for old in self.announcers.drain(..) {
                tokio::spawn(old.stop());
            }
            self.announcers = self.spawn_announcers(shared, new);
        }
        if old.enable_dht != new.enable_dht {
            self.dht.drain(..).for_each(|lookups| lookups.abort());
            self.dht = self.spawn_dht(shared, new);
        }
    }

    /// The download completed: tell the trackers.
    pub(crate) async fn completed(&self) {
        for a in &self.announcers {
            a.completed().await;
        }
    }

    /// Asks the trackers for more peers early (the announcer still honours `min interval`).
    pub(crate) fn reannounce(&self) {
        self.announcers.iter().for_each(AnnouncerHandle::reannounce);
    }

    /// What each tracker last said.
    pub(crate) fn trackers(&self) -> Vec<TrackerInfo> {
        let Some(a) = self.announcers.first() else { return Vec::new() };
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
                announces_ok: t.announces_ok,
                announces_failed: t.announces_failed,
                next_announce_in: t.next_announce_in,
            })
            .collect()
    }

    /// Stops announcing (sends `stopped` to the trackers, bounded wait).
    pub(crate) async fn stop(self) {
        self.dht.iter().for_each(JoinHandle::abort);
        for a in self.announcers {
            a.stop().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_trackers_without_an_announce_path_are_skipped_unless_mitigation_is_off() {
        let tiers = vec![vec![
            "http://127.0.0.1:8080/admin?x=1".to_string(),
            "http://127.0.0.1:6969/announce".to_string(),
            "udp://127.0.0.1:6969".to_string(),
        ]];
        let mut options = SessionOptions::default();
        let kept = usable_tiers(&options, &tiers);
        assert_eq!(kept, vec![tiers[0][1..].to_vec()]);
        options.ssrf_mitigation = false;
        assert_eq!(usable_tiers(&options, &tiers), tiers);
    }

    /// A host whose lookup never ends must not keep the others out (they used to be resolved one
    /// after another with no time limit).
    #[tokio::test(start_paused = true)]
    async fn peer_hosts_resolve_in_parallel_and_a_hung_lookup_times_out() {
        let hosts: Vec<String> =
            ["hangs:1", "a:6881", "bad:1", "b:6882"].iter().map(|s| s.to_string()).collect();
        let found = resolve_with(&hosts, Duration::from_secs(10), |host| async move {
            match host.as_str() {
                "hangs:1" => std::future::pending().await,
                "bad:1" => Err(std::io::Error::other("no such host")),
                "a:6881" => Ok(vec!["10.0.0.1:6881".parse().unwrap()]),
                _ => Ok((1..=6).map(|n| SocketAddr::from(([10, 0, 1, n], 6882))).collect()),
            }
        })
        .await;
        let mut expected = vec!["10.0.0.1:6881".parse::<SocketAddr>().unwrap()];
        expected.extend((1..=4).map(|n| SocketAddr::from(([10, 0, 1, n], 6882))));
        assert_eq!(found, expected);
    }
}
