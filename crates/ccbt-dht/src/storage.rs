//! Peers announced to us (`announce_peer`), per info hash, with expiry and hard bounds so that
//! announces from the whole internet cannot grow memory without limit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ccbt_core::InfoHash;
use rand::seq::SliceRandom;
use rand::Rng;

/// How long an announcement stays valid unless renewed (BEP 5 clients re-announce every ~15-30
/// minutes).
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);

/// Bounded store of announced peers.
#[derive(Debug, Clone)]
pub struct PeerStore {
    torrents: HashMap<InfoHash, Vec<(SocketAddr, Instant)>>,
    max_info_hashes: usize,
    max_peers_per_hash: usize,
    ttl: Duration,
}

impl PeerStore {
    /// An empty store holding at most `max_info_hashes` torrents of at most `max_peers_per_hash`
    /// peers each, for `ttl` after their last announce.
    pub fn new(max_info_hashes: usize, max_peers_per_hash: usize, ttl: Duration) -> PeerStore {
        PeerStore { torrents: HashMap::new(), max_info_hashes, max_peers_per_hash, ttl }
    }

    /// Records that `peer` announced `info_hash`. A repeated announce refreshes the entry. When
    /// the torrent is full the oldest announcement makes room; when the store is full of other
    /// torrents (after dropping expired entries) the announce is refused and `false` returned:
    /// keeping established torrents beats churning under a flood of new info hashes.
    pub fn insert(&mut self, now: Instant, info_hash: InfoHash, peer: SocketAddr) -> bool {
        if self.max_peers_per_hash == 0 {
            return false;
        }
        if !self.torrents.contains_key(&info_hash) && self.torrents.len() >= self.max_info_hashes {
            self.expire(now);
            if self.torrents.len() >= self.max_info_hashes {
                return false;
            }
        }
        let ttl = self.ttl;
        let peers = self.torrents.entry(info_hash).or_default();
        peers.retain(|(_, at)| now.saturating_duration_since(*at) < ttl);
        if let Some(entry) = peers.iter_mut().find(|(p, _)| *p == peer) {
            entry.1 = now;
            return true;
        }
        if peers.len() >= self.max_peers_per_hash {
            if let Some(oldest) = peers.iter().enumerate().min_by_key(|(_, (_, at))| *at).map(|(i, _)| i) {
                peers.swap_remove(oldest);
            }
        }
        peers.push((peer, now));
        true
    }

    /// Up to `max` live peers of `info_hash`, a random sample when there are more (so that
    /// different queriers learn different parts of a big swarm).
    pub fn get(&self, now: Instant, info_hash: &InfoHash, max: usize, rng: &mut impl Rng) -> Vec<SocketAddr> {
        let Some(peers) = self.torrents.get(info_hash) else { return Vec::new() };
        let mut live: Vec<SocketAddr> = peers
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(p, _)| *p)
            .collect();
        if live.len() > max {
            live.shuffle(rng);
            live.truncate(max);
        }
        live
    }

    /// Drops expired announcements and torrents left without peers.
    pub fn expire(&mut self, now: Instant) {
        let ttl = self.ttl;
        self.torrents.retain(|_, peers| {
            peers.retain(|(_, at)| now.saturating_duration_since(*at) < ttl);
            !peers.is_empty()
        });
    }

    /// Number of torrents with stored peers.
    pub fn info_hashes(&self) -> usize {
        self.torrents.len()
    }

    /// Total stored peers (expired ones included until the next [`PeerStore::expire`]).
    pub fn peers(&self) -> usize {
        self.torrents.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn peer(i: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], i))
    }

    #[test]
    fn insert_get_refresh_and_expire() {
        let mut rng = SmallRng::seed_from_u64(0);
        let t0 = Instant::now();
        let h = InfoHash([1; 20]);
        let mut s = PeerStore::new(10, 10, PEER_TTL);
        assert!(s.insert(t0, h, peer(1)));
        assert!(s.insert(t0 + Duration::from_secs(600), h, peer(2)));
        assert!(s.insert(t0 + Duration::from_secs(600), h, peer(2)), "re-announce refreshes");
        assert_eq!(s.peers(), 2);
        let mut got = s.get(t0 + Duration::from_secs(60), &h, 50, &mut rng);
        got.sort();
        assert_eq!(got, vec![peer(1), peer(2)]);

        let later = t0 + PEER_TTL + Duration::from_secs(1);
        assert_eq!(s.get(later, &h, 50, &mut rng), vec![peer(2)], "peer 1 expired");
        s.expire(later);
        assert_eq!((s.info_hashes(), s.peers()), (1, 1));
        s.expire(later + PEER_TTL);
        assert_eq!((s.info_hashes(), s.peers()), (0, 0));
        assert!(s.get(later, &InfoHash([9; 20]), 50, &mut rng).is_empty());
    }

    #[test]
    fn bounds_hold() {
        let mut rng = SmallRng::seed_from_u64(0);
        let t0 = Instant::now();
        let mut s = PeerStore::new(3, 4, PEER_TTL);
        let h = InfoHash([1; 20]);
        for i in 0..100u16 {
            assert!(s.insert(t0 + Duration::from_secs(u64::from(i)), h, peer(i)));
        }
        assert_eq!(s.peers(), 4);
        let mut got = s.get(t0 + Duration::from_secs(100), &h, 50, &mut rng);
        got.sort();
        assert_eq!(got, vec![peer(96), peer(97), peer(98), peer(99)], "oldest evicted first");
        assert_eq!(s.get(t0, &h, 2, &mut rng).len(), 2);

        for b in 2..50u8 {
            s.insert(t0, InfoHash([b; 20]), peer(1));
        }
        assert_eq!(s.info_hashes(), 3);
        assert!(!s.insert(t0, InfoHash([200; 20]), peer(1)), "full store refuses new torrents");
        // Once the old torrents expire there is room again.
        assert!(s.insert(t0 + PEER_TTL * 2, InfoHash([200; 20]), peer(1)));
    }
}
