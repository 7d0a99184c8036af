//! Choosing which interested peers we upload to (BEP 3 choking, tit-for-tat).
//!
//! Every [`CHOKE_INTERVAL`] (and when interest changes) the engine calls [`Choker::decide`]
//! with a snapshot of its peers. Regular slots go to the interested peers that give us the
//! most (download rate) while we download, or take the most (upload rate) while we seed. One
//! optimistic slot goes to a random interested choked peer and rotates every
//! [`OPTIMISTIC_ROTATION`], so newcomers with nothing to trade yet get a chance to prove
//! themselves. Only interested peers are unchoked: unchoking a peer that wants nothing (a
//! seed, typically) wastes a slot.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use crate::PeerKey;

/// How often the engine re-runs the choker.
pub const CHOKE_INTERVAL: Duration = Duration::from_secs(10);

/// How long the optimistic unchoke stays with one peer.
pub const OPTIMISTIC_ROTATION: Duration = Duration::from_secs(30);

/// What the choker needs to know about one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChokerPeer {
    /// The connection.
    pub key: PeerKey,
    /// The peer wants data from us.
    pub interested: bool,
    /// We currently unchoke it.
    pub unchoked: bool,
    /// Bytes per second from them to us.
    pub download_rate: u64,
    /// Bytes per second from us to them.
    pub upload_rate: u64,
    /// The peer has every piece.
    pub is_seed: bool,
}

/// The upload slot allocator of one torrent.
#[derive(Clone, Debug)]
pub struct Choker {
    max_upload_slots: usize,
    /// The current optimistic unchoke and when it was chosen.
    optimistic: Option<(PeerKey, Instant)>,
}

impl Choker {
    /// A choker with `max_upload_slots` unchoked peers at most (0: unlimited). With more than
    /// one slot, one of them is the optimistic slot; a single slot is a regular slot.
    pub fn new(max_upload_slots: usize) -> Choker {
        Choker { max_upload_slots, optimistic: None }
    }

    /// The peer holding the optimistic slot, if any.
    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic.map(|(k, _)| k)
    }

    /// Returns the peers to unchoke; every other peer is to be choked. `seeding` selects the
    /// ranking: download rate (tit-for-tat) while downloading, upload rate while seeding.
    /// Ties are broken in favour of peers already unchoked (so slots do not flap), then at random.
    pub fn decide(
        &mut self,
        now: Instant,
        peers: &[ChokerPeer],
        seeding: bool,
        rng: &mut impl rand::Rng,
    ) -> Vec<PeerKey> {
        // A seed never needs our data; an uninterested peer does not want it now.
        let mut candidates: Vec<&ChokerPeer> = peers.iter().filter(|p| p.interested).collect();
        if self.max_upload_slots == 0 {
            self.optimistic = None;
            return candidates.iter().map(|p| p.key).collect();
        }
        let regular_slots = if self.max_upload_slots > 1 { self.max_upload_slots - 1 } else { 1 };
        candidates.shuffle(rng);
        let rate = |p: &ChokerPeer| if seeding { p.upload_rate } else { p.download_rate };
        // Stable sort keeps the shuffled order among exact ties.
        candidates.sort_by(|a, b| rate(b).cmp(&rate(a)).then(b.unchoked.cmp(&a.unchoked)));
        let split = regular_slots.min(candidates.len());
        let (regular, rest) = candidates.split_at(split);
        let mut unchoke: Vec<PeerKey> = regular.iter().map(|p| p.key).collect();
        if self.max_upload_slots > 1 {
            if let Some(k) = self.choose_optimistic(now, rest, rng) {
                unchoke.push(k);
            }
        } else {
            self.optimistic = None;
        }
        unchoke
    }

    /// Keeps the optimistic peer while its period lasts and it is still an eligible (interested,
    /// not regular) peer; otherwise draws a new one, preferring peers currently choked.
    fn choose_optimistic(
        &mut self,
        now: Instant,
        rest: &[&ChokerPeer],
        rng: &mut impl rand::Rng,
    ) -> Option<PeerKey> {
        if let Some((key, since)) = self.optimistic {
            let fresh = now.saturating_duration_since(since) < OPTIMISTIC_ROTATION;
            if fresh && rest.iter().any(|p| p.key == key) {
                return Some(key);
            }
        }
        let previous = self.optimistic.map(|(k, _)| k);
        let choked: Vec<PeerKey> = rest.iter().filter(|p| !p.unchoked).map(|p| p.key).collect();
        let others: Vec<PeerKey> = rest.iter().map(|p| p.key).filter(|&k| Some(k) != previous).collect();
        let pick = choked
            .choose(rng)
            .or_else(|| others.choose(rng))
            .copied()
            .or_else(|| previous.filter(|k| rest.iter().any(|p| p.key == *k)));
        self.optimistic = pick.map(|k| (k, now));
        pick
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn peer(key: u64, interested: bool, down: u64, up: u64) -> ChokerPeer {
        ChokerPeer {
            key: PeerKey(key),
            interested,
            unchoked: false,
            download_rate: down,
            upload_rate: up,
            is_seed: false,
        }
    }

    fn keys(v: &[PeerKey]) -> Vec<u64> {
        let mut k: Vec<u64> = v.iter().map(|p| p.0).collect();
        k.sort_unstable();
        k
    }

    #[test]
    fn tit_for_tat_fills_regular_slots_by_download_rate() {
        let mut rng = SmallRng::seed_from_u64(3);
        let now = Instant::now();
        let peers: Vec<ChokerPeer> = (0..10).map(|i| peer(i, true, i * 100, 1000 - i * 100)).collect();
        let mut c = Choker::new(4);
        let out = c.decide(now, &peers, false, &mut rng);
        assert_eq!(out.len(), 4);
        // Three regular slots to the best uploaders to us, then one optimistic among the rest.
        assert_eq!(&out[..3], &[PeerKey(9), PeerKey(8), PeerKey(7)]);
        let opt = c.optimistic().unwrap();
        assert_eq!(out[3], opt);
        assert!(opt.0 < 7);
        // Seeding ranks by what we send them.
        let mut c = Choker::new(4);
        let out = c.decide(now, &peers, true, &mut rng);
        assert_eq!(&out[..3], &[PeerKey(0), PeerKey(1), PeerKey(2)]);
    }

    #[test]
    fn uninterested_peers_and_seeds_stay_choked() {
        let mut rng = SmallRng::seed_from_u64(3);
        let now = Instant::now();
        let mut peers = vec![peer(1, false, 10_000, 0), peer(2, true, 1, 0), peer(3, false, 0, 0)];
        peers[2].is_seed = true;
        let out = Choker::new(4).decide(now, &peers, false, &mut rng);
        assert_eq!(keys(&out), vec![2]);
        assert!(Choker::new(0).decide(now, &peers, false, &mut rng) == vec![PeerKey(2)]);
    }

    #[test]
    fn unlimited_unchokes_every_interested_peer() {
        let mut rng = SmallRng::seed_from_u64(3);
        let peers: Vec<ChokerPeer> = (0..50).map(|i| peer(i, i % 2 == 0, 0, 0)).collect();
        let out = Choker::new(0).decide(Instant::now(), &peers, false, &mut rng);
        assert_eq!(keys(&out), (0..50).filter(|i| i % 2 == 0).collect::<Vec<_>>());
    }

    #[test]
    fn slots_respected_and_single_slot_is_regular() {
        let mut rng = SmallRng::seed_from_u64(9);
        let peers: Vec<ChokerPeer> = (0..20).map(|i| peer(i, true, i, 0)).collect();
        let now = Instant::now();
        for slots in 1..25 {
            let out = Choker::new(slots).decide(now, &peers, false, &mut rng);
            assert_eq!(out.len(), slots.min(20));
            assert_eq!(out.iter().collect::<HashSet<_>>().len(), out.len(), "no duplicates");
        }
        let mut c = Choker::new(1);
        assert_eq!(c.decide(now, &peers, false, &mut rng), vec![PeerKey(19)]);
        assert_eq!(c.optimistic(), None);
    }

    #[test]
    fn optimistic_slot_rotates_every_30_seconds() {
        let mut rng = SmallRng::seed_from_u64(5);
        let start = Instant::now();
        // Peer 0 and 1 take the regular slot; peers 2..8 have nothing to trade yet.
        let mut peers: Vec<ChokerPeer> =
            (0..8).map(|i| peer(i, true, if i < 1 { 500 } else { 0 }, 0)).collect();
        let mut c = Choker::new(2);
        let mut seen = HashSet::new();
        let mut current = None;
        for step in 0..300u64 {
            let now = start + CHOKE_INTERVAL * step as u32;
            let out = c.decide(now, &peers, false, &mut rng);
            assert_eq!(out.len(), 2);
            assert_eq!(out[0], PeerKey(0));
            let opt = c.optimistic().unwrap();
            assert_eq!(out[1], opt);
            if step % 3 == 0 {
                assert_ne!(Some(opt), current, "rotated at step {step}");
            } else {
                assert_eq!(Some(opt), current, "kept within the period at step {step}");
            }
            current = Some(opt);
            seen.insert(opt);
            for p in &mut peers {
                p.unchoked = out.contains(&p.key);
            }
        }
        // Over 100 rotations every newcomer got its turn.
        assert_eq!(seen.len(), 7);
    }

    #[test]
    fn optimistic_redrawn_when_it_loses_interest() {
        let mut rng = SmallRng::seed_from_u64(1);
        let now = Instant::now();
        let mut peers: Vec<ChokerPeer> = (0..4).map(|i| peer(i, true, 0, 0)).collect();
        let mut c = Choker::new(2);
        c.decide(now, &peers, false, &mut rng);
        let opt = c.optimistic().unwrap();
        if let Some(p) = peers.iter_mut().find(|p| p.key == opt) {
            p.interested = false;
        }
        let out = c.decide(now + Duration::from_secs(1), &peers, false, &mut rng);
        assert!(!out.contains(&opt));
        assert_eq!(out.len(), 2);
    }
}
