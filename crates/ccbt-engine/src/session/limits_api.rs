//! The rate-limit calls of [`Session`]: session-wide, per connection and per torrent, all live.

use super::Session;
use crate::sync::lock;
use crate::{RateLimits, SessionError, TorrentId, TorrentLimits};

impl Session {
    /// Sets the session-wide rate limits (bytes/s each way, 0 = unlimited) from now on; every
    /// connection of every torrent, metadata fetches included, shares them. Protocol overhead
    /// counts. A non-zero limit below [`crate::MIN_RATE_LIMIT`] is raised to it.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use ccbt_engine::{RateLimits, Session, SessionOptions};
    /// let session = Session::new(SessionOptions::default()).await?;
    /// session.set_limits(RateLimits { download: 1024 * 1024, upload: 256 * 1024 });
    /// assert_eq!(session.limits().upload, 256 * 1024);
    /// session.set_limits(RateLimits::default()); // unlimited again
    /// # Ok(()) }
    /// ```
    pub fn set_limits(&self, limits: RateLimits) {
        self.inner.limits.set_session(limits);
    }

    /// The session-wide rate limits in force.
    pub fn limits(&self) -> RateLimits {
        self.inner.limits.session()
    }

    /// Sets the limit of every connection, the existing ones included (bytes/s each way, 0 =
    /// unlimited). A non-zero limit below [`crate::MIN_RATE_LIMIT`] is raised to it.
    pub fn set_peer_limits(&self, limits: RateLimits) {
        self.inner.limits.set_peer(limits);
    }

    /// The limits of each connection in force.
    pub fn peer_limits(&self) -> RateLimits {
        self.inner.limits.peer()
    }

    /// Sets one torrent's rate limits (bytes/s each way, 0 = unlimited), live, also while a
    /// magnet link resolves. They apply within the session's.
    ///
    /// ```no_run
    /// # async fn demo(session: ccbt_engine::Session, id: ccbt_engine::TorrentId) -> Result<(), ccbt_engine::SessionError> {
    /// use ccbt_engine::TorrentLimits;
    /// session.set_torrent_limits(id, TorrentLimits { download: 0, upload: 64 * 1024 })?;
    /// assert_eq!(session.torrent_limits(id)?.upload, 64 * 1024);
    /// # Ok(()) }
    /// ```
    pub fn set_torrent_limits(&self, id: TorrentId, limits: TorrentLimits) -> Result<(), SessionError> {
        // Under the torrents lock, so a concurrent `remove` cannot leave a level behind.
        let torrents = lock(&self.inner.torrents);
        if !torrents.contains_key(&id) {
            return Err(SessionError::UnknownTorrent(id.0));
        }
        self.inner.limits.set_torrent(id, limits);
        Ok(())
    }

    /// One torrent's own rate limits.
    pub fn torrent_limits(&self, id: TorrentId) -> Result<TorrentLimits, SessionError> {
        if !lock(&self.inner.torrents).contains_key(&id) {
            return Err(SessionError::UnknownTorrent(id.0));
        }
        Ok(self.inner.limits.torrent(id))
    }
}

/// The limits in force with each direction that `new` changes from `old` replaced; None when
/// neither changed.
pub(super) fn changed_rates(in_force: RateLimits, old: RateLimits, new: RateLimits) -> Option<RateLimits> {
    let download = if new.download != old.download { new.download } else { in_force.download };
    let upload = if new.upload != old.upload { new.upload } else { in_force.upload };
    (old != new).then_some(RateLimits { download, upload })
}

/// The connection budget's limits in `options`.
pub(super) fn budget_limits(options: &crate::SessionOptions) -> crate::budget::BudgetLimits {
    crate::budget::BudgetLimits {
        established: options.max_global_peers,
        handshakes_per_direction: options.max_handshakes,
        per_ip: options.max_connections_per_ip,
        connects_per_sec: options.max_connects_per_sec,
    }
}
