//! Reading and hashing every piece in parallel: checking existing data against the metainfo
//! ([`check_pieces`]) and computing the hashes of a new torrent ([`hash_pieces`]) share one loop.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use ccbt_core::{Bitfield, Lengths};
use sha1::{Digest, Sha1};

use crate::{Storage, StorageError};

/// Pieces are read in runs of at most this many bytes, so memory stays bounded (workers × 1 MiB)
/// whatever the piece length.
const READ_CHUNK: u32 = 1024 * 1024;

/// A piece's digest, or the [`StorageError::Missing`] that kept it from being read.
type PieceDigest = Result<[u8; 20], StorageError>;

/// Checks which pieces of `storage` match `hashes`, using `workers` threads. `progress` is called
/// (from any worker) with the number of pieces done so far.
///
/// A piece whose file is missing or short is simply not set; any other I/O error aborts.
pub fn check_pieces(
    storage: &dyn Storage,
    lengths: &Lengths,
    hashes: &[[u8; 20]],
    workers: usize,
    progress: &(dyn Fn(u32) + Sync),
) -> Result<Bitfield, StorageError> {
    if hashes.len() != lengths.num_pieces() as usize {
        return Err(StorageError::PieceCount { expected: lengths.num_pieces(), got: hashes.len() });
    }
    let digests = hash_all(storage, lengths, workers, progress)?;
    let mut have = Bitfield::new(lengths.num_pieces());
    for ((piece, digest), expected) in (0u32..).zip(&digests).zip(hashes) {
        if digest.as_ref().ok() == Some(expected) {
            have.set(piece);
        }
    }
    Ok(have)
}

/// Checks only the pieces `pieces` (indices past the torrent are ignored) against `hashes`, using
/// `workers` threads: the verified ones, in order. For resuming, where only the pieces of files
/// changed behind our back, and a sample of the others, are hashed again. A piece whose file is
/// missing or short fails; any other I/O error aborts.
pub fn check_listed(
    storage: &dyn Storage,
    lengths: &Lengths,
    hashes: &[[u8; 20]],
    pieces: &[u32],
    workers: usize,
    progress: &(dyn Fn(u32) + Sync),
) -> Result<Vec<u32>, StorageError> {
    if hashes.len() != lengths.num_pieces() as usize {
        return Err(StorageError::PieceCount { expected: lengths.num_pieces(), got: hashes.len() });
    }
    let digests = hash_list(storage, lengths, pieces, workers, progress)?;
    let good = |(piece, digest): &(u32, PieceDigest)| {
        let expected = hashes.get(*piece as usize)?;
        (digest.as_ref().ok() == Some(expected)).then_some(*piece)
    };
    Ok(digests.iter().filter_map(good).collect())
}

/// The SHA-1 of every piece of `storage` (for creating a torrent), using `workers` threads.
/// `progress` is called with the number of pieces done so far. Missing data is an error.
pub fn hash_pieces(
    storage: &dyn Storage,
    lengths: &Lengths,
    workers: usize,
    progress: &(dyn Fn(u32) + Sync),
) -> Result<Vec<[u8; 20]>, StorageError> {
    hash_all(storage, lengths, workers, progress)?.into_iter().collect()
}

/// The shared parallel loop: workers take the next piece from an atomic counter, read it in
/// chunks and hash it. A piece whose data is missing keeps its [`StorageError::Missing`]; any other
/// error aborts all workers.
fn hash_all(
    storage: &dyn Storage,
    lengths: &Lengths,
    workers: usize,
    progress: &(dyn Fn(u32) + Sync),
) -> Result<Vec<PieceDigest>, StorageError> {
    let all: Vec<u32> = (0..lengths.num_pieces()).collect();
    let digests = hash_list(storage, lengths, &all, workers, progress)?;
    Ok(digests.into_iter().map(|(_, digest)| digest).collect())
}

/// [`hash_all`] over the listed pieces only: `(piece, digest)` sorted by piece, one per valid
/// listed piece.
fn hash_list(
    storage: &dyn Storage,
    lengths: &Lengths,
    pieces: &[u32],
    workers: usize,
    progress: &(dyn Fn(u32) + Sync),
) -> Result<Vec<(u32, PieceDigest)>, StorageError> {
    let count = pieces.len();
    let workers = workers.clamp(1, count.max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicU32::new(0);
    let abort = AtomicBool::new(false);
    let work = || -> Result<Vec<(u32, PieceDigest)>, StorageError> {
        let mut results = Vec::new();
        while !abort.load(Ordering::Relaxed) {
            let Some(&piece) = pieces.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
            let Some(p) = lengths.validate_piece(piece) else { continue };
            match hash_piece(storage, lengths.piece_offset(p), lengths.piece_len(p)) {
                Ok(d) => results.push((piece, Ok(d))),
                Err(e @ StorageError::Missing { .. }) => results.push((piece, Err(e))),
                Err(e) => {
                    abort.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
        }
        Ok(results)
    };
    let per_worker: Vec<Result<_, StorageError>> = std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(workers);
        // The calling thread is one of the workers, so `workers == 1` spawns nothing.
        for i in 1..workers {
            let spawned = std::thread::Builder::new().name(format!("ccbt-check-{i}")).spawn_scoped(s, work);
            match spawned {
                Ok(h) => handles.push(h),
                // Fewer threads only means a slower check.
                Err(e) => tracing::warn!(error = %e, "could not start a checking thread"),
            }
        }
        let mut all = vec![work()];
        for h in handles {
            all.push(h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        all
    });
    let mut all = Vec::with_capacity(count);
    for results in per_worker {
        all.extend(results?);
    }
    // Every listed piece was taken exactly once, so sorting by index gives one result per piece.
    all.sort_unstable_by_key(|(piece, _)| *piece);
    Ok(all)
}

/// SHA-1 of `len` bytes at `offset`, read in chunks of at most [`READ_CHUNK`].
fn hash_piece(storage: &dyn Storage, offset: u64, len: u32) -> Result<[u8; 20], StorageError> {
    let mut hasher = Sha1::new();
    let mut pos = 0u32;
    while pos < len {
        let n = (len - pos).min(READ_CHUNK);
        let bytes = storage.read(offset + u64::from(pos), n as usize)?;
        hasher.update(&bytes);
        pos += n;
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStorage;
    use std::sync::Mutex;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn hash_pieces_matches_sha1_of_each_piece() {
        let len = 5 * 16384 + 1000;
        let d = data(len);
        let mem = MemoryStorage::with_data(d.clone());
        let lengths = Lengths::new(len as u64, 32768).unwrap();
        for workers in [0, 1, 3, 16] {
            let calls = Mutex::new(Vec::new());
            let hashes = hash_pieces(&mem, &lengths, workers, &|n| calls.lock().unwrap().push(n)).unwrap();
            let expected: Vec<[u8; 20]> = d.chunks(32768).map(|c| Sha1::digest(c).into()).collect();
            assert_eq!(hashes, expected);
            let mut calls = calls.into_inner().unwrap();
            calls.sort_unstable();
            assert_eq!(calls, vec![1, 2, 3]);
        }
    }

    #[test]
    fn check_finds_corrupted_pieces() {
        let len = 10 * 16384;
        let d = data(len);
        let lengths = Lengths::new(len as u64, 16384).unwrap();
        let hashes: Vec<[u8; 20]> = d.chunks(16384).map(|c| Sha1::digest(c).into()).collect();
        let mut corrupt = d.clone();
        corrupt[3 * 16384 + 5] ^= 1;
        corrupt[len - 1] ^= 1;
        let mem = MemoryStorage::with_data(corrupt);
        let have = check_pieces(&mem, &lengths, &hashes, 4, &|_| {}).unwrap();
        assert_eq!(have.iter_zeros().collect::<Vec<_>>(), vec![3, 9]);
        let err = check_pieces(&mem, &lengths, &hashes[1..], 4, &|_| {}).unwrap_err();
        assert!(matches!(err, StorageError::PieceCount { expected: 10, got: 9 }));
    }

    #[test]
    fn check_listed_hashes_only_the_listed_pieces() {
        let len = 10 * 16384;
        let d = data(len);
        let lengths = Lengths::new(len as u64, 16384).unwrap();
        let hashes: Vec<[u8; 20]> = d.chunks(16384).map(|c| Sha1::digest(c).into()).collect();
        let mut corrupt = d.clone();
        corrupt[3 * 16384 + 5] ^= 1;
        corrupt[7 * 16384] ^= 1;
        let mem = MemoryStorage::with_data(corrupt);
        let calls = Mutex::new(0);
        let good = check_listed(&mem, &lengths, &hashes, &[9, 3, 2, 40, 0], 3, &|_| {
            *calls.lock().unwrap() += 1;
        })
        .unwrap();
        // 7 is corrupt but not listed; 40 does not exist.
        assert_eq!(good, vec![0, 2, 9]);
        assert_eq!(*calls.lock().unwrap(), 4);
        assert_eq!(check_listed(&mem, &lengths, &hashes, &[], 3, &|_| {}).unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn io_error_aborts() {
        // Storage shorter than the geometry: reads past its end fail with OutOfRange.
        let mem = MemoryStorage::with_data(data(16384));
        let lengths = Lengths::new(4 * 16384, 16384).unwrap();
        let err = hash_pieces(&mem, &lengths, 2, &|_| {}).unwrap_err();
        assert!(matches!(err, StorageError::OutOfRange { .. }));
    }
}
