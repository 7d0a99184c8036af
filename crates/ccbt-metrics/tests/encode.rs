//! The exposition of a snapshot: the seeds' names, counters' `_total`, labels, the per-torrent
//! cap, and no series twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_engine::{
    ConnectionAttempts, SessionSnapshot, SessionTotals, TorrentError, TorrentId, TorrentSnapshot,
    TorrentState, TorrentStatus,
};
use ccbt_metrics::{encode, TORRENT_SERIES_CAP};

const SEED_NAMES: [&str; 6] = [
    "ccbt_download_rate_bytes_per_second",
    "ccbt_upload_rate_bytes_per_second",
    "ccbt_connected_peers",
    "ccbt_pieces_completed",
    "ccbt_disk_queue_depth",
    "ccbt_hash_queue_depth",
];

fn torrent(n: u64, download_rate: u64, state: TorrentState) -> TorrentSnapshot {
    let mut hash = [0u8; 20];
    hash[..8].copy_from_slice(&n.to_be_bytes());
    TorrentSnapshot {
        status: TorrentStatus {
            id: TorrentId(n),
            info_hash: InfoHash(hash),
            name: format!("torrent \"{n}\"\n"),
            save_path: "/tmp".into(),
            state,
            pieces_have: 3,
            pieces_total: 10,
            bytes_have: 3 * 16384,
            total_bytes: 10 * 16384,
            progress: 0.3,
            download_rate,
            upload_rate: 0,
            downloaded: 1000 + n,
            uploaded: 10,
            wasted: 5,
            hashed_pieces: 0,
            connected_peers: 1,
            hash_failures: 1,
            banned_peers: 0,
        },
        hash_failed_bytes: 16384,
        checkpoint_writes: 2,
        connection_attempts: ConnectionAttempts { succeeded: 1, failed: 2 },
        announces_ok: 3,
        announces_failed: 1,
        outstanding_requests: 4 * n,
        queued_peer_requests: 2,
        time_to_first_byte: (n % 2 == 1).then(|| Duration::from_millis(250 * n)),
        time_to_first_piece: None,
        peers: Vec::new(),
        trackers: Vec::new(),
    }
}

fn snapshot(torrents: Vec<TorrentSnapshot>) -> SessionSnapshot {
    let totals = SessionTotals {
        downloaded: torrents.iter().map(|t| t.status.downloaded).sum(),
        connection_attempts: ConnectionAttempts { succeeded: 4, failed: 7 },
        announces_ok: 9,
        ..SessionTotals::default()
    };
    SessionSnapshot {
        download_rate: torrents.iter().map(|t| t.status.download_rate).sum(),
        upload_rate: 0,
        totals,
        connected_peers: torrents.len(),
        handshaking_peers: 0,
        banned_peers: 0,
        hash_queue_depth: 2,
        disk_queue_depth: 1,
        dht: None,
        torrents,
    }
}

/// (series = name and labels, value) of every sample line; panics on a series seen twice.
fn samples(text: &str) -> HashMap<String, f64> {
    let mut all = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').expect("a sample line is `series value`");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line}"));
        assert!(all.insert(series.to_owned(), value).is_none(), "duplicate series {series}");
    }
    all
}

#[test]
fn seed_names_and_operator_totals_are_present_once() {
    let text = encode(&snapshot(vec![torrent(1, 5000, TorrentState::Downloading)]));
    let samples = samples(&text);
    for name in SEED_NAMES {
        assert!(samples.contains_key(name), "{name} missing from\n{text}");
        assert_eq!(text.matches(&format!("# TYPE {name} gauge\n")).count(), 1, "{name}");
    }
    assert_eq!(samples["ccbt_download_rate_bytes_per_second"], 5000.0);
    assert_eq!(samples["ccbt_pieces_completed"], 3.0);
    assert_eq!(samples["ccbt_hash_queue_depth"], 2.0);
    assert_eq!(samples["ccbt_downloaded_bytes_total"], 1001.0);
    assert!(text.contains("# TYPE ccbt_downloaded_bytes_total counter\n"));
    assert_eq!(samples["ccbt_connection_attempts_total{result=\"failure\"}"], 7.0);
    assert_eq!(samples["ccbt_tracker_announces_total{result=\"success\"}"], 9.0);
    assert_eq!(samples["ccbt_tracker_announces_total{result=\"failure\"}"], 0.0);
    assert_eq!(samples["ccbt_torrents{state=\"downloading\"}"], 1.0);
    assert_eq!(samples["ccbt_torrents{state=\"seeding\"}"], 0.0);
    let hash = "0000000000000001000000000000000000000000";
    assert_eq!(samples[&format!("ccbt_torrent_pieces_completed{{info_hash=\"{hash}\"}}")], 3.0);
    assert_eq!(samples[&format!("ccbt_torrent_progress_ratio{{info_hash=\"{hash}\"}}")], 0.3);
    assert_eq!(samples["ccbt_requests_outstanding"], 4.0);
    assert_eq!(samples["ccbt_peer_requests_queued"], 2.0);
    assert_eq!(samples[&format!("ccbt_torrent_requests_outstanding{{info_hash=\"{hash}\"}}")], 4.0);
    assert_eq!(samples[&format!("ccbt_torrent_peer_requests_queued{{info_hash=\"{hash}\"}}")], 2.0);
    assert_eq!(samples[&format!("ccbt_torrent_time_to_first_byte_seconds{{info_hash=\"{hash}\"}}")], 0.25);
    assert!(text.contains("# TYPE ccbt_torrent_time_to_first_byte_seconds gauge\n"));
    // Not measured yet: no series, rather than a made-up zero.
    assert!(!samples.keys().any(|k| k.starts_with("ccbt_torrent_time_to_first_piece_seconds")), "{text}");
    // No DHT, no DHT series.
    assert!(!text.contains("ccbt_dht_"));
}

#[test]
fn per_torrent_series_are_capped_to_the_most_active() {
    let error = TorrentState::Error(Arc::new(TorrentError::Metadata { reason: "x".into() }));
    let count = TORRENT_SERIES_CAP as u64 + 50;
    // Torrent n downloads at n B/s: the 100 fastest are 51..=150.
    let torrents = (1..=count)
        .map(|n| torrent(n, n, if n == 1 { error.clone() } else { TorrentState::Seeding }))
        .collect();
    let text = encode(&snapshot(torrents));
    let samples = samples(&text);
    let labelled: Vec<&String> =
        samples.keys().filter(|k| k.starts_with("ccbt_torrent_download_rate_bytes_per_second{")).collect();
    assert_eq!(labelled.len(), TORRENT_SERIES_CAP);
    assert!(labelled.iter().all(|k| samples[*k] > 50.0), "only the most active torrents have series");
    assert_eq!(samples["ccbt_torrent_series_omitted"], 50.0);
    // The session-wide series still count every torrent.
    assert_eq!(samples["ccbt_pieces_completed"], 3.0 * count as f64);
    assert_eq!(samples["ccbt_torrents{state=\"error\"}"], 1.0);
    assert_eq!(samples["ccbt_torrents{state=\"seeding\"}"], (count - 1) as f64);
    let first_bytes = samples.keys().filter(|k| k.starts_with("ccbt_torrent_time_to_first_byte_seconds{"));
    assert_eq!(first_bytes.count(), TORRENT_SERIES_CAP / 2, "the cap holds for every per-torrent series");
    let outstanding: u64 = (1..=count).map(|n| 4 * n).sum();
    assert_eq!(samples["ccbt_requests_outstanding"], outstanding as f64, "the sum counts every torrent");
}

#[test]
fn an_empty_session_still_has_every_seed_series() {
    let text = encode(&snapshot(Vec::new()));
    let samples = samples(&text);
    for name in SEED_NAMES {
        assert!(samples.contains_key(name), "{name}");
    }
    assert_eq!(samples["ccbt_pieces_completed"], 0.0);
    assert_eq!(samples["ccbt_download_rate_bytes_per_second"], 0.0);
    assert!(!text.contains("info_hash"));
}
