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
        am_interested: true,
        downloaded: 0,
        uploaded: 0,
    }
}

fn keys(v: &[PeerKey]) -> Vec<u64> {
    let mut k: Vec<u64> = v.iter().map(|p| p.0).collect();
    k.sort_unstable();
    k
}

fn apply(peers: &mut [ChokerPeer], out: &[PeerKey]) {
    for p in peers {
        p.unchoked = out.contains(&p.key);
    }
}

#[test]
fn tit_for_tat_fills_regular_slots_by_bytes_given() {
    let mut rng = SmallRng::seed_from_u64(3);
    let now = Instant::now();
    let mut peers: Vec<ChokerPeer> = (0..10).map(|i| peer(i, true, 0, 1000 - i * 100)).collect();
    for p in &mut peers {
        p.downloaded = p.key.0 * 100_000;
    }
    let mut c = Choker::new(4);
    let out = c.decide(now, &peers, false, &mut rng);
    assert_eq!(out.len(), 4);
    // Three regular slots to the peers that gave most, then one optimistic among the rest.
    assert_eq!(&out[..3], &[PeerKey(9), PeerKey(8), PeerKey(7)]);
    let opt = c.optimistic().unwrap();
    assert_eq!(out[3], opt);
    assert!(opt.0 < 7);
    // Next round only what was given since counts: peer 0 now gives the most.
    apply(&mut peers, &out);
    peers[0].downloaded += 5_000_000;
    let out = c.decide(now + CHOKE_INTERVAL, &peers, false, &mut rng);
    assert_eq!(out[0], PeerKey(0));
    // Fastest-upload seeding ranks by what we send them.
    let mut c =
        Choker::with_options(ChokerOptions { seeding: SeedChoking::FastestUpload, ..ChokerOptions::new(4) });
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
    let mut peers: Vec<ChokerPeer> = (0..20).map(|i| peer(i, true, i, 0)).collect();
    for p in &mut peers {
        p.downloaded = p.key.0;
    }
    let now = Instant::now();
    for slots in 1..25 {
        for seeding in [false, true] {
            let out = Choker::new(slots).decide(now, &peers, seeding, &mut rng);
            assert_eq!(out.len(), slots.min(20));
            assert_eq!(out.iter().collect::<HashSet<_>>().len(), out.len(), "no duplicates");
        }
    }
    let mut c = Choker::new(1);
    assert_eq!(c.decide(now, &peers, false, &mut rng), vec![PeerKey(19)]);
    assert_eq!(c.optimistic(), None);
    assert_eq!(c.poll_timeout(), Some(now + CHOKE_INTERVAL));
}

#[test]
fn optimistic_slot_rotates_every_30_seconds() {
    let mut rng = SmallRng::seed_from_u64(5);
    let start = Instant::now();
    // Peer 0 gives us data and keeps the regular slot; peers 1..8 have nothing to trade yet.
    let mut peers: Vec<ChokerPeer> = (0..8).map(|i| peer(i, true, 0, 0)).collect();
    let mut c = Choker::new(2);
    let mut seen = HashSet::new();
    let mut current = None;
    for step in 0..300u64 {
        let now = start + CHOKE_INTERVAL * step as u32;
        peers[0].downloaded += 100_000;
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
        apply(&mut peers, &out);
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

#[test]
fn never_unchoked_peers_win_the_optimistic_draw_three_times_as_often() {
    let now = Instant::now();
    let mut new_wins = 0;
    let draws = 2000;
    for seed in 0..draws {
        let mut rng = SmallRng::seed_from_u64(seed);
        // Peers 1 and 2 were unchoked before (an unlimited round); peer 3 just connected.
        let mut c = Choker::new(0);
        let mut peers: Vec<ChokerPeer> = (0..3).map(|i| peer(i, true, 0, 0)).collect();
        c.decide(now, &peers, false, &mut rng);
        c.set_options(ChokerOptions::new(2));
        for p in &mut peers {
            p.unchoked = false;
        }
        peers[0].downloaded = 1_000_000;
        peers.push(peer(3, true, 0, 0));
        let out = c.decide(now + CHOKE_INTERVAL, &peers, false, &mut rng);
        assert_eq!(out[0], PeerKey(0));
        if out[1] == PeerKey(3) {
            new_wins += 1;
        }
    }
    // Weights 1, 1, 3: the newcomer wins 3/5 of the draws (1/3 without the weighting).
    let share = f64::from(new_wins) / draws as f64;
    assert!((0.55..0.65).contains(&share), "newcomer won {share}");
}

#[test]
fn a_snubbing_peer_loses_its_regular_slot() {
    let mut rng = SmallRng::seed_from_u64(2);
    let start = Instant::now();
    // A single regular slot. Peer 0 gave a lot, then stops sending.
    let mut peers: Vec<ChokerPeer> = (0..5).map(|i| peer(i, true, 0, 0)).collect();
    peers[0].downloaded = 10_000_000;
    // The others only want from us: they cannot snub us.
    for p in &mut peers[1..] {
        p.am_interested = false;
    }
    let mut c = Choker::new(1);
    let mut regular_after_snub = Vec::new();
    for step in 0..12u32 {
        let now = start + CHOKE_INTERVAL * step;
        let out = c.decide(now, &peers, false, &mut rng);
        if step < 6 {
            // Nobody else gives anything: peer 0 keeps its slot on ties until it is snubbing.
            assert_eq!(out[0], PeerKey(0), "step {step}");
            assert!(!c.is_snubbed(PeerKey(0), now));
        } else {
            assert!(c.is_snubbed(PeerKey(0), now), "60 s without data");
            regular_after_snub.push(out[0]);
        }
        apply(&mut peers, &out);
    }
    assert!(!regular_after_snub.contains(&PeerKey(0)), "{regular_after_snub:?}");
    // Not snubbing if we do not want anything from it; and data clears the snub.
    peers[0].am_interested = false;
    let now = start + CHOKE_INTERVAL * 12;
    c.decide(now, &peers, false, &mut rng);
    assert!(!c.is_snubbed(PeerKey(0), now));
    peers[0].am_interested = true;
    peers[0].downloaded += 1;
    let out = c.decide(now + CHOKE_INTERVAL, &peers, false, &mut rng);
    assert_eq!(out[0], PeerKey(0));
}

/// Rounds of seeding where every unchoked peer takes `per_round(peer)` bytes. Returns the
/// bytes each peer got and the rounds it was unchoked.
fn seed_rounds(mode: SeedChoking, rounds: u32, per_round: impl Fn(u64) -> u64) -> (Vec<u64>, Vec<u32>) {
    let mut rng = SmallRng::seed_from_u64(7);
    let start = Instant::now();
    let mut peers: Vec<ChokerPeer> = (0..12).map(|i| peer(i, true, 0, 0)).collect();
    let mut turns = vec![0; peers.len()];
    let mut c = Choker::with_options(ChokerOptions { seeding: mode, ..ChokerOptions::new(4) });
    for step in 0..rounds {
        let out = c.decide(start + CHOKE_INTERVAL * step, &peers, true, &mut rng);
        assert_eq!(out.len(), 4);
        apply(&mut peers, &out);
        for p in peers.iter_mut().filter(|p| p.unchoked) {
            let bytes = per_round(p.key.0);
            p.uploaded += bytes;
            p.upload_rate = bytes / CHOKE_INTERVAL.as_secs();
            turns[p.key.0 as usize] += 1;
        }
    }
    (peers.iter().map(|p| p.uploaded).collect(), turns)
}

#[test]
fn round_robin_seeding_spreads_bytes_evenly() {
    // Peers of equal capacity get equal bytes, within a turn's worth.
    let (given, _) = seed_rounds(SeedChoking::RoundRobin, 300, |_| 512 * 1024);
    let (min, max) = (*given.iter().min().unwrap(), *given.iter().max().unwrap());
    assert!(max - min <= 2 * ROUND_ROBIN_QUOTA, "given {given:?}");
    // Fastest upload rotates only through its optimistic slot: far less even.
    let (given, _) = seed_rounds(SeedChoking::FastestUpload, 300, |_| 512 * 1024);
    let (fmin, fmax) = (*given.iter().min().unwrap(), *given.iter().max().unwrap());
    assert!(fmax - fmin > 10 * (max - min).max(1), "given {given:?}");
    // Mixed capacities: the slowest peers, which take longest to reach any byte count, hold
    // slots longest; everyone is served.
    let (given, turns) = seed_rounds(SeedChoking::RoundRobin, 300, |k| (k + 1) * 100 * 1024);
    assert!(given.iter().all(|&g| g > 0));
    assert_eq!(turns.iter().max(), turns.first(), "turns {turns:?}");
}
