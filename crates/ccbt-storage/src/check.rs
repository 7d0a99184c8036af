//! Reading and hashing every piece in parallel: checking existing data against the metainfo
//! ([`check_pieces`], [`check_listed`]) and computing the hashes of a new torrent
//! ([`hash_pieces`]) share one loop.
//!
//! A check hashes each piece for every hash its [`PieceCheck`] names (SHA-1, the v2 merkle
//! subtree, both for a hybrid) in one pass over its bytes. The checks come from a function of
//! the piece index rather than a table, so a torrent's v2 checks (built from its piece layers)
//! are made one at a time as workers reach them instead of all held at once.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use ccbt_core::merkle::PieceHasher;
use ccbt_core::{Bitfield, Lengths, PieceCheck};
use sha1::{Digest, Sha1};

use crate::check_pairs::{plain_sha1, sha1_of_pair, Span};
use crate::{Fed, Storage, StorageError};

/// Pieces are read in runs of at most this many bytes, so memory stays bounded (workers × 1 MiB,
/// twice that for a pair of pieces) whatever the piece length.
pub(crate) const READ_CHUNK: u32 = 1024 * 1024;

/// What each piece must hash to, by index: `None`, or a check naming no hash (a v2 piece whose
/// layer is unknown), for a piece that cannot be verified.
pub type PieceChecks<'a> = &'a (dyn Fn(u32) -> Option<PieceCheck> + Sync);

/// Checks which pieces of `storage` match their `checks`, using `workers` threads. `progress` is
/// called (from any worker) with the number of pieces done so far.
///
/// A piece whose file is missing or short, or that has nothing to check it against (it is not
/// read), is simply not set; any other I/O error aborts.
pub fn check_pieces(
    storage: &dyn Storage,
    lengths: &Lengths,
    checks: PieceChecks<'_>,
    workers: usize,
    progress: &(dyn Fn(u32) + Sync),
) -> Result<Bitfield, StorageError> {
    let all: Vec<u32> = (0..lengths.num_pieces()).collect();
    let mut have = Bitfield::new(lengths.num_pieces());
    for piece in check_listed(storage, lengths, checks, &all, workers, progress)? {
        have.set(piece);
    }
    Ok(have)
}

/// Checks only the pieces `pieces` (indices past the torrent are ignored) against their
/// `checks`, using `workers` threads: the verified ones, in order. For resuming, where only the
/// pieces of files changed behind our back, and a sample of the others, are hashed again. A
/// piece whose file is missing or short, or without a check, fails; any other I/O error aborts.
pub fn check_listed(
    storage: &dyn Storage,
    lengths: &Lengths,
    checks: PieceChecks<'_>,
    pieces: &[u32],
    workers: usize,
    progress: &(dyn Fn(u32) + Sync),
) -> Result<Vec<u32>, StorageError> {
    let check_one = |piece: u32, offset: u64, len: u32| -> Result<bool, StorageError> {
        let Some(check) = checks(piece).filter(PieceCheck::is_checkable) else { return Ok(false) };
        let mut hasher = PieceHasher::new(check);
        if feed_piece(storage, offset, len, &mut |bytes| hasher.update(bytes))? == Fed::Unreliable {
            hasher = PieceHasher::new(check);
            read_piece(storage, offset, len, &mut |bytes| hasher.update(bytes))?;
        }
        Ok(hasher.matches())
    };
    // Plain SHA-1 pieces of equal length are checked two at a time (`check_pairs.rs`).
    let check_pair = |a: Span, b: Span| -> Option<(bool, bool)> {
        let expected = (plain_sha1(checks(a.piece))?, plain_sha1(checks(b.piece))?);
        let (got_a, got_b) = sha1_of_pair(storage, a, b)?;
        Some((got_a == expected.0, got_b == expected.1))
    };
    let results = for_pieces(lengths, pieces, workers, progress, &check_one, Some(&check_pair))?;
    Ok(results.into_iter().filter_map(|(piece, good)| matches!(good, Ok(true)).then_some(piece)).collect())
}

/// The SHA-1 of every piece of `storage` (for creating a torrent), using `workers` threads.
/// `progress` is called with the number of pieces done so far. Missing data is an error.
pub fn hash_pieces(
    storage: &dyn Storage,
    lengths: &Lengths,
    workers: usize,
    progress: &(dyn Fn(u32) + Sync),
) -> Result<Vec<[u8; 20]>, StorageError> {
    let sha1_one = |_piece: u32, offset: u64, len: u32| -> Result<[u8; 20], StorageError> {
        let mut hasher = Sha1::new();
        if feed_piece(storage, offset, len, &mut |bytes| hasher.update(bytes))? == Fed::Unreliable {
            hasher = Sha1::new();
            read_piece(storage, offset, len, &mut |bytes| hasher.update(bytes))?;
        }
        Ok(hasher.finalize().into())
    };
    let sha1_pair = |a: Span, b: Span| sha1_of_pair(storage, a, b);
    let all: Vec<u32> = (0..lengths.num_pieces()).collect();
    for_pieces(lengths, &all, workers, progress, &sha1_one, Some(&sha1_pair))?
        .into_iter()
        .map(|(_, digest)| digest)
        .collect()
}

/// What `per_piece` gave for one piece, or the [`StorageError::Missing`] that kept it from
/// being read.
type PieceResult<T> = Result<T, StorageError>;

/// Checks one piece: `(piece, offset, length)`.
type PerPiece<'a, T> = &'a (dyn Fn(u32, u64, u32) -> Result<T, StorageError> + Sync);
/// Checks two pieces in one pass, or declines with `None` (not a pair it can do, or anything
/// went wrong): the single path then runs on each and reports per piece.
type PerPair<'a, T> = &'a (dyn Fn(Span, Span) -> Option<(T, T)> + Sync);

/// The shared parallel loop: workers take the next listed pieces from an atomic counter (two at
/// a time when `per_pair` is given) and run `per_pair` on the two, or `per_piece` on each. A
/// piece whose data is missing keeps its [`StorageError::Missing`]; any other error aborts all
/// workers. Returns `(piece, result)` sorted by piece, one per valid listed piece.
fn for_pieces<T: Send>(
    lengths: &Lengths,
    pieces: &[u32],
    workers: usize,
    progress: &(dyn Fn(u32) + Sync),
    per_piece: PerPiece<'_, T>,
    per_pair: Option<PerPair<'_, T>>,
) -> Result<Vec<(u32, PieceResult<T>)>, StorageError> {
    let count = pieces.len();
    let workers = workers.clamp(1, count.max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicU32::new(0);
    let abort = AtomicBool::new(false);
    let step = if per_pair.is_some() { 2 } else { 1 };
    let span = |piece: u32| {
        let p = lengths.validate_piece(piece)?;
        Some(Span { piece, offset: lengths.piece_offset(p), len: lengths.piece_len(p) })
    };
    let work = || -> Result<Vec<(u32, PieceResult<T>)>, StorageError> {
        let mut results = Vec::new();
        while !abort.load(Ordering::Relaxed) {
            let at = next.fetch_add(step, Ordering::Relaxed);
            let taken = pieces.get(at..pieces.len().min(at.saturating_add(step))).unwrap_or_default();
            if taken.is_empty() {
                break;
            }
            let spans: Vec<Span> = taken.iter().filter_map(|&piece| span(piece)).collect();
            let paired = match (spans.as_slice(), per_pair) {
                (&[a, b], Some(pair)) => pair(a, b).map(|(ra, rb)| [(a.piece, ra), (b.piece, rb)]),
                _ => None,
            };
            if let Some(both) = paired {
                for (piece, result) in both {
                    results.push((piece, Ok(result)));
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                }
                continue;
            }
            for Span { piece, offset, len } in spans {
                match per_piece(piece, offset, len) {
                    Ok(d) => results.push((piece, Ok(d))),
                    Err(e @ StorageError::Missing { .. }) => results.push((piece, Err(e))),
                    Err(e) => {
                        abort.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
                progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            }
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

/// Hands the `len` bytes at `offset` to `consume` with [`Storage::feed`] (in place where the
/// storage can), in runs of at most [`READ_CHUNK`]. [`Fed::Unreliable`]: start over with
/// [`read_piece`].
pub(crate) fn feed_piece(
    storage: &dyn Storage,
    offset: u64,
    len: u32,
    consume: &mut dyn FnMut(&[u8]),
) -> Result<Fed, StorageError> {
    let mut pos = 0u32;
    while pos < len {
        let n = (len - pos).min(READ_CHUNK);
        if storage.feed(offset + u64::from(pos), n as usize, consume)? == Fed::Unreliable {
            return Ok(Fed::Unreliable);
        }
        pos += n;
    }
    Ok(Fed::Exact)
}

/// Feeds the `len` bytes at `offset` to `consume`, read in chunks of at most [`READ_CHUNK`].
pub(crate) fn read_piece(
    storage: &dyn Storage,
    offset: u64,
    len: u32,
    consume: &mut dyn FnMut(&[u8]),
) -> Result<(), StorageError> {
    let mut pos = 0u32;
    while pos < len {
        let n = (len - pos).min(READ_CHUNK);
        let bytes = storage.read(offset + u64::from(pos), n as usize)?;
        consume(&bytes);
        pos += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStorage;
    use ccbt_core::merkle::{root_from_layer, LeafHasher, LEAF_SIZE};
    use ccbt_core::V2PieceCheck;
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

    /// SHA-1 checks of `d` cut in pieces of `piece` bytes.
    fn sha1_checks(d: &[u8], piece: usize) -> Vec<PieceCheck> {
        d.chunks(piece).map(|c| PieceCheck::v1(Sha1::digest(c).into())).collect()
    }

    #[test]
    fn check_finds_corrupted_pieces() {
        let len = 10 * 16384;
        let d = data(len);
        let lengths = Lengths::new(len as u64, 16384).unwrap();
        let checks = sha1_checks(&d, 16384);
        let mut corrupt = d.clone();
        corrupt[3 * 16384 + 5] ^= 1;
        corrupt[len - 1] ^= 1;
        let mem = MemoryStorage::with_data(corrupt);
        let have = check_pieces(&mem, &lengths, &|i| checks.get(i as usize).copied(), 4, &|_| {}).unwrap();
        assert_eq!(have.iter_zeros().collect::<Vec<_>>(), vec![3, 9]);
        // Pieces without a check, or with one naming no hash, are not verified.
        let partial = |i: u32| match i {
            0 => Some(PieceCheck::default()),
            1..=5 => checks.get(i as usize).copied(),
            _ => None,
        };
        let have = check_pieces(&mem, &lengths, &partial, 4, &|_| {}).unwrap();
        assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![1, 2, 4, 5]);
    }

    #[test]
    fn check_listed_hashes_only_the_listed_pieces() {
        let len = 10 * 16384;
        let d = data(len);
        let lengths = Lengths::new(len as u64, 16384).unwrap();
        let checks = sha1_checks(&d, 16384);
        let checks = |i: u32| checks.get(i as usize).copied();
        let mut corrupt = d.clone();
        corrupt[3 * 16384 + 5] ^= 1;
        corrupt[7 * 16384] ^= 1;
        let mem = MemoryStorage::with_data(corrupt);
        let calls = Mutex::new(0);
        let good = check_listed(&mem, &lengths, &checks, &[9, 3, 2, 40, 0], 3, &|_| {
            *calls.lock().unwrap() += 1;
        })
        .unwrap();
        // 7 is corrupt but not listed; 40 does not exist.
        assert_eq!(good, vec![0, 2, 9]);
        assert_eq!(*calls.lock().unwrap(), 4);
        assert_eq!(check_listed(&mem, &lengths, &checks, &[], 3, &|_| {}).unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn uncheckable_pieces_are_not_even_read() {
        // Storage shorter than the geometry: reading piece 1 would fail and abort the check.
        let d = data(16384);
        let mem = MemoryStorage::with_data(d.clone());
        let lengths = Lengths::new(2 * 16384, 16384).unwrap();
        let checks = |i: u32| (i == 0).then(|| PieceCheck::v1(Sha1::digest(&d).into()));
        assert_eq!(
            check_pieces(&mem, &lengths, &checks, 2, &|_| {}).unwrap().iter_ones().collect::<Vec<_>>(),
            [0]
        );
        let none = |i: u32| {
            (i == 0).then(|| PieceCheck::v1(Sha1::digest(&d).into())).or(Some(PieceCheck::default()))
        };
        assert_eq!(check_pieces(&mem, &lengths, &none, 2, &|_| {}).unwrap().count_ones(), 1);
    }

    #[test]
    fn v2_and_hybrid_checks_read_in_chunks() {
        // Pieces of 4 MiB are read in 1 MiB chunks: the leaves must come out the same. The
        // last piece is a file's tail of 1 MiB + 5 bytes (a partial last leaf) followed, in the
        // hybrid, by padding up to the torrent's end.
        let piece = 4 * 1024 * 1024;
        let file_len = 2 * piece + 1024 * 1024 + 5;
        let total = 3 * piece;
        let mut d = data(total);
        d[file_len..].fill(0);
        let lengths = Lengths::new(total as u64, piece as u32).unwrap();
        let leaves_per_piece = (piece / LEAF_SIZE as usize) as u32;
        let v2_check = |bytes: &[u8]| {
            let mut leaves = LeafHasher::new();
            leaves.update(bytes);
            let expected = root_from_layer(&leaves.finish(), u64::from(leaves_per_piece), [0; 32]);
            V2PieceCheck { expected, data_len: bytes.len() as u32, leaves: leaves_per_piece }
        };
        let checks: Vec<PieceCheck> = d
            .chunks(piece)
            .enumerate()
            .map(|(i, c)| {
                let file_part = &c[..(file_len - i * piece).min(piece)];
                PieceCheck { sha1: Some(Sha1::digest(c).into()), v2: Some(v2_check(file_part)) }
            })
            .collect();
        let mut corrupt = d.clone();
        corrupt[piece + 3 * 1024 * 1024 + 7] ^= 1;
        // Outside the file: only the hybrid's SHA-1 sees it.
        corrupt[total - 1] = 9;
        let mem = MemoryStorage::with_data(corrupt);
        let hybrid = check_pieces(&mem, &lengths, &|i| checks.get(i as usize).copied(), 2, &|_| {}).unwrap();
        assert_eq!(hybrid.iter_ones().collect::<Vec<_>>(), [0]);
        let v2_only = |i: u32| checks.get(i as usize).map(|c| PieceCheck { sha1: None, v2: c.v2 });
        let v2 = check_pieces(&mem, &lengths, &v2_only, 2, &|_| {}).unwrap();
        assert_eq!(v2.iter_ones().collect::<Vec<_>>(), [0, 2]);
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
