//! A health score per peer, and which peers to keep when the connection limit is reached.
//!
//! The engine has a bounded number of connections per torrent; when a better peer waits, the
//! worst connection should make room. "Worst" mixes what a peer gives us and how it behaves,
//! so the score is a sum of points (0 to 1000, higher is better):
//!
//! | part           | points                                                         |
//! |----------------|----------------------------------------------------------------|
//! | base           | 500                                                            |
//! | throughput     | `min(400, 40 × log2(1 + r))`, `r` = (down + up / 2) in KiB/s    |
//! | latency        | 0 to 100: 100 at ≤ 100 ms, falling linearly to 0 at 5 s; 50 if unknown |
//! | hash failures  | −150 each                                                      |
//! | protocol errors| −50 each                                                       |
//! | snubbing us    | −200                                                           |
//! | newcomer       | +100 during the first [`GRACE`] of a connection                |
//!
//! Why these shapes: throughput is logarithmic so a 10 MiB/s peer does not make every
//! 100 KiB/s peer look worthless (both are worth keeping over a silent one), and download
//! counts double what the peer takes from us (we are here to download, but uploading keeps
//! the swarm alive). A hash failure costs more than a slow minute: corrupt data costs a whole
//! piece and a ban is near. Snubbing costs as much as a mid-range rate earns, so a peer that
//! stopped sending falls below an honest slow one. Newcomers get a grace period because
//! they have had no chance to show a rate yet; without it, a full torrent would evict every
//! new connection before its first block.

use std::time::Duration;

use crate::PeerKey;

/// How long a new connection is protected by its newcomer bonus.
pub const GRACE: Duration = Duration::from_secs(60);

const BASE: i64 = 500;
const MAX_THROUGHPUT: i64 = 400;
const THROUGHPUT_PER_DOUBLING: f64 = 40.0;
const MAX_LATENCY_POINTS: i64 = 100;
const UNKNOWN_LATENCY_POINTS: i64 = 50;
const GOOD_LATENCY: Duration = Duration::from_millis(100);
const BAD_LATENCY: Duration = Duration::from_secs(5);
const HASH_FAILURE_PENALTY: i64 = 150;
const PROTOCOL_ERROR_PENALTY: i64 = 50;
const SNUB_PENALTY: i64 = 200;
const NEWCOMER_BONUS: i64 = 100;

/// What the score is computed from (the swarm and the connection know all of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerHealth {
    /// Payload bytes per second from the peer.
    pub download_rate: u64,
    /// Payload bytes per second to the peer.
    pub upload_rate: u64,
    /// Mean time from a request to its block, if any block arrived.
    pub request_latency: Option<Duration>,
    /// Pieces failed with data from this peer.
    pub hash_failures: u32,
    /// Protocol violations tolerated so far (unrequested blocks, bogus rejects, ...).
    pub protocol_errors: u32,
    /// The peer is snubbing us (see the choker).
    pub snubbed: bool,
    /// How long the connection has been up.
    pub connected_for: Duration,
}

impl PeerHealth {
    /// The score (0 to 1000, higher is better), by the formula in the module docs.
    pub fn score(&self) -> u32 {
        let total = BASE + self.throughput_points() + self.latency_points() - self.penalties()
            + if self.connected_for < GRACE { NEWCOMER_BONUS } else { 0 };
        total.clamp(0, 1000) as u32
    }

    fn throughput_points(&self) -> i64 {
        let kib = (self.download_rate as f64 + self.upload_rate as f64 / 2.0) / 1024.0;
        let points = (THROUGHPUT_PER_DOUBLING * (1.0 + kib).log2()).floor() as i64;
        points.clamp(0, MAX_THROUGHPUT)
    }

    fn latency_points(&self) -> i64 {
        let Some(latency) = self.request_latency else { return UNKNOWN_LATENCY_POINTS };
        if latency <= GOOD_LATENCY {
            return MAX_LATENCY_POINTS;
        }
        let over = latency.saturating_sub(GOOD_LATENCY).as_millis() as i64;
        let range = (BAD_LATENCY - GOOD_LATENCY).as_millis() as i64;
        (MAX_LATENCY_POINTS - MAX_LATENCY_POINTS * over / range).max(0)
    }

    fn penalties(&self) -> i64 {
        i64::from(self.hash_failures) * HASH_FAILURE_PENALTY
            + i64::from(self.protocol_errors) * PROTOCOL_ERROR_PENALTY
            + if self.snubbed { SNUB_PENALTY } else { 0 }
    }
}

/// The score of a connection that just opened: what a waiting candidate is worth.
pub fn newcomer_score() -> u32 {
    PeerHealth::default().score()
}

/// Splits `peers` into the `limit` to keep (best first) and the rest to close (worst last).
/// Equal scores keep the older connection (a lower key: keys are never reused and grow), so
/// the outcome does not depend on the input order.
pub fn choose_to_keep(peers: &[(PeerKey, PeerHealth)], limit: usize) -> (Vec<PeerKey>, Vec<PeerKey>) {
    let mut ranked: Vec<(u32, PeerKey)> = peers.iter().map(|(k, h)| (h.score(), *k)).collect();
    ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut keep: Vec<PeerKey> = ranked.into_iter().map(|(_, k)| k).collect();
    let close = keep.split_off(limit.min(keep.len()));
    (keep, close)
}

/// At the connection limit with a candidate waiting: the connection to close for it, if any
/// scores below a newcomer. Connections still in their grace period are never chosen (a new
/// connection must not evict another new one, or the torrent churns without downloading).
pub fn evict_for_newcomer(peers: &[(PeerKey, PeerHealth)]) -> Option<PeerKey> {
    let bar = newcomer_score();
    peers
        .iter()
        .filter(|(_, h)| h.connected_for >= GRACE)
        .map(|(k, h)| (h.score(), *k))
        .filter(|&(s, _)| s < bar)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn settled(down_kib: u64) -> PeerHealth {
        PeerHealth {
            download_rate: down_kib * 1024,
            request_latency: Some(Duration::from_millis(80)),
            connected_for: 5 * MINUTE,
            ..PeerHealth::default()
        }
    }

    #[test]
    fn formula_points() {
        // Base 500 + unknown latency 50 + newcomer 100.
        assert_eq!(newcomer_score(), 650);
        // Settled, idle, fast answers: 500 + 0 + 100.
        assert_eq!(settled(0).score(), 600);
        // 1 KiB/s: one doubling, 40 points; 32 KiB/s: log2(33) doublings, 201 points;
        // 1 MiB/s: ~10 doublings, 400 (the cap).
        assert_eq!(settled(1).score(), 640);
        assert_eq!(settled(32).score(), 801);
        assert_eq!(settled(1024).score(), 1000);
        assert_eq!(settled(1 << 20).score(), 1000);
        // Upload counts half: 2 KiB/s up is 1 KiB/s down.
        let up = PeerHealth { upload_rate: 2048, ..settled(0) };
        assert_eq!(up.score(), settled(1).score());
        // Latency: 2.55 s is half-way from 100 ms to 5 s.
        let slow = PeerHealth { request_latency: Some(Duration::from_millis(2550)), ..settled(0) };
        assert_eq!(slow.score(), 550);
        let awful = PeerHealth { request_latency: Some(Duration::from_secs(30)), ..settled(0) };
        assert_eq!(awful.score(), 500);
        // Penalties, floored at 0.
        let bad = PeerHealth { hash_failures: 1, protocol_errors: 2, snubbed: true, ..settled(0) };
        assert_eq!(bad.score(), 600 - 150 - 100 - 200);
        let worst = PeerHealth { hash_failures: 10, ..settled(1024) };
        assert_eq!(worst.score(), 0);
    }

    #[test]
    fn score_is_monotonic_in_each_input() {
        let base = settled(64);
        assert!(settled(128).score() > base.score());
        assert!(PeerHealth { hash_failures: 1, ..base }.score() < base.score());
        assert!(PeerHealth { protocol_errors: 1, ..base }.score() < base.score());
        assert!(PeerHealth { snubbed: true, ..base }.score() < base.score());
        assert!(PeerHealth { request_latency: Some(Duration::from_secs(1)), ..base }.score() < base.score());
        // A snubbing peer ranks below an honest slow one.
        assert!(PeerHealth { snubbed: true, ..settled(100) }.score() < settled(4).score());
    }

    #[test]
    fn keeps_the_best_and_breaks_ties_by_age() {
        let peers = vec![
            (PeerKey(5), settled(10)),
            (PeerKey(1), settled(0)),
            (PeerKey(3), PeerHealth { hash_failures: 3, ..settled(500) }),
            (PeerKey(2), settled(0)),
            (PeerKey(4), settled(200)),
        ];
        let (keep, close) = choose_to_keep(&peers, 3);
        assert_eq!(keep, vec![PeerKey(4), PeerKey(5), PeerKey(1)]);
        assert_eq!(close, vec![PeerKey(2), PeerKey(3)]);
        let (keep, close) = choose_to_keep(&peers, 10);
        assert_eq!((keep.len(), close.len()), (5, 0));
        let mut reversed = peers.clone();
        reversed.reverse();
        assert_eq!(choose_to_keep(&reversed, 3), choose_to_keep(&peers, 3));
    }

    #[test]
    fn newcomers_evict_only_settled_peers_worse_than_them() {
        let young = PeerHealth { connected_for: Duration::from_secs(5), snubbed: true, ..settled(0) };
        let peers = vec![
            (PeerKey(1), settled(100)),
            (PeerKey(2), young),
            (PeerKey(3), PeerHealth { snubbed: true, ..settled(1) }),
            (PeerKey(4), settled(0)),
        ];
        // Peer 3 snubs us (440) and is worse than idle peer 4 (600); the young one is spared.
        assert_eq!(evict_for_newcomer(&peers), Some(PeerKey(3)));
        // Healthy settled peers are not evicted for an unknown newcomer.
        assert_eq!(evict_for_newcomer(&[(PeerKey(1), settled(100)), (PeerKey(2), young)]), None);
    }
}
