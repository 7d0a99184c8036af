//! The hash pool hashing plain SHA-1 pieces two at a time: each piece of a pair is judged and
//! written on its own merits, other checks are never paired, and a piece without a partner is
//! not held back for ever.

use std::sync::mpsc;
use std::sync::Arc;

use bytes::Bytes;
use ccbt_core::{sha1_pair_supported, PieceCheck};
use sha1::{Digest, Sha1};

use super::{HashPool, PieceJob, PieceOutcome, PieceVerdict};
use crate::{MemoryStorage, Storage};

const PIECE: usize = 64 * 1024;

fn data(piece: u32) -> Vec<u8> {
    (0..PIECE).map(|i| ((i * 13 + piece as usize * 7) % 251) as u8).collect()
}

fn job(mem: &Arc<MemoryStorage>, piece: u32, bytes: &[u8], expected: PieceCheck) -> PieceJob {
    let blocks = bytes.chunks(16 * 1024).map(Bytes::copy_from_slice).collect();
    let storage: Arc<dyn Storage> = mem.clone();
    PieceJob {
        piece,
        offset: u64::from(piece) * PIECE as u64,
        expected,
        blocks,
        block_hashes: false,
        storage,
    }
}

fn sha1(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

/// Queues `jobs` behind a first job whose callback holds the only worker until all are queued,
/// so that the worker finds them waiting and pairs deterministically. Returns the outcomes of
/// `jobs` in completion order, and the pool's count of paired pieces.
fn run_queued(jobs: Vec<PieceJob>, mem: &Arc<MemoryStorage>) -> (Vec<PieceOutcome>, u64) {
    let pool = HashPool::new(1, jobs.len() + 1).unwrap();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let mut blocker = job(mem, 99, &data(99), PieceCheck::v1(sha1(&data(99))));
    blocker.block_hashes = true; // never paired
    pool.try_submit(blocker, move |_| gate_rx.recv().unwrap()).unwrap();
    let (tx, rx) = mpsc::channel();
    let count = jobs.len();
    for j in jobs {
        let tx = tx.clone();
        pool.try_submit(j, move |o| tx.send(o).unwrap()).unwrap();
    }
    gate_tx.send(()).unwrap();
    let outcomes = rx.iter().take(count).collect();
    (outcomes, pool.paired_pieces())
}

#[test]
fn each_piece_of_a_pair_is_judged_and_written_on_its_own() {
    let mem = Arc::new(MemoryStorage::new(200 * PIECE as u64));
    let good: Vec<u32> = vec![0, 1, 3, 4];
    let mut jobs: Vec<PieceJob> =
        good.iter().map(|&p| job(&mem, p, &data(p), PieceCheck::v1(sha1(&data(p))))).collect();
    // Piece 2 lies; queued in order 0..=4, it is hashed in a pair with piece 3.
    jobs.insert(2, job(&mem, 2, &data(2), PieceCheck::v1(sha1(b"something else"))));
    let (mut outcomes, paired) = run_queued(jobs, &mem);
    outcomes.sort_by_key(|o| o.piece);
    for o in &outcomes {
        let want = if o.piece == 2 { PieceVerdict::HashMismatch } else { PieceVerdict::Verified };
        assert_eq!(*o.result.as_ref().unwrap(), want, "piece {}", o.piece);
        assert_eq!(o.block_hashes, None);
    }
    let stored = mem.to_vec();
    for p in 0..5u32 {
        let at = p as usize * PIECE;
        let want = if p == 2 { vec![0; PIECE] } else { data(p) };
        assert_eq!(&stored[at..at + PIECE], &want[..], "piece {p} on disk");
    }
    // Five plain pieces queued at once: two pairs and one alone.
    assert_eq!(paired, if sha1_pair_supported() { 4 } else { 0 });
}

#[test]
fn only_plain_sha1_pieces_are_paired() {
    let mem = Arc::new(MemoryStorage::new(200 * PIECE as u64));
    let mut with_block_hashes = job(&mem, 0, &data(0), PieceCheck::v1(sha1(&data(0))));
    with_block_hashes.block_hashes = true;
    let unverifiable = job(&mem, 1, &data(1), PieceCheck { sha1: None, v2: None });
    let plain = job(&mem, 2, &data(2), PieceCheck::v1(sha1(&data(2))));
    let (mut outcomes, paired) = run_queued(vec![with_block_hashes, unverifiable, plain], &mem);
    outcomes.sort_by_key(|o| o.piece);
    assert_eq!(*outcomes[0].result.as_ref().unwrap(), PieceVerdict::Verified);
    assert_eq!(outcomes[0].block_hashes.as_ref().map(Vec::len), Some(4));
    assert_eq!(*outcomes[1].result.as_ref().unwrap(), PieceVerdict::Unverifiable);
    assert_eq!(*outcomes[2].result.as_ref().unwrap(), PieceVerdict::Verified);
    assert_eq!(paired, 0);
}

#[test]
fn a_piece_without_a_partner_is_verified_and_the_pool_shuts_down() {
    let mem = Arc::new(MemoryStorage::new(4 * PIECE as u64));
    let pool = HashPool::new(2, 2).unwrap();
    let (tx, rx) = mpsc::channel();
    pool.try_submit(job(&mem, 1, &data(1), PieceCheck::v1(sha1(&data(1)))), move |o| tx.send(o).unwrap())
        .unwrap();
    let outcome = rx.recv().unwrap();
    assert_eq!(*outcome.result.as_ref().unwrap(), PieceVerdict::Verified);
    assert_eq!(pool.paired_pieces(), 0);
    // A worker may be waiting for a partner right now: dropping the pool must not hang.
    let (tx, rx) = mpsc::channel();
    pool.try_submit(job(&mem, 2, &data(2), PieceCheck::v1(sha1(&data(2)))), move |o| tx.send(o).unwrap())
        .unwrap();
    drop(pool);
    assert_eq!(*rx.recv().unwrap().result.as_ref().unwrap(), PieceVerdict::Verified);
}
