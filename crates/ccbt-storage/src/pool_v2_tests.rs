//! The hash pool with v2 (SHA-256 merkle) and hybrid checks, against a merkle tree computed
//! here the naive way (every leaf, zero leaves up to the width, pairs folded) rather than with
//! the `ccbt_core::merkle` helpers the pool itself uses.

use std::sync::mpsc;
use std::sync::Arc;

use bytes::Bytes;
use ccbt_core::{PieceCheck, V2PieceCheck};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{HashPool, PieceJob, PieceOutcome, PieceVerdict};
use crate::{MemoryStorage, Storage};

const LEAF: usize = 16 * 1024;
const PIECE: usize = 4 * LEAF;

/// The root of `data` split into 16 KiB leaves (the last one short), widened with zero leaves
/// to `width`.
fn naive_root(data: &[u8], width: usize) -> [u8; 32] {
    let mut layer: Vec<[u8; 32]> = data.chunks(LEAF).map(|c| Sha256::digest(c).into()).collect();
    assert!(layer.len() <= width);
    layer.resize(width, [0; 32]);
    while layer.len() > 1 {
        layer = layer
            .chunks(2)
            .map(|p| Sha256::new().chain_update(p[0]).chain_update(p[1]).finalize().into())
            .collect();
    }
    layer[0]
}

fn data(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + seed) % 253) as u8).collect()
}

/// Runs one job on a fresh pool, with blocks of 16 KiB like the wire's.
fn run_one(mem: &Arc<MemoryStorage>, piece: u32, bytes: &[u8], expected: PieceCheck) -> PieceOutcome {
    let pool = HashPool::new(1, 1).unwrap();
    let storage: Arc<dyn Storage> = mem.clone();
    let blocks = bytes.chunks(LEAF).map(Bytes::copy_from_slice).collect();
    let offset = u64::from(piece) * PIECE as u64;
    let job = PieceJob { piece, offset, expected, blocks, block_hashes: true, storage };
    let (tx, rx) = mpsc::channel();
    pool.submit(job, move |o| tx.send(o).unwrap());
    rx.recv().unwrap()
}

fn v2(expected: [u8; 32], data_len: usize, leaves: u32) -> PieceCheck {
    PieceCheck { sha1: None, v2: Some(V2PieceCheck { expected, data_len: data_len as u32, leaves }) }
}

#[test]
fn v2_piece_verifies_and_wrong_data_is_not_written() {
    let good = data(PIECE, 1);
    let check = v2(naive_root(&good, 4), PIECE, 4);
    let mem = Arc::new(MemoryStorage::new(2 * PIECE as u64));
    let outcome = run_one(&mem, 1, &good, check);
    assert!(matches!(outcome.result, Ok(PieceVerdict::Verified)));
    assert_eq!(&mem.to_vec()[PIECE..], &good[..]);
    // Block evidence stays SHA-1 whatever the piece's hash.
    let per_block: Vec<[u8; 20]> = good.chunks(LEAF).map(|b| Sha1::digest(b).into()).collect();
    assert_eq!(outcome.block_hashes, Some(per_block));

    let mut bad = good.clone();
    bad[3 * LEAF + 100] ^= 0x40;
    let mem = Arc::new(MemoryStorage::new(2 * PIECE as u64));
    let outcome = run_one(&mem, 1, &bad, check);
    assert!(matches!(outcome.result, Ok(PieceVerdict::HashMismatch)));
    assert_eq!(mem.write_count(), 0);
}

#[test]
fn v2_last_piece_of_a_file_with_a_partial_last_leaf() {
    // A file of 2.3 pieces: its last piece holds one full leaf and one partial, and the
    // subtree it spans is still a piece wide (4 leaves, two of them zero).
    let file = data(2 * PIECE + LEAF + 3000, 2);
    let tail = &file[2 * PIECE..];
    let check = v2(naive_root(tail, 4), tail.len(), 4);
    let mem = Arc::new(MemoryStorage::new(file.len() as u64));
    assert!(matches!(run_one(&mem, 2, tail, check).result, Ok(PieceVerdict::Verified)));
    assert_eq!(&mem.to_vec()[2 * PIECE..], tail);
    // A check expecting a subtree of the wrong width (2 leaves, not a piece's 4) fails.
    let narrow = v2(naive_root(tail, 2), tail.len(), 4);
    let mem = Arc::new(MemoryStorage::new(file.len() as u64));
    assert!(matches!(run_one(&mem, 2, tail, narrow).result, Ok(PieceVerdict::HashMismatch)));
    assert_eq!(mem.write_count(), 0);
}

#[test]
fn hybrid_piece_checks_sha1_over_padding_and_v2_over_the_file_only() {
    // A file of 40,000 bytes, shorter than a piece: its v2 check is the file's root (a tree of
    // 4 leaves: two full, one partial, one zero); the hybrid's v1 piece is the file followed
    // by a pad file of zeros up to the piece boundary, and the v1 SHA-1 covers both.
    let file = data(40_000, 3);
    let mut piece = file.clone();
    piece.resize(PIECE, 0);
    let sha1: [u8; 20] = Sha1::digest(&piece).into();
    let v2_only = v2(naive_root(&file, 4), file.len(), 4);
    let hybrid = PieceCheck { sha1: Some(sha1), v2: v2_only.v2 };
    let mem = Arc::new(MemoryStorage::new(PIECE as u64));
    assert!(matches!(run_one(&mem, 0, &piece, hybrid).result, Ok(PieceVerdict::Verified)));
    assert_eq!(mem.to_vec(), piece);

    // Garbage in the padding: the file's tree still matches, the SHA-1 does not.
    let mut bad_pad = piece.clone();
    bad_pad[PIECE - 1] = 1;
    let mem = Arc::new(MemoryStorage::new(PIECE as u64));
    assert!(matches!(run_one(&mem, 0, &bad_pad, v2_only).result, Ok(PieceVerdict::Verified)));
    let mem = Arc::new(MemoryStorage::new(PIECE as u64));
    assert!(matches!(run_one(&mem, 0, &bad_pad, hybrid).result, Ok(PieceVerdict::HashMismatch)));
    assert_eq!(mem.write_count(), 0);

    // A right SHA-1 with a wrong v2 node is refused too: both must match.
    let mut wrong_root = hybrid;
    wrong_root.v2.as_mut().unwrap().expected[0] ^= 1;
    let mem = Arc::new(MemoryStorage::new(PIECE as u64));
    assert!(matches!(run_one(&mem, 0, &piece, wrong_root).result, Ok(PieceVerdict::HashMismatch)));
    assert_eq!(mem.write_count(), 0);
}

#[test]
fn v2_piece_shorter_than_its_check_says_fails() {
    let file = data(LEAF + 10, 4);
    let check = v2(naive_root(&file, 2), file.len() + 1, 2);
    let mem = Arc::new(MemoryStorage::new(PIECE as u64));
    assert!(matches!(run_one(&mem, 0, &file, check).result, Ok(PieceVerdict::HashMismatch)));
    assert_eq!(mem.write_count(), 0);
}

#[test]
fn uncheckable_piece_is_never_written() {
    let bytes = data(PIECE, 5);
    let mem = Arc::new(MemoryStorage::new(PIECE as u64));
    let outcome = run_one(&mem, 0, &bytes, PieceCheck::default());
    assert!(matches!(outcome.result, Ok(PieceVerdict::Unverifiable)));
    assert_eq!(mem.write_count(), 0);
    assert_eq!(mem.to_vec(), vec![0; PIECE]);
    // Block evidence is still given when asked, as for any other piece.
    assert_eq!(outcome.block_hashes.map(|h| h.len()), Some(4));
}
