//! [`Session::reconfigure`]: applying changed options to a running session (hot reload).

use std::sync::Arc;

use super::limits_api::{budget_limits, changed_rates};
use super::{Session, SessionInner, TorrentEntry};
use crate::options::Reconfigured;
use crate::sync::lock;
use crate::torrent::TorrentShared;
use crate::{SessionError, SessionOptions};

impl Session {
    /// Changes the options of the running session (hot reload). `new` is validated as by
    /// [`Session::new`]; on error nothing changes. Each option that changed is either applied
    /// at once ([`Reconfigured::applied`]) or keeps its current value until the next start
    /// ([`Reconfigured::needs_restart`]); [`SessionOptions::merge_live`] lists which are which.
    ///
    /// Applied live: the connection budget (`max_global_peers`, `max_handshakes`,
    /// `max_connections_per_ip`, `max_connects_per_sec`), and in every running torrent
    /// `max_peers_per_torrent`, the choker's settings (`max_upload_slots`, `unchoke_interval`,
    /// `optimistic_unchoke_interval`, `snub_timeout`, `seed_choking`: it runs again at once),
    /// `piece_selection`, `endgame_duplicates`, `endgame_threshold`, `max_hash_failures`,
    /// `enable_pex`, `enable_http_trackers` and `enable_udp_trackers` (the announcer restarts
    /// with the trackers now allowed), `enable_dht` (the torrents' DHT lookups start or stop;
    /// turning it on in a session started without a DHT node needs a restart), and
    /// `download_dir` and `streaming_mode` for torrents added afterwards. A lowered peer count closes the least
    /// useful connections beyond it (see `ccbt_proto::candidates::choose_excess`). A magnet
    /// link still fetching its metadata takes the new options when its download starts.
    pub fn reconfigure(&self, new: SessionOptions) -> Result<Reconfigured, SessionError> {
        new.validate()?;
        let inner = &self.inner;
        let current = inner.options();
        let (mut merged, mut report) = current.merge_live(&new);
        if merged.enable_dht && !current.enable_dht && inner.dht.is_none() {
            merged.enable_dht = false;
            report.defer("enable_dht");
        }
        apply_session_wide(inner, &current, &merged);
        inner.options.send_replace(Arc::new(merged));
        close_excess_connections(inner);
        if !report.is_empty() {
            tracing::info!(applied = ?report.applied, needs_restart = ?report.needs_restart, "options changed");
        }
        Ok(report)
    }
}

/// Applies the session-wide part of reconfigured options (each torrent task applies its own part
/// when it sees the new options): one call per session-wide mechanism.
fn apply_session_wide(inner: &SessionInner, current: &SessionOptions, options: &SessionOptions) {
    inner.budget.set_limits(budget_limits(options));
    // Only a rate the new options change is set: the last change wins, so a reload that leaves
    // the limits alone keeps what `set_limits` / `set_peer_limits` set since.
    let session = changed_rates(inner.limits.session(), current.session_limits(), options.session_limits());
    if let Some(limits) = session {
        inner.limits.set_session(limits);
    }
    if let Some(limits) = changed_rates(inner.limits.peer(), current.peer_limits(), options.peer_limits()) {
        inner.limits.set_peer(limits);
    }
}

/// After `max_global_peers` was lowered: closes the established connections beyond it, taken
/// one at a time from the torrent that has the most (each torrent closes its least useful).
fn close_excess_connections(inner: &SessionInner) {
    let mut excess = inner.budget.active().saturating_sub(inner.budget.established_limit());
    if excess == 0 {
        return;
    }
    let running: Vec<Arc<TorrentShared>> = lock(&inner.torrents)
        .values()
        .filter_map(|entry| match entry {
            TorrentEntry::Active { shared, .. } => Some(shared.clone()),
            TorrentEntry::Resolving { .. } => None,
        })
        .collect();
    let mut open: Vec<usize> = running.iter().map(|t| lock(&t.inner).peers.len()).collect();
    let mut to_close = vec![0; running.len()];
    while excess > 0 {
        let Some((most, _)) = open.iter().enumerate().filter(|(_, &n)| n > 0).max_by_key(|(_, &n)| n) else {
            break;
        };
        open[most] -= 1;
        to_close[most] += 1;
        excess -= 1;
    }
    for (torrent, count) in running.iter().zip(to_close) {
        torrent.close_excess(count);
    }
}
