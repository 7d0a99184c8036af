//! The figures alert rules read are those `/metrics` publishes: every metric offered to rules is
//! a series of the exposition, under the same name, with the same value, scoped by info hash
//! where the series has an `info_hash` label.

use std::collections::HashMap;

use ccbt_core::InfoHash;
use ccbt_engine::{
    ConnectionAttempts, SessionSnapshot, SessionTotals, TorrentId, TorrentSnapshot, TorrentState,
    TorrentStatus,
};
use ccbt_metrics::{alert_metrics, alert_snapshot, encode};

fn torrent(n: u8, download_rate: u64) -> TorrentSnapshot {
    TorrentSnapshot {
        status: TorrentStatus {
            id: TorrentId(u64::from(n)),
            info_hash: InfoHash([n; 20]),
            name: format!("t{n}"),
            save_path: "/tmp".into(),
            state: TorrentState::Downloading,
            pieces_have: 3 + u32::from(n),
            pieces_total: 10,
            bytes_have: 3 * 16384,
            total_bytes: 10 * 16384,
            progress: 0.25,
            download_rate,
            upload_rate: 7 * u64::from(n),
            downloaded: 1000 + u64::from(n),
            uploaded: 10,
            wasted: 5,
            hashed_pieces: 0,
            connected_peers: usize::from(n),
            hash_failures: 1,
            banned_peers: 1,
        },
        hash_failed_bytes: 16384,
        checkpoint_writes: 2,
        connection_attempts: ConnectionAttempts { succeeded: 1, failed: 2 },
        announces_ok: 3,
        announces_failed: 1,
        outstanding_requests: 5 * u64::from(n),
        queued_peer_requests: u64::from(n),
        time_to_first_byte: None,
        time_to_first_piece: None,
        peers: Vec::new(),
        trackers: Vec::new(),
    }
}

fn snapshot() -> SessionSnapshot {
    let torrents = vec![torrent(1, 5000), torrent(2, 300)];
    let mut totals = SessionTotals::default();
    for (i, t) in torrents.iter().enumerate() {
        totals.downloaded += t.status.downloaded;
        totals.uploaded += t.status.uploaded + i as u64;
        totals.wasted += t.status.wasted;
        totals.hash_failures += 1;
        totals.hash_failed_bytes += t.hash_failed_bytes;
        totals.checkpoint_writes += t.checkpoint_writes;
    }
    SessionSnapshot {
        download_rate: 5300,
        upload_rate: 21,
        totals,
        connected_peers: 3,
        handshaking_peers: 4,
        banned_peers: 2,
        hash_queue_depth: 6,
        disk_queue_depth: 1,
        dht: None,
        torrents,
    }
}

/// series (name and labels) → value, from the text exposition.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

#[test]
fn every_alert_metric_is_a_published_series_with_the_same_value() {
    let snap = snapshot();
    let published = samples(&encode(&snap));
    let metrics = alert_metrics();
    let values = alert_snapshot(&snap, |_| true);
    let names: Vec<&str> = metrics.names().collect();
    assert!(names.len() >= 20, "{names:?}");
    for name in names {
        if metrics.per_torrent(name) == Some(true) {
            assert_eq!(values.get(name, None), None, "{name} has a session-wide value");
            for t in &snap.torrents {
                let hash = t.status.info_hash;
                let series = format!("{name}{{info_hash=\"{hash}\"}}");
                let want = published.get(&series).unwrap_or_else(|| panic!("{series} not published"));
                assert_eq!(values.get(name, Some(&hash)), Some(*want), "{series}");
            }
        } else {
            let want = published.get(name).unwrap_or_else(|| panic!("{name} not published"));
            assert_eq!(values.get(name, None), Some(*want), "{name}");
        }
    }
    // The seeds' names are offered as they are.
    assert_eq!(values.get("ccbt_download_rate_bytes_per_second", None), Some(5300.0));
    assert_eq!(metrics.per_torrent("ccbt_download_rate_bytes_per_second"), Some(false));
    assert_eq!(
        values.get("ccbt_torrent_download_rate_bytes_per_second", Some(&InfoHash([2; 20]))),
        Some(300.0)
    );
}

#[test]
fn only_the_wanted_metrics_are_read() {
    let snap = snapshot();
    let values = alert_snapshot(&snap, |name| name == "ccbt_torrent_connected_peers");
    assert_eq!(values.get("ccbt_download_rate_bytes_per_second", None), None);
    let scopes: Vec<_> = values.scopes("ccbt_torrent_connected_peers").collect();
    assert_eq!(scopes, [(Some(InfoHash([1; 20])), 1.0), (Some(InfoHash([2; 20])), 2.0)]);
}
