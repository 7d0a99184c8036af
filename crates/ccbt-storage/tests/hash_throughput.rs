//! Piece hashing throughput on one core: SHA-1 (v1), SHA-256 merkle (v2), both in one pass
//! (hybrid), and SHA-1 of two pieces at a time (`ccbt_core::sha1_pair`, as the hash pool pairs
//! plain v1 pieces), over 1 GiB of in-memory data cut in 1 MiB pieces fed as 16 KiB blocks, as the hash
//! pool does. A measurement, not a check of speed: run it by hand in release mode,
//!
//! ```sh
//! cargo test --release -p ccbt-storage --test hash_throughput -- --ignored --nocapture
//! ```
//!
//! and see docs/benchmarks.md ("Piece hashing: SHA-1 and SHA-256 per core"). It does assert that
//! every piece matched, so it cannot time hashing that was skipped.

use std::time::Instant;

use ccbt_core::merkle::{root_from_layer, LeafHasher, PieceHasher, LEAF_SIZE};
use ccbt_core::{sha1_pair, PieceCheck, V2PieceCheck};
use sha1::{Digest, Sha1};

const PIECE: usize = 1024 * 1024;
const TOTAL: usize = 1024 * PIECE;
const BLOCK: usize = 16 * 1024;
/// Each configuration is timed this many times; the best run is reported.
const RUNS: usize = 3;

/// CPU time of the calling thread, in seconds: on a shared machine the wall clock also counts
/// the time other processes had the core, and the figure wanted is what one core can hash.
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Pseudo-random bytes (xorshift), so no hash sees a repeating pattern.
fn data() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(TOTAL);
    while out.len() < TOTAL {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out
}

/// Both hashes of every piece, computed before timing.
fn checks(data: &[u8]) -> Vec<PieceCheck> {
    let leaves = (PIECE / LEAF_SIZE as usize) as u32;
    data.chunks(PIECE)
        .map(|piece| {
            let mut hasher = LeafHasher::new();
            hasher.update(piece);
            let expected = root_from_layer(&hasher.finish(), u64::from(leaves), [0; 32]);
            let v2 = V2PieceCheck { expected, data_len: piece.len() as u32, leaves };
            PieceCheck { sha1: Some(Sha1::digest(piece).into()), v2: Some(v2) }
        })
        .collect()
}

/// Narrows a piece's check to the hashes one configuration verifies.
type Keep = fn(PieceCheck) -> PieceCheck;

/// CPU and wall seconds to verify every piece of `data` against `checks` (narrowed by `keep`)
/// on this thread.
fn verify_all(data: &[u8], checks: &[PieceCheck], keep: Keep) -> (f64, f64) {
    let (cpu, wall) = (thread_cpu_seconds(), Instant::now());
    let mut good = 0usize;
    for (piece, check) in data.chunks(PIECE).zip(checks) {
        let mut hasher = PieceHasher::new(keep(*check));
        piece.chunks(BLOCK).for_each(|block| hasher.update(block));
        good += usize::from(hasher.matches());
    }
    let secs = (thread_cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    assert_eq!(good, checks.len(), "every piece must verify");
    secs
}

/// CPU and wall seconds to verify every piece's SHA-1, two pieces per pass ([`sha1_pair`]), or
/// `None` when the CPU cannot.
fn verify_pairs(data: &[u8], checks: &[PieceCheck]) -> Option<(f64, f64)> {
    let (cpu, wall) = (thread_cpu_seconds(), Instant::now());
    let mut good = 0usize;
    let pieces: Vec<Vec<&[u8]>> = data.chunks(PIECE).map(|p| p.chunks(BLOCK).collect()).collect();
    for (pair, check) in pieces.chunks(2).zip(checks.chunks(2)) {
        let (a, b) = sha1_pair(&pair[0], &pair[1])?;
        good += usize::from(Some(a) == check[0].sha1) + usize::from(Some(b) == check[1].sha1);
    }
    let secs = (thread_cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    assert_eq!(good, checks.len(), "every piece must verify");
    Some(secs)
}

fn report(name: &str, runs: &[(f64, f64)]) {
    let cpu = runs.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
    let wall = runs.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    let gbps = |secs: f64| TOTAL as f64 / secs / 1e9;
    println!(
        "{name:<24} {:.2} GB/s per core (CPU time {cpu:.3} s for 1 GiB; wall {wall:.3} s, {:.2} GB/s; best of {RUNS})",
        gbps(cpu),
        gbps(wall)
    );
}

#[test]
#[ignore = "a measurement: run by hand in release mode"]
fn piece_hashing_throughput_per_core() {
    let data = data();
    let checks = checks(&data);
    #[cfg(target_arch = "x86_64")]
    println!(
        "CPU SHA extensions (SHA-NI): {}",
        if std::arch::is_x86_feature_detected!("sha") { "yes" } else { "no" }
    );
    let configs: [(&str, Keep); 3] = [
        ("SHA-1 (v1)", |c| PieceCheck { sha1: c.sha1, v2: None }),
        ("SHA-256 merkle (v2)", |c| PieceCheck { sha1: None, v2: c.v2 }),
        ("both, one pass (hybrid)", |c| c),
    ];
    for (name, keep) in configs {
        let runs: Vec<(f64, f64)> = (0..RUNS).map(|_| verify_all(&data, &checks, keep)).collect();
        report(name, &runs);
    }
    match (0..RUNS).map(|_| verify_pairs(&data, &checks)).collect::<Option<Vec<_>>>() {
        Some(runs) => report("SHA-1, two pieces a pass", &runs),
        None => println!("SHA-1, two pieces a pass: not on this CPU (no SHA extensions)"),
    }
}
