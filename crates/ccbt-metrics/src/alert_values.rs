//! The session's figures as alert rules read them: a [`SessionSnapshot`] turned into a
//! [`ccbt_alerts::Snapshot`] under the names `/metrics` publishes (counters with their `_total`),
//! session-wide series with no scope and the `info_hash`-labelled series scoped by torrent.
//!
//! Only unlabelled session series and per-torrent series are offered: a rule compares one number,
//! and series split by another label (`ccbt_torrents{state}`, `..._announces_total{result}`) have
//! no single one. Unlike `/metrics`, every torrent has its values here (no series cap): the alert
//! evaluator bounds the torrents one rule tracks itself.

use ccbt_alerts::{Metrics, Snapshot};
use ccbt_engine::{SessionSnapshot, TorrentSnapshot};

type SessionValue = fn(&SessionSnapshot) -> f64;
type TorrentValue = fn(&TorrentSnapshot) -> f64;

/// Session-wide metrics: name as `/metrics` publishes it, and its value.
const SESSION: &[(&str, SessionValue)] = &[
    ("ccbt_download_rate_bytes_per_second", |s| s.download_rate as f64),
    ("ccbt_upload_rate_bytes_per_second", |s| s.upload_rate as f64),
    ("ccbt_connected_peers", |s| s.connected_peers as f64),
    ("ccbt_pieces_completed", |s| s.torrents.iter().map(|t| f64::from(t.status.pieces_have)).sum()),
    ("ccbt_disk_queue_depth", |s| s.disk_queue_depth as f64),
    ("ccbt_hash_queue_depth", |s| s.hash_queue_depth as f64),
    ("ccbt_handshaking_peers", |s| s.handshaking_peers as f64),
    ("ccbt_banned_peers", |s| s.banned_peers as f64),
    ("ccbt_downloaded_bytes_total", |s| s.totals.downloaded as f64),
    ("ccbt_uploaded_bytes_total", |s| s.totals.uploaded as f64),
    ("ccbt_wasted_bytes_total", |s| s.totals.wasted as f64),
    ("ccbt_hash_failed_bytes_total", |s| s.totals.hash_failed_bytes as f64),
    ("ccbt_hash_failures_total", |s| s.totals.hash_failures as f64),
    ("ccbt_checkpoint_writes_total", |s| s.totals.checkpoint_writes as f64),
    ("ccbt_requests_outstanding", |s| s.torrents.iter().map(|t| t.outstanding_requests as f64).sum()),
    ("ccbt_peer_requests_queued", |s| s.torrents.iter().map(|t| t.queued_peer_requests as f64).sum()),
];

/// Per-torrent metrics (the `info_hash`-labelled series of `/metrics`).
const TORRENT: &[(&str, TorrentValue)] = &[
    ("ccbt_torrent_download_rate_bytes_per_second", |t| t.status.download_rate as f64),
    ("ccbt_torrent_upload_rate_bytes_per_second", |t| t.status.upload_rate as f64),
    ("ccbt_torrent_connected_peers", |t| t.status.connected_peers as f64),
    ("ccbt_torrent_pieces_completed", |t| f64::from(t.status.pieces_have)),
    ("ccbt_torrent_pieces_selected", |t| f64::from(t.status.pieces_total)),
    ("ccbt_torrent_downloaded_bytes_total", |t| t.status.downloaded as f64),
    ("ccbt_torrent_uploaded_bytes_total", |t| t.status.uploaded as f64),
    ("ccbt_torrent_wasted_bytes_total", |t| t.status.wasted as f64),
    ("ccbt_torrent_hash_failed_bytes_total", |t| t.hash_failed_bytes as f64),
    ("ccbt_torrent_progress_ratio", |t| t.status.progress),
    ("ccbt_torrent_requests_outstanding", |t| t.outstanding_requests as f64),
    ("ccbt_torrent_peer_requests_queued", |t| t.queued_peer_requests as f64),
];

/// The metrics alert rules may name, each marked per-torrent or session-wide.
pub fn alert_metrics() -> Metrics {
    let session = SESSION.iter().map(|(name, _)| (*name, false));
    Metrics::new(session.chain(TORRENT.iter().map(|(name, _)| (*name, true))))
}

/// The values of the metrics `wanted` accepts (the evaluator needs only those its rules name,
/// and a session of thousands of torrents should not cost a map entry per torrent and metric for
/// nothing).
pub fn alert_snapshot(snapshot: &SessionSnapshot, wanted: impl Fn(&str) -> bool) -> Snapshot {
    let mut out = Snapshot::new();
    for (name, value) in SESSION.iter().filter(|(name, _)| wanted(name)) {
        out.set(name, None, value(snapshot));
    }
    for (name, value) in TORRENT.iter().filter(|(name, _)| wanted(name)) {
        for torrent in &snapshot.torrents {
            out.set(name, Some(torrent.status.info_hash), value(torrent));
        }
    }
    out
}
