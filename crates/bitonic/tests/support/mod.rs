//! Snapshots and listings shared by the view and render tests (built by hand: these tests run
//! without a daemon).

#![allow(dead_code)]

use bitonic::view::dialog::Entry;
use bitonic::view::Folders;
use ccbt_api::{
    ActiveAlertView, AlertEventView, AlertHistoryView, AlertRuleView, AlertsView, DhtView, FileList,
    FileView, PeerList, PeerView, PendingAlertView, PieceCellView, PieceMapView, SnapshotPeerView,
    SnapshotTrackerView, SnapshotView, TorrentSnapshotView, TorrentView, TotalsView, TrackerList,
    TrackerView,
};

pub fn hash(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

pub fn torrent(n: u8, name: &str, state: &str, progress: f64, down: u64, up: u64) -> TorrentSnapshotView {
    let total = 700 * 1024 * 1024 + u64::from(n) * 1024 * 1024;
    TorrentSnapshotView {
        torrent: TorrentView {
            info_hash: hash(n),
            name: name.to_owned(),
            state: state.to_owned(),
            error: (state == "error").then(|| "disk full".to_owned()),
            save_path: "/srv/downloads".into(),
            progress,
            pieces_have: (progress * 1400.0) as u32,
            pieces_total: 1400,
            bytes_have: (progress * total as f64) as u64,
            total_bytes: total,
            download_rate: down,
            upload_rate: up,
            downloaded: (progress * total as f64) as u64,
            uploaded: up * 60,
            wasted: 0,
            connected_peers: usize::from(n) * 3,
            hashed_pieces: 0,
            eta_secs: (state == "downloading" && down > 0)
                .then(|| ((1.0 - progress) * total as f64 / down as f64) as u64),
        },
        hash_failed_bytes: 0,
        checkpoint_writes: 4,
        connections_succeeded: 10,
        connections_failed: 2,
        outstanding_requests: 12,
        queued_peer_requests: 3,
        time_to_first_byte_ms: Some(850),
        time_to_first_piece_ms: Some(1900),
        peers: vec![SnapshotPeerView {
            addr: "10.0.0.7:6881".to_owned(),
            client: "-LT2090-abcdefgh".to_owned(),
            download_rate: down,
            upload_rate: up,
            send_queue: 0,
            request_latency_ms: Some(40),
            snubbed: false,
            health: Some(900),
            outstanding_requests: 12,
            queued_peer_requests: 3,
        }],
        trackers: vec![SnapshotTrackerView {
            url: "http://tracker.example/announce".to_owned(),
            tier: 0,
            last_error: None,
            last_warning: None,
            peers_received: 30,
            seeders: Some(u32::from(n) * 10),
            leechers: Some(5),
            announces_ok: 1,
            announces_failed: 0,
            next_announce_secs: Some(1700),
        }],
    }
}

/// Three torrents in different states, and the session's figures.
pub fn snapshot() -> SnapshotView {
    SnapshotView {
        download_rate: 3 * 1024 * 1024,
        upload_rate: 200 * 1024,
        connected_peers: 18,
        handshaking_peers: 2,
        banned_peers: 1,
        hash_queue_depth: 3,
        disk_queue_depth: 1,
        totals: TotalsView { downloaded: 5 << 30, uploaded: 1 << 30, ..TotalsView::default() },
        dht: Some(DhtView {
            good_nodes: 152,
            questionable_nodes: 12,
            active_lookups: 2,
            queries_in: 900,
            queries_out: 1200,
        }),
        torrents: vec![
            torrent(1, "debian-12.5.0-amd64-netinst.iso", "downloading", 0.423, 3 * 1024 * 1024, 100 * 1024),
            torrent(2, "archlinux-2026.11.01-x86_64.iso", "seeding", 1.0, 0, 100 * 1024),
            torrent(3, "ubuntu-24.04-desktop-amd64.iso", "paused", 0.1, 0, 0),
        ],
    }
}

pub fn files(n: u8) -> FileList {
    let file = |index: u32, path: &str, length: u64, done: f64, priority: &str| FileView {
        index,
        path: path.to_owned(),
        length,
        bytes_verified: (length as f64 * done) as u64,
        progress: done,
        priority: priority.to_owned(),
        is_padding: false,
    };
    FileList {
        info_hash: hash(n),
        files: vec![
            file(0, "disc/install.iso", 600 << 20, 0.5, "normal"),
            file(1, "disc/README.txt", 4096, 1.0, "high"),
            file(2, "extras/sources.tar", 100 << 20, 0.0, "skip"),
        ],
    }
}

pub fn peers(n: u8) -> PeerList {
    PeerList {
        info_hash: hash(n),
        peers: vec![PeerView {
            addr: "10.0.0.7:6881".to_owned(),
            client: "-LT2090-abcdefgh".to_owned(),
            download_rate: 3 * 1024 * 1024,
            upload_rate: 100 * 1024,
            request_latency_ms: Some(40),
            snubbed: false,
            health: Some(900),
            pieces: 1400,
            progress: 1.0,
            flags: vec!["seed".to_owned(), "interesting".to_owned()],
            send_queue: 0,
            send_queue_peak: 16384,
            outstanding_requests: 12,
            queued_peer_requests: 3,
        }],
    }
}

pub fn trackers(n: u8) -> TrackerList {
    TrackerList {
        info_hash: hash(n),
        trackers: vec![
            TrackerView {
                url: "http://tracker.example/announce".to_owned(),
                tier: 0,
                status: "working".to_owned(),
                last_error: None,
                last_warning: None,
                peers_received: 30,
                seeders: Some(10),
                leechers: Some(5),
                next_announce_secs: Some(1700),
            },
            TrackerView {
                url: "udp://dead.example:6969".to_owned(),
                tier: 1,
                status: "error".to_owned(),
                last_error: Some("connection refused".to_owned()),
                last_warning: None,
                peers_received: 0,
                seeders: None,
                leechers: None,
                next_announce_secs: Some(120),
            },
        ],
    }
}

/// A fixed folder listing for the add prompt's completion.
pub struct FakeFolders;

impl Folders for FakeFolders {
    fn list(&self, folder: &str) -> Vec<Entry> {
        match folder {
            "/dl/" => vec![
                Entry { name: "debian.torrent".to_owned(), is_dir: false },
                Entry { name: "music".to_owned(), is_dir: true },
            ],
            _ => Vec::new(),
        }
    }
}

/// 1400 pieces in 200 runs of 7: the first 40% verified, a partly verified stretch, rare pieces
/// at the end.
pub fn pieces(n: u8) -> PieceMapView {
    let cells = (0..200u32)
        .map(|i| PieceCellView {
            first: i * 7,
            count: 7,
            have: match i {
                0..=79 => 7,
                80..=99 => i % 8,
                _ => 0,
            },
            min_availability: if i >= 180 { 0 } else { 1 + i % 5 },
        })
        .collect();
    PieceMapView { info_hash: hash(n), pieces: 1400, cells }
}

/// "Now" for the alert fixtures, Unix seconds.
pub const WALL_CLOCK: u64 = 1_764_777_600;

/// Three rules: one firing for the session, one firing for torrent 1, one pending.
pub fn alerts() -> AlertsView {
    let rule = |name: &str, metric: &str, severity: &str, state: &str| AlertRuleView {
        name: name.to_owned(),
        metric: metric.to_owned(),
        condition: "value < 10 KiB".to_owned(),
        severity: severity.to_owned(),
        cooldown_secs: 300,
        for_secs: 60,
        torrent: None,
        enabled: true,
        state: state.to_owned(),
    };
    AlertsView {
        rules_file: "/home/me/.local/state/ccbt/alerts.toml".into(),
        rules_error: None,
        rules: vec![
            rule("slow", "ccbt_download_rate_bytes_per_second", "warning", "firing"),
            rule("stalled", "ccbt_torrent_download_rate_bytes_per_second", "critical", "firing"),
            rule("few-peers", "ccbt_connected_peers", "info", "pending"),
        ],
        firing: vec![
            ActiveAlertView {
                rule: "slow".to_owned(),
                severity: "warning".to_owned(),
                metric: "ccbt_download_rate_bytes_per_second".to_owned(),
                torrent: None,
                value: 2048.0,
                since: WALL_CLOCK - 300,
            },
            ActiveAlertView {
                rule: "stalled".to_owned(),
                severity: "critical".to_owned(),
                metric: "ccbt_torrent_download_rate_bytes_per_second".to_owned(),
                torrent: Some(hash(1)),
                value: 0.0,
                since: WALL_CLOCK - 90,
            },
        ],
        pending: vec![PendingAlertView {
            rule: "few-peers".to_owned(),
            torrent: None,
            since: WALL_CLOCK - 20,
        }],
    }
}

/// An alert record: `kind` `fired` or `resolved`.
pub fn alert_event(seq: u64, kind: &str, rule: &str, at: u64) -> AlertEventView {
    let resolved = kind == "resolved";
    AlertEventView {
        seq,
        kind: kind.to_owned(),
        rule: rule.to_owned(),
        severity: "warning".to_owned(),
        metric: "ccbt_download_rate_bytes_per_second".to_owned(),
        torrent: None,
        value: Some(if resolved { 524_288.0 } else { 2048.0 }),
        at,
        fired_at: resolved.then_some(at - 60),
        reason: resolved.then(|| "cleared".to_owned()),
    }
}

/// The history: "slow" fired, resolved and fired again.
pub fn alert_history() -> AlertHistoryView {
    AlertHistoryView {
        capacity: 1000,
        next_seq: 4,
        records: vec![
            alert_event(1, "fired", "slow", WALL_CLOCK - 3600),
            alert_event(2, "resolved", "slow", WALL_CLOCK - 3000),
            alert_event(3, "fired", "slow", WALL_CLOCK - 300),
        ],
    }
}
