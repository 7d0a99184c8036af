//! Peers announced to us (`announce_peer`), per info hash, with expiry and hard bounds so that
//! announces from the whole internet cannot grow memory without limit, and a per-IP cap so that
//! one host (a token proves only that it owns one address) cannot fill the store with made-up
//! torrents and lock everyone else out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
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
    max_per_ip: usize,
    /// Stored entries per announcing IP, kept in step with `torrents`.
    per_ip: HashMap<IpAddr, usize>,
    ttl: Duration,
}

impl PeerStore {
    /// An empty store holding at most `max_info_hashes` torrents of at most `max_peers_per_hash`
    /// peers each, at most `max_per_ip` entries from one IP, for `ttl` after their last announce.
    pub fn new(
        max_info_hashes: usize,
        max_peers_per_hash: usize,
        max_per_ip: usize,
        ttl: Duration,
    ) -> PeerStore {
        PeerStore {
            torrents: HashMap::new(),
            max_info_hashes,
            max_peers_per_hash,
            max_per_ip,
            per_ip: HashMap::new(),
            ttl,
        }
    }

    /// Records that `peer` announced `info_hash`. A repeated announce refreshes the entry. When
    /// the torrent is full the oldest announcement makes room; when the store is full of other
    /// torrents (after dropping expired entries) the announce is refused and `false` returned:
    /// keeping established torrents beats churning under a flood of new info hashes. An IP that
    /// holds `max_per_ip` entries is refused new ones until some expire.
    pub fn insert(&mut self, now: Instant, info_hash: InfoHash, peer: SocketAddr) -> bool {
        if self.max_peers_per_hash == 0 {
            return false;
        }
        let is_refresh =
            self.torrents.get(&info_hash).is_some_and(|peers| peers.iter().any(|(p, _)| *p == peer));
        if !is_refresh && self.per_ip.get(&peer.ip()).copied().unwrap_or(0) >= self.max_per_ip {
            self.expire(now);
            if self.per_ip.get(&peer.ip()).copied().unwrap_or(0) >= self.max_per_ip {
                return false;
            }
        }
        if !self.torrents.contains_key(&info_hash) && self.torrents.len() >= self.max_info_hashes {
            self.expire(now);
            if self.torrents.len() >= self.max_info_hashes {
                return false;
            }
        }
        let ttl = self.ttl;
        let per_ip = &mut self.per_ip;
        let peers = self.torrents.entry(info_hash).or_default();
        peers.retain(|(p, at)| {
            let live = now.saturating_duration_since(*at) < ttl;
            if !live {
                forget(per_ip, p.ip());
            }
            live
        });
        if let Some(entry) = peers.iter_mut().find(|(p, _)| *p == peer) {
            entry.1 = now;
            return true;
        }
        if peers.len() >= self.max_peers_per_hash {
            if let Some(oldest) = peers.iter().enumerate().min_by_key(|(_, (_, at))| *at).map(|(i, _)| i) {
                let (old, _) = peers.swap_remove(oldest);
                forget(per_ip, old.ip());
            }
        }
        peers.push((peer, now));
        *per_ip.entry(peer.ip()).or_insert(0) += 1;
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
        let per_ip = &mut self.per_ip;
        self.torrents.retain(|_, peers| {
            peers.retain(|(p, at)| {
                let live = now.saturating_duration_since(*at) < ttl;
                if !live {
                    forget(per_ip, p.ip());
                }
                live
            });
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

/// Counts one entry of `ip` less, forgetting IPs with none left.
fn forget(per_ip: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(n) = per_ip.get_mut(&ip) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per_ip.remove(&ip);
        }
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
        let mut s = PeerStore::new(10, 10, 10, PEER_TTL);
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
        let mut s = PeerStore::new(3, 4, 1000, PEER_TTL);
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

    #[test]
    fn one_ip_holds_at_most_its_cap() {
        let t0 = Instant::now();
        let mut s = PeerStore::new(100, 100, 3, PEER_TTL);
        for h in 0..10u8 {
            s.insert(t0, InfoHash([h; 20]), peer(u16::from(h) + 1));
        }
        assert_eq!(s.peers(), 3, "same IP, many torrents and ports");
        assert!(s.insert(t0, InfoHash([0; 20]), peer(1)), "a refresh is not a new entry");
        assert!(
            s.insert(t0, InfoHash([0; 20]), SocketAddr::from(([10, 0, 0, 2], 1))),
            "other IPs unaffected"
        );
        // Expired entries free the IP's share.
        assert!(s.insert(t0 + PEER_TTL, InfoHash([50; 20]), peer(9)));
        assert_eq!(s.per_ip.values().sum::<usize>(), s.peers());
    }
}
