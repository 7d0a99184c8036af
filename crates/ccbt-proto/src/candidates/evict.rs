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

/// The `count` connections to close when a connection limit was lowered below the number open
/// (hot reload): those useless to both sides first, then those that only take data from us,
/// then those we download from; within each, the one whose payload stopped longest ago first.
pub fn choose_excess(conns: &[ConnActivity], count: usize) -> Vec<PeerKey> {
    let mut ranked: Vec<&ConnActivity> = conns.iter().collect();
    ranked.sort_unstable_by_key(|c| {
        let usefulness = match (c.am_interested, c.peer_interested) {
            (false, false) => 0,
            (false, true) => 1,
            (true, _) => 2,
        };
        (usefulness, c.last_payload, c.key)
    });
    ranked.into_iter().take(count).map(|c| c.key).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excess_connections_are_the_least_useful_first() {
        let t0 = Instant::now();
        let conn = |key: u64, am_interested, peer_interested, secs| ConnActivity {
            key: PeerKey(key),
            am_interested,
            peer_interested,
            last_payload: t0 + Duration::from_secs(secs),
        };
        let conns = [
            conn(1, true, false, 0),
            conn(2, false, true, 0),
            conn(3, false, false, 5),
            conn(4, false, false, 1),
            conn(5, true, true, 9),
        ];
        assert_eq!(choose_excess(&conns, 3), [4, 3, 2].map(PeerKey));
        assert_eq!(choose_excess(&conns, 0), []);
        assert_eq!(choose_excess(&conns, 9).len(), 5);
    }
}
