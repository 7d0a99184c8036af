//! Hashing the pieces of a new v2 or hybrid torrent (BEP 52): one pass over each piece gives
//! its v1 SHA-1 (hybrid) and its v2 merkle node, in parallel over the pieces.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use ccbt_core::merkle::{root_from_layer, LeafHasher, Node};
use sha1::{Digest, Sha1};

use crate::check::{feed_piece, read_piece};
use crate::{Fed, Storage, StorageError};

/// Zeros fed to SHA-1 for the padding after a file's last piece (never read from disk).
static ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];

/// One piece of a new piece-aligned torrent. Every piece of such a torrent lies in one file:
/// file data from its start, then (in a hybrid) the zeros of the pad file after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewPiece {
    /// Torrent byte offset of the piece.
    pub offset: u64,
    /// Bytes of file data at `offset`.
    pub data_len: u32,
    /// Bytes the v1 SHA-1 covers: `data_len` plus the padding after it. `None` for a v2-only
    /// torrent, which has no SHA-1 pieces.
    pub sha1_len: Option<u32>,
    /// Leaves of the merkle subtree the piece's v2 node spans: the blocks of a piece, or the
    /// file's whole tree for a file no longer than one piece (a power of two).
    pub v2_leaves: u32,
}

/// The hashes of one [`NewPiece`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewPieceHashes {
    /// SHA-1 of the padded piece, when [`NewPiece::sha1_len`] asked for it.
    pub sha1: Option<[u8; 20]>,
    /// The piece's node in its file's piece layer (the file's root for a one-piece file).
    pub v2: Node,
}

/// Hashes `pieces` with `workers` threads, reading each byte once. `progress` is called (from
/// any worker) with the bytes of file data hashed so far. Missing data is an error, and any
/// error stops every worker.
pub fn hash_new_pieces(
    storage: &dyn Storage,
    pieces: &[NewPiece],
    workers: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<NewPieceHashes>, StorageError> {
    let workers = workers.clamp(1, pieces.len().max(1));
    let next = AtomicUsize::new(0);
    let bytes_done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<NewPieceHashes>>> = Mutex::new(vec![None; pieces.len()]);
    let first_error: Mutex<Option<StorageError>> = Mutex::new(None);
    let worker = || {
        while !stop.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(piece) = pieces.get(index) else { return };
            match hash_one(storage, piece) {
                Ok(hashes) => {
                    lock(&results)[index] = Some(hashes);
                    let done = bytes_done.fetch_add(u64::from(piece.data_len), Ordering::Relaxed);
                    progress(done + u64::from(piece.data_len));
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    lock(&first_error).get_or_insert(e);
                    return;
                }
            }
        }
    };
    std::thread::scope(|s| {
        // The calling thread works too, so one worker spawns nothing.
        for i in 1..workers {
            let spawned =
                std::thread::Builder::new().name(format!("ccbt-create-{i}")).spawn_scoped(s, worker);
            if let Err(e) = spawned {
                // Fewer threads only means slower hashing.
                tracing::warn!(error = %e, "could not start a hashing thread");
            }
        }
        worker();
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    // Without an error every piece was hashed; a hole would mean a worker died, which
    // `thread::scope` turns into a panic before this point.
    Ok(results.into_iter().flatten().collect())
}

/// A poisoned lock only means another worker panicked, which `thread::scope` re-raises anyway.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The hashes of one new piece, as its bytes go by.
struct Hashing {
    sha1: Option<Sha1>,
    leaves: LeafHasher,
}

impl Hashing {
    fn new(piece: &NewPiece) -> Hashing {
        Hashing { sha1: piece.sha1_len.map(|_| Sha1::new()), leaves: LeafHasher::new() }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.leaves.update(bytes);
        if let Some(h) = self.sha1.as_mut() {
            h.update(bytes);
        }
    }
}

fn hash_one(storage: &dyn Storage, piece: &NewPiece) -> Result<NewPieceHashes, StorageError> {
    let mut hashing = Hashing::new(piece);
    if feed_piece(storage, piece.offset, piece.data_len, &mut |b| hashing.update(b))? == Fed::Unreliable {
        hashing = Hashing::new(piece);
        read_piece(storage, piece.offset, piece.data_len, &mut |b| hashing.update(b))?;
    }
    let Hashing { sha1, leaves } = hashing;
    let sha1 = sha1.map(|mut h| {
        let mut padding = piece.sha1_len.unwrap_or(0).saturating_sub(piece.data_len) as usize;
        while padding > 0 {
            let n = padding.min(ZEROS.len());
            h.update(&ZEROS[..n]);
            padding -= n;
        }
        h.finalize().into()
    });
    // Leaves past the file's end are zero hashes (BEP 52), which `root_from_layer` pads with.
    let v2 = root_from_layer(&leaves.finish(), u64::from(piece.v2_leaves), [0; 32]);
    Ok(NewPieceHashes { sha1, v2 })
}

#[cfg(test)]
mod tests {
    use ccbt_core::merkle::{leaf_hash, parent};

    use super::*;
    use crate::MemoryStorage;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 253) as u8).collect()
    }

    #[test]
    fn hashes_padded_sha1_and_merkle_nodes() {
        // A hybrid stream: file A of 40000 bytes padded to 64 KiB, then file B of 5000 bytes.
        let a = data(40_000);
        let b = data(5_000);
        let mut stream = a.clone();
        stream.resize(65_536, 0);
        stream.extend_from_slice(&b);
        let mem = MemoryStorage::with_data(stream.clone());
        let pieces = [
            NewPiece { offset: 0, data_len: 32_768, sha1_len: Some(32_768), v2_leaves: 2 },
            NewPiece { offset: 32_768, data_len: 7_232, sha1_len: Some(32_768), v2_leaves: 2 },
            NewPiece { offset: 65_536, data_len: 5_000, sha1_len: Some(5_000), v2_leaves: 1 },
        ];
        for workers in [1, 2, 8] {
            let seen = AtomicU64::new(0);
            let hashes = hash_new_pieces(&mem, &pieces, workers, &|n| {
                seen.fetch_max(n, Ordering::Relaxed);
            })
            .unwrap();
            let sha1 = |r: std::ops::Range<usize>| -> [u8; 20] { Sha1::digest(&stream[r]).into() };
            assert_eq!(hashes[0].sha1, Some(sha1(0..32_768)));
            assert_eq!(hashes[1].sha1, Some(sha1(32_768..65_536)));
            assert_eq!(hashes[2].sha1, Some(sha1(65_536..70_536)));
            assert_eq!(hashes[0].v2, parent(&leaf_hash(&a[..16_384]), &leaf_hash(&a[16_384..32_768])));
            // The second piece's second leaf is past the file's end: a zero hash.
            assert_eq!(hashes[1].v2, parent(&leaf_hash(&a[32_768..]), &[0; 32]));
            assert_eq!(hashes[2].v2, leaf_hash(&b));
            assert_eq!(seen.into_inner(), 45_000);
        }
    }

    #[test]
    fn v2_only_skips_sha1_and_errors_stop() {
        let mem = MemoryStorage::with_data(data(20_000));
        let piece = NewPiece { offset: 0, data_len: 20_000, sha1_len: None, v2_leaves: 2 };
        let hashes = hash_new_pieces(&mem, &[piece], 3, &|_| {}).unwrap();
        assert_eq!(hashes[0].sha1, None);
        let d = data(20_000);
        assert_eq!(hashes[0].v2, parent(&leaf_hash(&d[..16_384]), &leaf_hash(&d[16_384..])));
        let past_end = NewPiece { offset: 16_384, ..piece };
        let err = hash_new_pieces(&mem, &[piece, past_end, piece], 2, &|_| {}).unwrap_err();
        assert!(matches!(err, StorageError::OutOfRange { .. }), "{err}");
        assert!(hash_new_pieces(&mem, &[], 4, &|_| {}).unwrap().is_empty());
    }
}
