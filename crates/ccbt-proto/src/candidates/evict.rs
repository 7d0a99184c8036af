//! Which connection to drop when a better candidate waits for a slot. A connection is useless
//! when neither side is interested in the other and no payload moved either way for
//! `idle_after`; the one idle longest goes first. Peers that give us data, or that we upload
//! to, are never evicted: their payload keeps them from ever going idle.

use std::time::{Duration, Instant};

use crate::PeerKey;

/// What the eviction decision needs to know about one live connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnActivity {
    pub key: PeerKey,
    /// We are interested in the peer (it has pieces we want).
    pub am_interested: bool,
    /// The peer is interested in us.
    pub peer_interested: bool,
    /// When payload last moved either way, or when the connection was established.
    pub last_payload: Instant,
}

/// Settings of [`choose_eviction`].
#[derive(Clone, Copy, Debug)]
pub struct EvictionOptions {
    /// A connection with no interest either way and no payload for this long is useless.
    pub idle_after: Duration,
}

impl Default for EvictionOptions {
    fn default() -> Self {
        EvictionOptions { idle_after: Duration::from_secs(120) }
    }
}

/// The connection to close so that a waiting candidate gets its slot, or None when every
/// connection is useful. The caller asks only when a candidate waits and no slot is free.
pub fn choose_eviction(now: Instant, conns: &[ConnActivity], options: EvictionOptions) -> Option<PeerKey> {
    conns
        .iter()
        .filter(|c| !c.am_interested && !c.peer_interested)
        .filter(|c| now.saturating_duration_since(c.last_payload) >= options.idle_after)
        .min_by_key(|c| (c.last_payload, c.key))
        .map(|c| c.key)
}
