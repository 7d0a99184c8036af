//! `ccbt status` for people: the daemon's `GET /snapshot` (the figures `ccbt status --json`
//! prints and `/metrics` exports) as a short summary of the session, or one torrent's fields,
//! one a line, named as in the API so scripts can pick them.

use std::fmt::Write as _;

use ccbt_api::{SnapshotPeerView, SnapshotTrackerView, SnapshotView, TorrentSnapshotView};

use super::torrents::{cut, printable};
use crate::units::{human_bytes, human_rate};

/// Key column of [`details`].
const KEY_WIDTH: usize = 24;
/// At most this many peers are listed in [`details`], the busiest first (`ccbt peers` lists all).
const PEER_LINES: usize = 10;
const CLIENT_WIDTH: usize = 20;

/// The session: torrents by state, rates and peers, request and hash queues, trackers, DHT.
pub fn summary(s: &SnapshotView) -> String {
    let count = |state: &str| s.torrents.iter().filter(|t| t.torrent.state == state).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} torrents: {} downloading, {} seeding, {} paused, {} checking, {} fetching metadata, {} failed",
        s.torrents.len(),
        count("downloading"),
        count("seeding"),
        count("paused"),
        count("checking"),
        count("fetching_metadata"),
        count("error")
    );
    let _ = writeln!(
        out,
        "down {}, up {}, {} peers ({} handshaking), {} banned",
        human_rate(s.download_rate),
        human_rate(s.upload_rate),
        s.connected_peers,
        s.handshaking_peers,
        s.banned_peers
    );
    let outstanding: u64 = s.torrents.iter().map(|t| t.outstanding_requests).sum();
    let queued: u64 = s.torrents.iter().map(|t| t.queued_peer_requests).sum();
    let _ = writeln!(
        out,
        "requests: {outstanding} outstanding to peers, {queued} from peers waiting; hash queue {}, disk queue {}",
        s.hash_queue_depth, s.disk_queue_depth
    );
    let trackers = s.torrents.iter().flat_map(|t| &t.trackers);
    let failing = trackers.clone().filter(|t| t.last_error.is_some()).count();
    let _ = writeln!(out, "trackers: {} working, {failing} failing", trackers.count() - failing);
    let _ = match &s.dht {
        Some(d) => writeln!(
            out,
            "dht: {} good nodes, {} questionable, {} lookups, {} queries in, {} out",
            d.good_nodes, d.questionable_nodes, d.active_lookups, d.queries_in, d.queries_out
        ),
        None => writeln!(out, "dht: off"),
    };
    out
}

/// One torrent: its fields, its trackers and its busiest peers.
pub fn details(t: &TorrentSnapshotView) -> String {
    let v = &t.torrent;
    let mut out = String::new();
    let mut line = |key: &str, value: String| {
        let _ = writeln!(out, "{:<KEY_WIDTH$}{value}", format!("{key}:"));
    };
    line("name", printable(&v.name));
    line("info_hash", v.info_hash.clone());
    line("state", v.state.clone());
    if let Some(error) = &v.error {
        line("error", printable(error));
    }
    line("save_path", v.save_path.display().to_string());
    line("progress", format!("{:.1}%", v.progress * 100.0));
    line("pieces", format!("{}/{}", v.pieces_have, v.pieces_total));
    line("size", format!("{} ({} bytes)", human_bytes(v.total_bytes), v.total_bytes));
    line("download_rate", human_rate(v.download_rate));
    line("upload_rate", human_rate(v.upload_rate));
    line("downloaded", v.downloaded.to_string());
    line("uploaded", v.uploaded.to_string());
    line("wasted", v.wasted.to_string());
    line("hash_failed_bytes", t.hash_failed_bytes.to_string());
    line("peers", v.connected_peers.to_string());
    if let Some(eta) = v.eta_secs {
        line("eta_secs", eta.to_string());
    }
    line("outstanding_requests", t.outstanding_requests.to_string());
    line("queued_peer_requests", t.queued_peer_requests.to_string());
    if let Some(ms) = t.time_to_first_byte_ms {
        line("time_to_first_byte_ms", ms.to_string());
    }
    if let Some(ms) = t.time_to_first_piece_ms {
        line("time_to_first_piece_ms", ms.to_string());
    }
    line("connections_succeeded", t.connections_succeeded.to_string());
    line("connections_failed", t.connections_failed.to_string());
    for tracker in &t.trackers {
        line("tracker", tracker_line(tracker));
    }
    let mut peers: Vec<&SnapshotPeerView> = t.peers.iter().collect();
    peers.sort_by(|a, b| {
        (b.download_rate + b.upload_rate)
            .cmp(&(a.download_rate + a.upload_rate))
            .then_with(|| a.addr.cmp(&b.addr))
    });
    for p in peers.iter().take(PEER_LINES) {
        line("peer", peer_line(p));
    }
    if peers.len() > PEER_LINES {
        line("peer", format!("… {} more (ccbt peers {})", peers.len() - PEER_LINES, v.info_hash));
    }
    out
}

/// `[tier T] URL: working|failing (…), seeders, leechers, peers received, next announce`.
fn tracker_line(t: &SnapshotTrackerView) -> String {
    let count = |n: Option<u32>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let outcome = match (&t.last_error, t.announces_ok + t.announces_failed) {
        (Some(error), _) => format!("failing ({})", printable(error)),
        (None, 0) => "not announced yet".to_owned(),
        (None, _) => "working".to_owned(),
    };
    let next = t.next_announce_secs.map_or_else(|| "-".to_owned(), |s| format!("{s}s"));
    format!(
        "[tier {}] {}: {outcome}, {} seeders, {} leechers, {} peers received, next announce {next}",
        t.tier,
        printable(&t.url),
        count(t.seeders),
        count(t.leechers),
        t.peers_received
    )
}

/// `ADDR CLIENT health H, latency L, requests O out / Q in, down D, up U[, snubbed]`.
fn peer_line(p: &SnapshotPeerView) -> String {
    let health = p.health.map_or_else(|| "-".to_owned(), |h| h.to_string());
    let latency = p.request_latency_ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"));
    format!(
        "{} {} health {health}, latency {latency}, requests {} out / {} in, down {}, up {}{}",
        p.addr,
        cut(&printable(&p.client), CLIENT_WIDTH),
        p.outstanding_requests,
        p.queued_peer_requests,
        human_rate(p.download_rate),
        human_rate(p.upload_rate),
        if p.snubbed { ", snubbed" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccbt_api::{DhtView, TorrentView, TotalsView};

    fn torrent() -> TorrentSnapshotView {
        let view = TorrentView {
            info_hash: "ab".repeat(20),
            name: "a\u{1b}[2Jb".into(),
            state: "downloading".into(),
            error: None,
            save_path: "/d".into(),
            progress: 0.5,
            pieces_have: 2,
            pieces_total: 4,
            bytes_have: 32768,
            total_bytes: 65536,
            download_rate: 1024,
            upload_rate: 0,
            downloaded: 32768,
            uploaded: 0,
            wasted: 0,
            connected_peers: 1,
            hashed_pieces: 2,
            eta_secs: Some(32),
        };
        let peer = SnapshotPeerView {
            addr: "127.0.0.1:6881".into(),
            client: "-LT2000-\u{7}".into(),
            download_rate: 1024,
            upload_rate: 0,
            send_queue: 0,
            outstanding_requests: 12,
            queued_peer_requests: 3,
            request_latency_ms: Some(40),
            snubbed: false,
            health: Some(870),
        };
        let tracker = SnapshotTrackerView {
            url: "http://t/announce".into(),
            tier: 0,
            last_error: Some("connection refused".into()),
            last_warning: None,
            peers_received: 0,
            seeders: None,
            leechers: None,
            announces_ok: 0,
            announces_failed: 2,
            next_announce_secs: Some(30),
        };
        TorrentSnapshotView {
            torrent: view,
            hash_failed_bytes: 0,
            checkpoint_writes: 1,
            connections_succeeded: 1,
            connections_failed: 0,
            outstanding_requests: 12,
            queued_peer_requests: 3,
            time_to_first_byte_ms: Some(420),
            time_to_first_piece_ms: None,
            peers: vec![peer],
            trackers: vec![tracker],
        }
    }

    #[test]
    fn details_are_one_field_a_line_with_trackers_and_peers() {
        let text = details(&torrent());
        let field = |key: &str| {
            text.lines().find_map(|l| l.strip_prefix(&format!("{key}:"))).map(str::trim).unwrap_or_default()
        };
        assert_eq!(field("name"), "a?[2Jb", "escapes are defused:\n{text}");
        assert_eq!(field("outstanding_requests"), "12");
        assert_eq!(field("queued_peer_requests"), "3");
        assert_eq!(field("time_to_first_byte_ms"), "420");
        assert!(!text.contains("time_to_first_piece_ms"), "not measured, not shown:\n{text}");
        assert!(field("tracker").contains("failing (connection refused)"), "{text}");
        let peer = field("peer");
        assert!(peer.contains("health 870") && peer.contains("requests 12 out / 3 in"), "{text}");
        assert!(peer.contains("-LT2000-?"), "{text}");
    }

    #[test]
    fn many_peers_are_cut_to_the_busiest() {
        let mut t = torrent();
        let one = t.peers[0].clone();
        t.peers = (0..15u64)
            .map(|i| SnapshotPeerView { addr: format!("127.0.0.1:{i}"), download_rate: i, ..one.clone() })
            .collect();
        let text = details(&t);
        let peers: Vec<&str> = text.lines().filter(|l| l.starts_with("peer:")).collect();
        assert_eq!(peers.len(), PEER_LINES + 1, "{text}");
        assert!(peers[0].contains("127.0.0.1:14 "), "the busiest first:\n{text}");
        assert!(peers[PEER_LINES].contains("5 more"), "{text}");
    }

    #[test]
    fn the_summary_counts_states_queues_trackers_and_the_dht() {
        let mut seeding = torrent();
        seeding.torrent.state = "seeding".into();
        seeding.trackers.clear();
        let mut s = SnapshotView {
            download_rate: 1024,
            upload_rate: 0,
            connected_peers: 2,
            handshaking_peers: 1,
            banned_peers: 0,
            hash_queue_depth: 4,
            disk_queue_depth: 1,
            totals: TotalsView::default(),
            dht: None,
            torrents: vec![torrent(), seeding],
        };
        let text = summary(&s);
        assert!(text.starts_with("2 torrents: 1 downloading, 1 seeding, 0 paused"), "{text}");
        assert!(text.contains("requests: 24 outstanding to peers, 6 from peers waiting"), "{text}");
        assert!(text.contains("hash queue 4, disk queue 1"), "{text}");
        assert!(text.contains("trackers: 0 working, 1 failing"), "{text}");
        assert!(text.contains("dht: off"), "{text}");
        s.dht = Some(DhtView {
            good_nodes: 5,
            questionable_nodes: 2,
            active_lookups: 1,
            queries_in: 3,
            queries_out: 9,
        });
        assert!(summary(&s).contains("dht: 5 good nodes, 2 questionable"), "{}", summary(&s));
    }
}
