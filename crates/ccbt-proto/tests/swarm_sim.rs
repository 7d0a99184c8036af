//! Deterministic simulations of whole swarms built from real `Swarm`s and `PeerConn`s talking
//! through the wire codec over simulated links (see `sim/mod.rs`).

// The simulation takes `Instant::now()` once as its virtual clock's origin.
#![allow(clippy::disallowed_methods)]

mod sim;

use std::time::Duration;

use ccbt_core::{Bitfield, Lengths};
use ccbt_proto::choker::ChokerOptions;
use ccbt_proto::peer::PeerConnOptions;
use ccbt_proto::picker::PickerOptions;
use ccbt_proto::swarm::SwarmOptions;
use rand::rngs::StdRng;
use rand::SeedableRng;

use sim::net::LinkSpec;
use sim::{Behaviour, Content, NodeId, Sim};

const PIECES: u32 = 200;
const PIECE_LEN: u32 = 32 * 1024;
/// A short last piece, so the odd geometry is exercised too.
const LAST_PIECE_LEN: u32 = 5000;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Far more than any scenario needs; a run that hits it is stuck.
const MAX_STEPS: u32 = 400_000;
/// The seed of every scenario; any seed must pass (see `many_seeds`).
const SEED: u64 = 1;

fn content(seed: u64) -> Content {
    Content::generate(&mut StdRng::seed_from_u64(seed), PIECES, PIECE_LEN, LAST_PIECE_LEN)
}

fn swarm_options() -> SwarmOptions {
    SwarmOptions {
        picker: PickerOptions::default(),
        choker: ChokerOptions::new(4),
        max_buffered_bytes: 2 << 20,
        max_hash_failures: 3,
        pex: false,
    }
}

fn conn_options(lengths: Lengths, fast: bool) -> PeerConnOptions {
    PeerConnOptions {
        fast_extension: fast,
        request_timeout: REQUEST_TIMEOUT,
        ..PeerConnOptions::new(lengths)
    }
}

fn pieces(range: std::ops::Range<u32>) -> Bitfield {
    let mut bf = Bitfield::new(PIECES);
    for p in range {
        bf.set(p);
    }
    bf
}

/// A fresh leecher and seeders with the given behaviours, each seeder linked to the leecher.
fn one_leecher(
    seed: u64,
    fast: bool,
    leecher_options: SwarmOptions,
    seeders: &[Behaviour],
) -> (Sim, NodeId, Vec<NodeId>) {
    const NAMES: [&str; 4] = ["seeder-0", "seeder-1", "seeder-2", "seeder-3"];
    let content = content(seed);
    let lengths = content.lengths;
    let mut sim = Sim::new(seed, content, conn_options(lengths, fast));
    let leecher = sim.add_node("leecher", &Bitfield::new(PIECES), leecher_options, Behaviour::Honest);
    let ids: Vec<NodeId> = seeders
        .iter()
        .zip(NAMES)
        .map(|(&behaviour, name)| sim.add_node(name, &pieces(0..PIECES), swarm_options(), behaviour))
        .collect();
    for &s in &ids {
        sim.connect(leecher, s, LinkSpec::fast(), LinkSpec::fast());
    }
    (sim, leecher, ids)
}

fn complete(sim: &Sim, node: NodeId) -> bool {
    sim.nodes[node].swarm.is_complete()
}

/// Every piece was reported verified exactly once.
fn assert_each_piece_verified_once(sim: &Sim, node: NodeId) {
    let mut verified = sim.nodes[node].verified.clone();
    verified.sort_unstable();
    assert_eq!(verified, (0..PIECES).collect::<Vec<_>>(), "{}", sim.nodes[node].name);
}

/// Only the normal end of a download closed connections: no protocol error, no timeout.
fn assert_only_clean_closes(sim: &Sim) {
    for (node, remote, reason) in &sim.closed {
        assert!(
            reason == "both sides are seeds" || reason == "closed by the peer",
            "{} closed {}: {reason}",
            sim.nodes[*node].name,
            sim.nodes[*remote].name
        );
    }
}

#[test]
fn three_honest_seeders() {
    three_honest_seeders_seed(SEED);
}

fn three_honest_seeders_seed(seed: u64) {
    let (mut sim, leecher, seeders) = one_leecher(seed, false, swarm_options(), &[Behaviour::Honest; 3]);
    assert!(sim.run_until(MAX_STEPS, |s| complete(s, leecher)), "stuck at {:?}", sim.elapsed());
    assert!(sim.data_matches(leecher));
    assert_each_piece_verified_once(&sim, leecher);
    assert_eq!(sim.nodes[leecher].hash_failures, 0);
    let total = sim.content.lengths.total_length();
    let mut received = 0;
    for &s in &seeders {
        let from = sim.received(leecher, s);
        // The work is shared: every seeder delivers a fair part of the torrent.
        assert!(from > total / 10, "{} delivered only {from} bytes", sim.nodes[s].name);
        received += from;
    }
    // Endgame duplicates cost little.
    assert!(received >= total && received < total + total / 20, "received {received} of {total}");
    // At 3 x 10 MB/s the 6.5 MB take well under a second of virtual time.
    assert!(sim.elapsed() < Duration::from_secs(2), "took {:?}", sim.elapsed());
    assert!(sim.run_until(10, |s| s.closed.len() == 6), "finished connections are closed");
    assert_only_clean_closes(&sim);
}

#[test]
fn lying_seeder_is_banned_and_never_trusted() {
    lying_seeder_is_banned_and_never_trusted_seed(SEED);
}

fn lying_seeder_is_banned_and_never_trusted_seed(seed: u64) {
    let behaviours = [Behaviour::Honest, Behaviour::Liar, Behaviour::Honest];
    let (mut sim, leecher, seeders) = one_leecher(seed, true, swarm_options(), &behaviours);
    let liar = seeders[1];
    assert!(sim.run_until(MAX_STEPS, |s| complete(s, leecher)), "stuck at {:?}", sim.elapsed());
    // Every accepted piece was checked against the source as it was accepted (in `Node::act`);
    // the result is the source.
    assert!(sim.data_matches(leecher));
    assert_each_piece_verified_once(&sim, leecher);
    let node = &sim.nodes[leecher];
    assert_eq!(node.banned, vec![liar], "the liar and only the liar is banned");
    assert!(node.hash_failures >= 3, "banned at the third failure, got {}", node.hash_failures);
    assert!(!sim.connected(leecher, liar));
    let reasons: Vec<&str> = sim
        .closed
        .iter()
        .filter(|(n, r, _)| *n == leecher && *r == liar)
        .map(|(_, _, reason)| reason.as_str())
        .collect();
    assert_eq!(reasons, vec!["banned after 3 hash failures"]);
}

#[test]
fn silent_seeder_requests_time_out_and_go_elsewhere() {
    silent_seeder_requests_time_out_and_go_elsewhere_seed(SEED);
}

fn silent_seeder_requests_time_out_and_go_elsewhere_seed(seed: u64) {
    // Without endgame duplicates only the request timeouts can free the silent peer's blocks.
    let options = SwarmOptions {
        picker: PickerOptions { endgame_duplicates: 1, ..PickerOptions::default() },
        ..swarm_options()
    };
    let silent_after = Duration::from_millis(120);
    let behaviours = [Behaviour::SilentAfter(silent_after), Behaviour::Honest, Behaviour::Honest];
    let (mut sim, leecher, seeders) = one_leecher(seed, false, options, &behaviours);
    let silent = seeders[0];
    assert!(sim.run_until(MAX_STEPS, |s| complete(s, leecher)), "stuck at {:?}", sim.elapsed());
    assert!(sim.data_matches(leecher));
    assert_each_piece_verified_once(&sim, leecher);
    let done = sim.nodes[leecher].completed_at.expect("completed");
    // Some blocks waited for the timeout; then others delivered them, long before the idle
    // timeout would have dropped the silent connection.
    assert!(done >= REQUEST_TIMEOUT, "completed at {done:?}");
    assert!(done < 3 * REQUEST_TIMEOUT, "completed at {done:?}");
    assert!(sim.sent(leecher, silent, "cancel") > 0, "timed-out requests are cancelled");
    let total = sim.content.lengths.total_length();
    assert!(sim.received(leecher, silent) < total / 4);
    // The silent connection lasted until the download was done (no idle timeout).
    assert_only_clean_closes(&sim);
    assert!(sim
        .closed
        .iter()
        .any(|(n, r, why)| (*n, *r) == (leecher, silent) && why == "both sides are seeds"));
}

#[test]
fn leechers_trade_halves_while_the_seeder_is_slow() {
    leechers_trade_halves_while_the_seeder_is_slow_seed(SEED);
}

fn leechers_trade_halves_while_the_seeder_is_slow_seed(seed: u64) {
    let content = content(seed);
    let lengths = content.lengths;
    let mut sim = Sim::new(seed, content, conn_options(lengths, true));
    let half = PIECES / 2;
    let a = sim.add_node("leecher-a", &pieces(0..half), swarm_options(), Behaviour::Honest);
    let b = sim.add_node("leecher-b", &pieces(half..PIECES), swarm_options(), Behaviour::Honest);
    let seeder = sim.add_node("seeder", &pieces(0..PIECES), swarm_options(), Behaviour::Honest);
    sim.connect(a, b, LinkSpec::fast(), LinkSpec::fast());
    sim.connect(seeder, a, LinkSpec::slow(), LinkSpec::fast());
    sim.connect(seeder, b, LinkSpec::slow(), LinkSpec::fast());
    assert!(sim.run_until(MAX_STEPS, |s| complete(s, a) && complete(s, b)), "stuck at {:?}", sim.elapsed());
    for (node, other) in [(a, b), (b, a)] {
        assert!(sim.data_matches(node));
        let n = &sim.nodes[node];
        assert_eq!(n.verified.len() as u32, PIECES - half, "{} verified only what it lacked", n.name);
        assert_eq!(n.hash_failures, 0);
        // The fast peer did nearly all the work; the slow seeder only a little.
        let from_other = sim.received(node, other);
        let from_seeder = sim.received(node, seeder);
        assert!(
            from_other > 9 * from_seeder,
            "{}: {from_other} from the leecher, {from_seeder} from the seeder",
            n.name
        );
    }
    // The seeder alone would have needed about 50 s per leecher.
    assert!(sim.elapsed() < Duration::from_secs(10), "took {:?}", sim.elapsed());
    assert_only_clean_closes(&sim);
}

#[test]
fn same_seed_same_run() {
    let run = || {
        let behaviours = [Behaviour::Honest, Behaviour::Liar, Behaviour::Honest];
        let (mut sim, leecher, _) = one_leecher(5, true, swarm_options(), &behaviours);
        assert!(sim.run_until(MAX_STEPS, |s| complete(s, leecher)));
        (sim.elapsed(), sim.nodes[leecher].verified.clone(), sim.closed.clone())
    };
    assert_eq!(run(), run());
}

/// The scenarios hold for other seeds too (other segmentations, picks and choker draws).
#[test]
fn many_seeds() {
    for seed in 2..8 {
        three_honest_seeders_seed(seed);
        lying_seeder_is_banned_and_never_trusted_seed(seed);
        silent_seeder_requests_time_out_and_go_elsewhere_seed(seed);
        leechers_trade_halves_while_the_seeder_is_slow_seed(seed);
    }
}

/// A piece twice the buffer budget (32 MiB against 16 MiB, as a libtorrent torrent of big
/// pieces meets a budget of `max_buffered_kib` = 16 MiB): it starts when nothing is buffered, one at a
/// time, and the download completes without holding more than that one piece.
#[test]
fn pieces_bigger_than_the_buffer_budget_download_one_at_a_time() {
    const BIG: u32 = 32 << 20;
    let content = Content::generate(&mut StdRng::seed_from_u64(SEED), 2, BIG, 1 << 20);
    let lengths = content.lengths;
    let mut sim = Sim::new(SEED, content, conn_options(lengths, true));
    let all = Bitfield::full(2);
    let options = SwarmOptions { max_buffered_bytes: 16 << 20, ..swarm_options() };
    let leecher = sim.add_node("leecher", &Bitfield::new(2), options, Behaviour::Honest);
    for name in ["seeder-0", "seeder-1"] {
        let seeder = sim.add_node(name, &all, swarm_options(), Behaviour::Honest);
        sim.connect(leecher, seeder, LinkSpec::fast(), LinkSpec::fast());
    }
    let peak = std::cell::Cell::new(0);
    let done = sim.run_until(MAX_STEPS, |s| {
        peak.set(peak.get().max(s.nodes[leecher].swarm.buffered_bytes()));
        complete(s, leecher)
    });
    assert!(done, "stuck at {:?}", sim.elapsed());
    assert!(sim.data_matches(leecher));
    assert_eq!(sim.nodes[leecher].verified.len(), 2);
    assert_eq!(peak.get(), u64::from(BIG), "one big piece at a time");
    assert_eq!(sim.nodes[leecher].swarm.buffered_bytes(), 0);
}
