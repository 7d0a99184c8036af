//! Streaming selection in a simulated swarm (see `sim/mod.rs`): the order in which pieces
//! verify keeps the file readable from the start.

// The simulation takes `Instant::now()` once as its virtual clock's origin.
#![allow(clippy::disallowed_methods)]

#[allow(dead_code)]
mod sim;

use std::time::Duration;

use ccbt_core::Bitfield;
use ccbt_proto::choker::ChokerOptions;
use ccbt_proto::peer::PeerConnOptions;
use ccbt_proto::picker::{FilePriority, FileSpan, PickerOptions, PiecePriorities, StreamingOptions};
use ccbt_proto::swarm::SwarmOptions;
use rand::rngs::StdRng;
use rand::SeedableRng;

use sim::net::LinkSpec;
use sim::{Behaviour, Content, Sim};

const PIECES: u32 = 200;
const PIECE_LEN: u32 = 32 * 1024;
const WINDOW: u32 = 16;
/// The bound asserted on how far past the verified prefix a verified piece may lie: the
/// window holds `WINDOW` pieces still needed, and pieces verified inside it stretch it.
const SPAN: u32 = WINDOW + WINDOW / 2;

fn swarm_options() -> SwarmOptions {
    SwarmOptions {
        picker: PickerOptions::default(),
        choker: ChokerOptions::new(4),
        max_buffered_bytes: 2 << 20,
        max_hash_failures: 3,
        pex: false,
    }
}

/// A streaming leecher and two seeders of different speeds. With at most 4 pieces in flight
/// per connection (8 blocks of a 2-block piece), the 16-piece window never runs dry.
fn run(seed: u64) -> (Vec<u32>, bool) {
    let content = Content::generate(&mut StdRng::seed_from_u64(seed), PIECES, PIECE_LEN, 5000);
    let options = PeerConnOptions {
        request_timeout: Duration::from_secs(5),
        min_pipeline_depth: 4,
        max_pipeline_depth: 8,
        ..PeerConnOptions::new(content.lengths)
    };
    let mut sim = Sim::new(seed, content, options);
    let leecher = sim.add_node("leecher", &Bitfield::new(PIECES), swarm_options(), Behaviour::Honest);
    // One file spanning the torrent: its first and last pieces come early.
    let file = FileSpan { offset: 0, length: sim.content.lengths.total_length() };
    let priorities =
        PiecePriorities::from_files(&sim.content.lengths, &[file], &[FilePriority::Normal], false);
    sim.nodes[leecher].swarm.set_piece_priorities(priorities);
    sim.nodes[leecher].swarm.set_streaming(Some(StreamingOptions { window_pieces: WINDOW }), 0);
    for (name, rate) in [("seeder-fast", 1_000_000), ("seeder-slow", 300_000)] {
        let s = sim.add_node(name, &Bitfield::full(PIECES), swarm_options(), Behaviour::Honest);
        let spec = LinkSpec { latency: Duration::from_millis(30), bytes_per_second: rate };
        sim.connect(s, leecher, spec, LinkSpec::fast());
    }
    let done = sim.run_until(2_000_000, |s| s.nodes[leecher].swarm.is_complete());
    (sim.nodes[leecher].verified.clone(), done && sim.data_matches(leecher))
}

/// At every moment the verified pieces are a prefix of the file and pieces at most `SPAN`
/// past it, plus the file's last piece (fetched early for players that read the end first).
fn assert_prefix_plus_window(order: &[u32]) {
    let last = PIECES - 1;
    let mut verified = Bitfield::new(PIECES);
    for (i, &piece) in order.iter().enumerate() {
        verified.set(piece);
        let prefix = verified.iter_zeros().next().unwrap_or(PIECES);
        for p in verified.iter_ones().filter(|&p| p >= prefix && p != last) {
            assert!(p < prefix + SPAN, "after {} pieces: piece {p} verified, prefix ends at {prefix}", i + 1);
        }
    }
    let at = order.iter().position(|&p| p == last).expect("last piece verified");
    assert!(at <= WINDOW as usize, "the last piece came only {at}th");
}

#[test]
fn streamed_pieces_verify_as_a_prefix_plus_a_bounded_window() {
    for seed in 1..4 {
        let (order, complete) = run(seed);
        assert!(complete, "seed {seed}: incomplete or wrong data");
        assert_eq!(order.len(), PIECES as usize);
        assert_prefix_plus_window(&order);
    }
}
