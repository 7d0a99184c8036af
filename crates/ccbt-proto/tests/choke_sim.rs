//! Choking in whole simulated swarms (see `sim/mod.rs`): tit-for-tat, round-robin seeding,
//! optimistic unchokes and snubbing, with real `Swarm`s and `PeerConn`s over simulated links.

// The simulation takes `Instant::now()` once as its virtual clock's origin.
#![allow(clippy::disallowed_methods)]

#[allow(dead_code)]
mod sim;

use std::cell::{Cell, RefCell};
use std::time::Duration;

use ccbt_core::{Bitfield, Lengths};
use ccbt_proto::choker::ChokerOptions;
use ccbt_proto::peer::PeerConnOptions;
use ccbt_proto::picker::{PickerOptions, PieceSelection};
use ccbt_proto::swarm::SwarmOptions;
use rand::rngs::StdRng;
use rand::SeedableRng;

use sim::net::LinkSpec;
use sim::{Behaviour, Content, NodeId, Sim};

const PIECE_LEN: u32 = 32 * 1024;
const MAX_STEPS: u32 = 2_000_000;
/// The default `endgame_duplicates`.
const DUPLICATES: u32 = 2;

fn swarm_options(slots: usize) -> SwarmOptions {
    SwarmOptions {
        picker: PickerOptions { endgame_duplicates: DUPLICATES, ..PickerOptions::default() },
        choker: ChokerOptions::new(slots),
        max_buffered_bytes: 2 << 20,
        max_hash_failures: 3,
        pex: false,
    }
}

fn sim(seed: u64, pieces: u32) -> Sim {
    let content = Content::generate(&mut StdRng::seed_from_u64(seed), pieces, PIECE_LEN, PIECE_LEN);
    let lengths: Lengths = content.lengths;
    let options =
        PeerConnOptions { request_timeout: Duration::from_secs(5), ..PeerConnOptions::new(lengths) };
    Sim::new(seed, content, options)
}

fn pieces(n: u32, range: std::ops::Range<u32>) -> Bitfield {
    let mut bf = Bitfield::new(n);
    for p in range {
        bf.set(p);
    }
    bf
}

fn link(bytes_per_second: u64, latency_ms: u64) -> LinkSpec {
    LinkSpec { latency: Duration::from_millis(latency_ms), bytes_per_second }
}

fn complete(sim: &Sim, node: NodeId) -> bool {
    sim.nodes[node].swarm.is_complete()
}

fn mean_secs(sim: &Sim, nodes: &[NodeId]) -> f64 {
    let total: f64 = nodes.iter().map(|&n| sim.nodes[n].completed_at.expect("completed").as_secs_f64()).sum();
    total / nodes.len() as f64
}

/// How evenly pieces spread over the leechers while they download, sampled every second of
/// virtual time, and the endgame duplicate bound checked at every step.
#[derive(Default)]
struct Spread {
    next_sample: Cell<Duration>,
    /// Per sample: the variance of the piece-copy counts.
    samples: RefCell<Vec<f64>>,
}

impl Spread {
    fn observe(&self, sim: &Sim, leechers: &[NodeId]) {
        for &l in leechers {
            if sim.nodes[l].swarm.in_endgame() {
                let most = sim.max_requesters(l);
                assert!(most <= DUPLICATES as usize, "{most} requests for one block");
            }
        }
        if sim.elapsed() < self.next_sample.get() {
            return;
        }
        self.next_sample.set(sim.elapsed() + Duration::from_secs(1));
        let copies = sim.piece_copies(leechers);
        let n = leechers.len() as f64;
        let mean = copies.iter().map(|&c| f64::from(c)).sum::<f64>() / copies.len() as f64;
        // Only the middle of the download says anything: at the ends every count is equal.
        if mean < 0.1 * n || mean > 0.9 * n {
            return;
        }
        let variance =
            copies.iter().map(|&c| (f64::from(c) - mean).powi(2)).sum::<f64>() / copies.len() as f64;
        self.samples.borrow_mut().push(variance);
    }

    /// The mean piece-copy variance over the samples taken in the middle of the download.
    fn mean_variance(&self) -> f64 {
        let samples = self.samples.borrow();
        assert!(samples.len() >= 5, "only {} samples", samples.len());
        samples.iter().sum::<f64>() / samples.len() as f64
    }
}

const LEECHERS: usize = 30;

/// One seed (1 MB/s per link, 4 slots) and 30 leechers, alternately fast (250 KB/s per upload
/// link) and slow (25 KB/s), each leecher linked to the seed and to its 8 nearest neighbours on a
/// ring (4 fast, 4 slow: the topology favours nobody). Every link direction runs at its sender's
/// speed. Runs until every leecher completes; returns the swarm, the seed, the leechers and how
/// pieces spread.
fn thirty_leechers(pieces_n: u32, selection: PieceSelection) -> (Sim, NodeId, Vec<NodeId>, Spread) {
    let mut sim = sim(11, pieces_n);
    let options = || {
        let picker = PickerOptions { selection, ..swarm_options(4).picker };
        SwarmOptions { picker, ..swarm_options(4) }
    };
    let seed = sim.add_node("seed", &pieces(pieces_n, 0..pieces_n), options(), Behaviour::Honest);
    let fast = |i: usize| i % 2 == 0;
    let speed = |i: usize| if fast(i) { link(250_000, 30) } else { link(25_000, 60) };
    let leechers: Vec<NodeId> = (0..LEECHERS)
        .map(|i| {
            let name = if fast(i) { "fast" } else { "slow" };
            sim.add_node(name, &Bitfield::new(pieces_n), options(), Behaviour::Honest)
        })
        .collect();
    for (i, &l) in leechers.iter().enumerate() {
        sim.connect(seed, l, link(1_000_000, 40), speed(i));
        for d in 1..=4 {
            let j = (i + d) % LEECHERS;
            sim.connect(l, leechers[j], speed(i), speed(j));
        }
    }
    let spread = Spread::default();
    let done = sim.run_until(MAX_STEPS, |s| {
        spread.observe(s, &leechers);
        leechers.iter().all(|&l| complete(s, l))
    });
    assert!(done, "stuck at {:?}", sim.elapsed());
    for &l in &leechers {
        assert!(sim.data_matches(l));
        assert_eq!(sim.nodes[l].hash_failures, 0);
    }
    (sim, seed, leechers, spread)
}

/// Every leecher completes; fast uploaders finish sooner (tit-for-tat); the leechers trade
/// among themselves; endgame duplicates stay within `endgame_duplicates` (checked at every
/// step) and waste little.
#[test]
fn thirty_leechers_complete_and_tit_for_tat_rewards_fast_uploaders() {
    let (sim, seed, leechers, _) = thirty_leechers(64, PieceSelection::RarestFirst);
    // Endgame duplicates and late answers to cancelled requests: the bytes thrown away. Each
    // is a block a slow peer had already sent when an idle peer's duplicate won the race. With
    // duplicates asked only of idle peers, one at a time, that is 6 blocks per leecher here;
    // filling every free pipeline slot with duplicates wasted 13.
    let wasted: u64 = leechers.iter().map(|&l| sim.nodes[l].swarm.wasted_bytes()).sum();
    let total = LEECHERS as u64 * sim.content.lengths.total_length();
    let per_leecher = wasted / LEECHERS as u64 / 16384;
    assert!(per_leecher < 10, "{wasted} of {total} bytes wasted ({per_leecher} blocks per leecher)");
    let fast_ids: Vec<NodeId> = leechers.iter().copied().filter(|&n| sim.nodes[n].name == "fast").collect();
    let slow_ids: Vec<NodeId> = leechers.iter().copied().filter(|&n| sim.nodes[n].name == "slow").collect();
    let (fast_mean, slow_mean) = (mean_secs(&sim, &fast_ids), mean_secs(&sim, &slow_ids));
    assert!(fast_mean < 0.8 * slow_mean, "fast uploaders took {fast_mean:.1} s, slow ones {slow_mean:.1} s");
    // The leechers traded: most bytes came from each other, not from the seed.
    let from_seed: u64 = leechers.iter().map(|&l| sim.received(l, seed)).sum();
    assert!(from_seed < total / 4, "{from_seed} of {total} bytes from the seed");
}

/// Rarest first spreads pieces evenly: in the middle of the download the number of leechers
/// holding each piece varies far less than when every leecher fetches in piece order. (Each
/// leecher sees only its neighbours' availability, and early pieces spread epidemically from
/// the first leechers that have them, so the spread is not that of independent random picks.)
#[test]
fn rarest_first_spreads_piece_copies_evenly() {
    let (_, _, _, rarest) = thirty_leechers(64, PieceSelection::RarestFirst);
    let (_, _, _, sequential) = thirty_leechers(64, PieceSelection::Sequential);
    let (rarest, sequential) = (rarest.mean_variance(), sequential.mean_variance());
    assert!(rarest < 0.7 * sequential, "piece-copy variance {rarest:.1}, in piece order {sequential:.1}");
}

/// Eight leechers, each starting with its own eighth of the torrent, trade over 20 KB/s links
/// with two upload slots each (one regular, one optimistic): everyone is interested in
/// everyone, so every slot is taken from the start. A newcomer with nothing to offer joins at
/// 1 s, linked to all of them. Tit-for-tat never gives it a regular slot (it gives nothing),
/// and nobody completes (and seeds) for tens of seconds, so only an optimistic unchoke can
/// give it a piece before then.
#[test]
fn optimistic_unchoke_starts_a_newcomer_with_nothing() {
    const PIECES: u32 = 64;
    let mut sim = sim(3, PIECES);
    let slow = link(20_000, 30);
    let leechers: Vec<NodeId> = (0..8)
        .map(|i| {
            sim.add_node("leecher", &pieces(PIECES, 8 * i..8 * i + 8), swarm_options(2), Behaviour::Honest)
        })
        .collect();
    for (i, &a) in leechers.iter().enumerate() {
        for &b in &leechers[i + 1..] {
            sim.connect(a, b, slow, slow);
        }
    }
    sim.run_until(MAX_STEPS, |s| s.elapsed() >= Duration::from_secs(1));
    for &l in &leechers {
        assert_eq!(sim.unchoked_by(l).len(), 2, "slots full before the newcomer joins");
    }
    let newcomer = sim.add_node("newcomer", &Bitfield::new(PIECES), swarm_options(2), Behaviour::Honest);
    for &l in &leechers {
        sim.connect(newcomer, l, slow, slow);
    }
    let started = sim.run_until(MAX_STEPS, |s| !s.nodes[newcomer].verified.is_empty());
    assert!(started, "the newcomer never got a piece");
    assert!(
        leechers.iter().all(|&l| !complete(&sim, l)),
        "its first piece came while every neighbour was still downloading (at {:?})",
        sim.elapsed()
    );
    assert!(sim.run_until(MAX_STEPS, |s| complete(s, newcomer)), "stuck at {:?}", sim.elapsed());
    assert!(sim.data_matches(newcomer));
}

/// A leecher with one upload slot gives it to the peer that feeds it. That peer goes silent:
/// a minute later it is snubbing us, loses the slot to a peer that only takes, and is sent
/// one request at a time.
#[test]
fn a_snubbing_peer_loses_its_slot() {
    const PIECES: u32 = 200;
    let half = PIECES / 2;
    let mut sim = sim(5, PIECES);
    let leecher = sim.add_node("leecher", &pieces(PIECES, 0..half), swarm_options(1), Behaviour::Honest);
    let silent_after = Duration::from_secs(30);
    let feeder = sim.add_node(
        "feeder",
        &pieces(PIECES, half..PIECES),
        swarm_options(4),
        Behaviour::SilentAfter(silent_after),
    );
    sim.connect(feeder, leecher, link(64_000, 50), LinkSpec::fast());
    let takers: Vec<NodeId> = (0..4)
        .map(|_| {
            let t = sim.add_node("taker", &Bitfield::new(PIECES), swarm_options(4), Behaviour::Honest);
            sim.connect(t, leecher, LinkSpec::slow(), LinkSpec::slow());
            t
        })
        .collect();
    sim.run_until(MAX_STEPS, |s| s.elapsed() >= Duration::from_secs(25));
    assert_eq!(sim.am_choking(leecher, feeder), Some(false), "the feeder earns the slot");
    // Silent from 30 s: snubbing from 90 s, choked at the round after.
    sim.run_until(MAX_STEPS, |s| s.elapsed() >= Duration::from_secs(85));
    assert_eq!(sim.am_choking(leecher, feeder), Some(false), "ties keep the slot until the snub");
    sim.run_until(MAX_STEPS, |s| s.elapsed() >= Duration::from_secs(105));
    assert_eq!(sim.am_choking(leecher, feeder), Some(true), "the snubbing feeder lost its slot");
    // A snubbing peer keeps one outstanding request: enough to notice it coming back.
    for _ in 0..20 {
        let t = sim.elapsed() + Duration::from_secs(1);
        sim.run_until(MAX_STEPS, |s| s.elapsed() >= t);
        assert!(sim.outstanding(leecher, feeder).unwrap() <= 1, "at {:?}", sim.elapsed());
    }
    let unchoked = sim.unchoked_by(leecher);
    assert_eq!(unchoked.len(), 1);
    assert!(takers.contains(&unchoked[0]));
}
