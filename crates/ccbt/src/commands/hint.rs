//! Why nothing moves: when a torrent has found no peer for a while, a short reason drawn from
//! its trackers' last answers and the DHT's state, shown on its progress line (as Transmission
//! and qBittorrent show per-tracker status).

use std::time::Duration;

use ccbt_engine::{DhtInfo, TorrentState, TorrentStatus, TrackerInfo};

use crate::progress::StallHint;

/// A torrent without peers for this long gets a hint; shorter is the normal start-up.
pub const STALL_AFTER: Duration = Duration::from_secs(10);

/// How long one bootstrap host name may take to resolve when we look for the DHT's reason.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The DHT as far as a hint cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhtView {
    /// Turned off by the user.
    Off,
    /// Enabled but not running (it failed to start; the warning said why).
    NotRunning,
    /// Running with no node in its routing table; the bootstrap hosts that did not resolve.
    Empty { unresolved: Vec<String> },
    /// Running with this many nodes.
    Nodes(usize),
}

impl DhtView {
    /// The view of a running DHT's status (`None`: not running).
    pub fn of(info: Option<&DhtInfo>) -> DhtView {
        match info {
            None => DhtView::NotRunning,
            Some(i) if i.good_nodes + i.questionable_nodes == 0 => DhtView::Empty { unresolved: Vec::new() },
            Some(i) => DhtView::Nodes(i.good_nodes + i.questionable_nodes),
        }
    }

    /// Why a DHT has no nodes, or None when it has some.
    pub fn empty_reason(&self) -> Option<String> {
        let DhtView::Empty { unresolved } = self else { return None };
        Some(if unresolved.is_empty() {
            "no bootstrap router answered yet".to_owned()
        } else {
            format!("cannot resolve {} (offline?)", unresolved.join(", "))
        })
    }
}

/// What the session was told to use for discovery.
#[derive(Clone, Copy, Debug)]
pub struct Discovery {
    pub trackers_enabled: bool,
}

/// The hint for `status`, or None when peers are connected, the torrent is not looking for
/// any (seeding, checking) or it has not waited [`STALL_AFTER`] yet.
pub fn stall_hint(
    status: &TorrentStatus,
    stalled: Duration,
    discovery: Discovery,
    trackers: &[TrackerInfo],
    dht: &DhtView,
) -> Option<StallHint> {
    let looking = matches!(status.state, TorrentState::Downloading | TorrentState::FetchingMetadata);
    if !looking || status.connected_peers > 0 || stalled < STALL_AFTER {
        return None;
    }
    let reasons = [tracker_reason(discovery, trackers), dht_reason(dht)];
    Some(StallHint { waited_secs: stalled.as_secs(), reason: reasons.join("; ") })
}

fn tracker_reason(discovery: Discovery, trackers: &[TrackerInfo]) -> String {
    if !discovery.trackers_enabled {
        return "trackers off".to_owned();
    }
    if trackers.is_empty() {
        return "no trackers".to_owned();
    }
    let failing: Vec<&TrackerInfo> = trackers.iter().filter(|t| t.last_error.is_some()).collect();
    if failing.len() == trackers.len() {
        let first = failing[0];
        let more = match failing.len() {
            1 => String::new(),
            n => format!(" (and {} more failing)", n - 1),
        };
        return format!("tracker {}: {}{more}", first.url, first.last_error.as_deref().unwrap_or(""));
    }
    match trackers.iter().map(|t| t.peers_received).sum::<u64>() {
        0 => "trackers know no peers yet".to_owned(),
        n => format!("trackers gave {n} peers, none connected"),
    }
}

fn dht_reason(dht: &DhtView) -> String {
    match dht {
        DhtView::Off => "DHT off".to_owned(),
        DhtView::NotRunning => "DHT not running".to_owned(),
        DhtView::Empty { .. } => format!("DHT has 0 nodes: {}", dht.empty_reason().unwrap_or_default()),
        DhtView::Nodes(n) => format!("DHT ({n} nodes) found no peers yet"),
    }
}

/// The bootstrap hosts (`host:port`) that do not resolve to an address within a few seconds.
pub async fn unresolved_hosts(hosts: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for host in hosts {
        let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(host.as_str())).await;
        let resolved = match lookup {
            Ok(Ok(mut addrs)) => addrs.next().is_some(),
            _ => false,
        };
        if !resolved {
            out.push(host.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::tests::status;

    fn tracker(url: &str, error: Option<&str>, peers: u64) -> TrackerInfo {
        TrackerInfo {
            url: url.into(),
            tier: 0,
            last_error: error.map(str::to_owned),
            last_warning: None,
            peers_received: peers,
            seeders: None,
            leechers: None,
            announces_ok: 0,
            announces_failed: 0,
            next_announce_in: None,
        }
    }

    fn stalled(state: TorrentState) -> TorrentStatus {
        let mut s = status(state, 0, 1 << 20, 0);
        s.connected_peers = 0;
        s
    }

    const ON: Discovery = Discovery { trackers_enabled: true };
    const LONG: Duration = Duration::from_secs(42);

    #[test]
    fn says_why_nothing_moves() {
        let s = stalled(TorrentState::Downloading);
        assert_eq!(
            stall_hint(&s, LONG, ON, &[], &DhtView::Off).map(|h| h.to_string()).as_deref(),
            Some("no peers for 42s: no trackers; DHT off")
        );
        let off = Discovery { trackers_enabled: false };
        let dht = DhtView::Empty { unresolved: vec!["router.bittorrent.com:6881".into()] };
        assert_eq!(
            stall_hint(&s, LONG, off, &[], &dht).map(|h| h.to_string()).as_deref(),
            Some(
                "no peers for 42s: trackers off; DHT has 0 nodes: cannot resolve \
                 router.bittorrent.com:6881 (offline?)"
            )
        );
        let failing = [
            tracker("http://a/announce", Some("connection refused"), 0),
            tracker("udp://b:1", Some("timeout"), 0),
        ];
        let hint = stall_hint(&s, LONG, ON, &failing, &DhtView::Nodes(12)).unwrap().to_string();
        assert_eq!(
            hint,
            "no peers for 42s: tracker http://a/announce: connection refused (and 1 more failing); \
             DHT (12 nodes) found no peers yet"
        );
        let quiet = [tracker("http://a/announce", None, 0)];
        let magnet = stalled(TorrentState::FetchingMetadata);
        let hint = stall_hint(&magnet, LONG, ON, &quiet, &DhtView::NotRunning).unwrap().to_string();
        assert!(hint.ends_with("trackers know no peers yet; DHT not running"), "{hint}");
    }

    #[test]
    fn no_hint_while_things_move() {
        let s = stalled(TorrentState::Downloading);
        assert_eq!(stall_hint(&s, Duration::from_secs(3), ON, &[], &DhtView::Off), None);
        let seeding = stalled(TorrentState::Seeding);
        assert_eq!(stall_hint(&seeding, LONG, ON, &[], &DhtView::Off), None);
        let mut busy = stalled(TorrentState::Downloading);
        busy.connected_peers = 1;
        assert_eq!(stall_hint(&busy, LONG, ON, &[], &DhtView::Off), None);
    }
}
