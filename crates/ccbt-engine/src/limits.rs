//! Rate limits of a session: the public [`RateLimits`] and the two session-wide limiters
//! (download, upload) every connection draws from.
//!
//! The token buckets themselves are `ccbt_proto::limit::Limiter` (sans-IO); this module owns
//! them behind one short lock each, remembers the limits in force (session, per-peer default,
//! per torrent) and hands each connection a [`ConnRate`] that registers it with both limiters
//! and unregisters it when dropped, whichever way the connection ends. The socket pump asks a
//! [`ConnRate`] for grants before every read and write (`peer/rate.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ccbt_proto::limit::{burst_for, Decision, Limiter};

use crate::sync::lock;
use crate::TorrentId;

/// Bytes per second each way; 0 = unlimited. Protocol overhead (handshakes, message headers,
/// keep-alives) counts against a limit like payload.
///
/// ```
/// use ccbt_engine::RateLimits;
/// // 1 MiB/s down, upload unlimited.
/// let limits = RateLimits { download: 1024 * 1024, ..RateLimits::default() };
/// assert_eq!(limits.upload, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub download: u64,
    pub upload: u64,
}

/// The limits of one torrent (same shape as the session's).
pub type TorrentLimits = RateLimits;

/// The smallest limit that is not 0: below it one 16 KiB block takes longer than a request may
/// wait (`request_timeout`), and the transfer would stall instead of being slow.
pub const MIN_RATE_LIMIT: u64 = 1024;

/// Raises a non-zero rate to [`MIN_RATE_LIMIT`].
fn usable(rate: u64) -> u64 {
    if rate == 0 {
        0
    } else {
        rate.max(MIN_RATE_LIMIT)
    }
}

impl RateLimits {
    fn usable(self) -> RateLimits {
        RateLimits { download: usable(self.download), upload: usable(self.upload) }
    }
}

/// Which way bytes move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Down,
    Up,
}

/// A connection's key in the limiters, unique in the session (torrent and metadata
/// connections alike).
type ConnId = u64;

/// The limits in force, and the connections registered.
#[derive(Debug, Default)]
struct Settings {
    session: RateLimits,
    peer: RateLimits,
    torrents: HashMap<TorrentId, RateLimits>,
    conns: HashSet<ConnId>,
}

/// The session's two limiters. Lock order: `settings`, then `down`, then `up`; the pump's
/// grants lock one limiter for one call.
#[derive(Debug)]
pub(crate) struct SessionLimits {
    settings: Mutex<Settings>,
    down: Mutex<Limiter<TorrentId, ConnId>>,
    up: Mutex<Limiter<TorrentId, ConnId>>,
    next_conn: AtomicU64,
}

impl SessionLimits {
    pub(crate) fn new(session: RateLimits, peer: RateLimits) -> Arc<SessionLimits> {
        let (session, peer) = (session.usable(), peer.usable());
        let now = Instant::now();
        Arc::new(SessionLimits {
            settings: Mutex::new(Settings { session, peer, ..Settings::default() }),
            down: Mutex::new(Limiter::new(now, session.download)),
            up: Mutex::new(Limiter::new(now, session.upload)),
            next_conn: AtomicU64::new(1),
        })
    }

    /// No limit anywhere (tests of the pump alone).
    #[cfg(test)]
    pub(crate) fn unlimited() -> Arc<SessionLimits> {
        SessionLimits::new(RateLimits::default(), RateLimits::default())
    }

    fn limiter(&self, dir: Direction) -> &Mutex<Limiter<TorrentId, ConnId>> {
        match dir {
            Direction::Down => &self.down,
            Direction::Up => &self.up,
        }
    }

    pub(crate) fn session(&self) -> RateLimits {
        lock(&self.settings).session
    }

    pub(crate) fn peer(&self) -> RateLimits {
        lock(&self.settings).peer
    }

    pub(crate) fn set_session(&self, limits: RateLimits) {
        let limits = limits.usable();
        let mut settings = lock(&self.settings);
        settings.session = limits;
        let now = Instant::now();
        lock(&self.down).set_session_rate(now, limits.download);
        lock(&self.up).set_session_rate(now, limits.upload);
    }

    /// Sets the default limit of every connection, existing ones included.
    pub(crate) fn set_peer(&self, limits: RateLimits) {
        let limits = limits.usable();
        let mut settings = lock(&self.settings);
        settings.peer = limits;
        let now = Instant::now();
        let mut down = lock(&self.down);
        let mut up = lock(&self.up);
        for &conn in &settings.conns {
            down.set_peer_rate(now, conn, limits.download);
            up.set_peer_rate(now, conn, limits.upload);
        }
    }

    pub(crate) fn torrent(&self, id: TorrentId) -> RateLimits {
        lock(&self.settings).torrents.get(&id).copied().unwrap_or_default()
    }

    pub(crate) fn set_torrent(&self, id: TorrentId, limits: RateLimits) {
        let limits = limits.usable();
        let mut settings = lock(&self.settings);
        settings.torrents.insert(id, limits);
        let now = Instant::now();
        lock(&self.down).set_torrent_rate(now, id, limits.download);
        lock(&self.up).set_torrent_rate(now, id, limits.upload);
    }

    /// Forgets a removed torrent's level.
    pub(crate) fn remove_torrent(&self, id: TorrentId) {
        let mut settings = lock(&self.settings);
        settings.torrents.remove(&id);
        lock(&self.down).remove_torrent(id);
        lock(&self.up).remove_torrent(id);
    }

    /// Registers a connection of torrent `id` under the per-peer default and charges the
    /// handshake it already exchanged (`handshake` bytes each way: they could not be refused).
    pub(crate) fn register(self: &Arc<Self>, id: TorrentId, handshake: u64) -> ConnRate {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut settings = lock(&self.settings);
        settings.conns.insert(conn);
        let now = Instant::now();
        let peer = settings.peer;
        for (dir, rate) in [(Direction::Down, peer.download), (Direction::Up, peer.upload)] {
            let mut limiter = lock(self.limiter(dir));
            limiter.add_peer(now, conn, id, rate);
            limiter.charge(now, conn, handshake);
        }
        ConnRate { limits: self.clone(), conn }
    }

    fn unregister(&self, conn: ConnId) {
        let mut settings = lock(&self.settings);
        settings.conns.remove(&conn);
        lock(&self.down).remove_peer(conn);
        lock(&self.up).remove_peer(conn);
    }

    /// Connections registered now.
    #[cfg(test)]
    pub(crate) fn registered(&self) -> usize {
        lock(&self.settings).conns.len()
    }
}

/// One connection's place in the session's limiters; leaves them when dropped.
#[derive(Debug)]
pub(crate) struct ConnRate {
    limits: Arc<SessionLimits>,
    conn: ConnId,
}

impl ConnRate {
    /// Asks to move up to `bytes` now (see `Limiter::request`), at most half a burst of the
    /// tightest level: a waiter refused a whole burst is due when the bucket is exactly full, and
    /// what the bucket earns while the woken task is being scheduled spills over the cap (1 ms
    /// late costs 0.5 % of the rate); with half a burst it is kept.
    pub(crate) fn request(&self, dir: Direction, now: Instant, bytes: u64) -> Decision {
        let mut limiter = lock(self.limits.limiter(dir));
        let (session, torrent, peer) = limiter.rates(self.conn);
        let tightest = [session, torrent, peer].into_iter().filter(|&r| r != 0).min();
        let bytes = tightest.map_or(bytes, |rate| bytes.min(burst_for(rate) / 2));
        limiter.request(now, self.conn, bytes)
    }

    /// Returns the part of a grant that did not move.
    pub(crate) fn give_back(&self, dir: Direction, now: Instant, bytes: u64) {
        if bytes > 0 {
            lock(self.limits.limiter(dir)).give_back(now, self.conn, bytes);
        }
    }

    /// Drops a waiting reservation (the pump no longer wants to move bytes that way).
    pub(crate) fn cancel(&self, dir: Direction) {
        lock(self.limits.limiter(dir)).cancel(self.conn);
    }
}

impl Drop for ConnRate {
    fn drop(&mut self) {
        self.limits.unregister(self.conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_leave_the_limiters_when_dropped() {
        let limits = SessionLimits::unlimited();
        let a = limits.register(TorrentId(1), 68);
        let b = limits.register(TorrentId(1), 68);
        assert_eq!(limits.registered(), 2);
        drop(a);
        assert_eq!(limits.registered(), 1);
        drop(b);
        assert_eq!(limits.registered(), 0);
    }

    #[test]
    fn peer_limits_apply_to_existing_connections() {
        let limits = SessionLimits::unlimited();
        let conn = limits.register(TorrentId(1), 0);
        let now = Instant::now();
        assert_eq!(conn.request(Direction::Down, now, 1 << 20), Decision::Grant { bytes: 1 << 20 });
        limits.set_peer(RateLimits { download: 64 * 1024, upload: 0 });
        // The new bucket starts empty: nothing moves before the rate earned it.
        assert!(matches!(conn.request(Direction::Down, now, 16 * 1024), Decision::WaitUntil(_)));
        assert_eq!(conn.request(Direction::Up, now, 1 << 20), Decision::Grant { bytes: 1 << 20 });
    }

    #[test]
    fn grants_are_at_most_half_a_burst_of_the_tightest_level() {
        let limits = SessionLimits::new(RateLimits { download: 10 << 20, upload: 0 }, RateLimits::default());
        limits.set_torrent(TorrentId(1), RateLimits { download: 1 << 20, upload: 0 });
        let conn = limits.register(TorrentId(1), 0);
        let later = Instant::now() + std::time::Duration::from_secs(5);
        let half = burst_for(1 << 20) / 2;
        assert_eq!(conn.request(Direction::Down, later, 64 << 20), Decision::Grant { bytes: half });
        // Unlimited: whatever is asked.
        assert_eq!(conn.request(Direction::Up, later, 64 << 20), Decision::Grant { bytes: 64 << 20 });
    }

    #[test]
    fn tiny_limits_are_raised_to_the_minimum() {
        let limits = SessionLimits::unlimited();
        limits.set_session(RateLimits { download: 1, upload: 0 });
        assert_eq!(limits.session(), RateLimits { download: MIN_RATE_LIMIT, upload: 0 });
        limits.set_torrent(TorrentId(3), RateLimits { download: 0, upload: 5 });
        assert_eq!(limits.torrent(TorrentId(3)).upload, MIN_RATE_LIMIT);
        limits.remove_torrent(TorrentId(3));
        assert_eq!(limits.torrent(TorrentId(3)), RateLimits::default());
    }
}
