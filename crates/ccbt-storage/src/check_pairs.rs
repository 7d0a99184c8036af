//! Checking two pieces in one pass: the SHA-1 of both computed together
//! ([`ccbt_core::Sha1PairStream`], about what one costs alone on CPUs with the SHA extensions;
//! docs/benchmarks.md, issue 15, "two pieces per SHA-1 pass").
//!
//! The first piece is hashed in place through [`Storage::feed`] (a map where the storage has
//! one); the second is read alongside it, chunk by chunk, with [`Storage::read`]: a feed's
//! callback must not read a map itself (one guarded range per thread, see `fault.rs`). Anything
//! unusual (pieces of different lengths, a check that is not plain SHA-1, a missing file, an I/O
//! error, a read that faulted) declines the pair, and the caller checks each piece alone, which
//! reports it per piece as before.

use ccbt_core::{PieceCheck, Sha1PairStream};

use crate::check::READ_CHUNK;
use crate::{Fed, Storage};

/// One piece to check: its index, torrent byte offset and length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub(crate) piece: u32,
    pub(crate) offset: u64,
    pub(crate) len: u32,
}

/// The SHA-1 a check names, when that is all it names (v2 and hybrid checks need SHA-256 too).
pub(crate) fn plain_sha1(check: Option<PieceCheck>) -> Option<[u8; 20]> {
    check.filter(|c| c.v2.is_none())?.sha1
}

/// The SHA-1 of pieces `a` and `b` in one pass, or `None` (see the module).
pub(crate) fn sha1_of_pair(storage: &dyn Storage, a: Span, b: Span) -> Option<([u8; 20], [u8; 20])> {
    if a.len != b.len {
        return None;
    }
    let mut hasher = Sha1PairStream::new()?;
    let mut pos = 0u32;
    while pos < a.len {
        let n = (a.len - pos).min(READ_CHUNK);
        let other = storage.read(b.offset + u64::from(pos), n as usize).ok()?;
        let mut at = 0usize;
        let mut short = false;
        let fed = storage.feed(a.offset + u64::from(pos), n as usize, &mut |bytes| {
            match other.get(at..at + bytes.len()) {
                Some(theirs) => hasher.update(bytes, theirs),
                None => short = true,
            }
            at += bytes.len();
        });
        if fed.ok()? == Fed::Unreliable || short || at != n as usize || other.len() != n as usize {
            return None;
        }
        pos += n;
    }
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use bytes::Bytes;
    use ccbt_core::{sha1_pair_supported, Lengths};
    use sha1::{Digest, Sha1};

    use super::*;
    use crate::{check_pieces, MemoryStorage, StorageError};

    const PIECE: u32 = 16384;

    /// Memory storage with a range whose files are missing and one whose in-place reads fault.
    struct Flawed {
        inner: MemoryStorage,
        missing: Range<u64>,
        faulty: Range<u64>,
    }

    fn overlaps(range: &Range<u64>, offset: u64, len: usize) -> bool {
        offset < range.end && range.start < offset + len as u64
    }

    impl Storage for Flawed {
        fn write(&self, offset: u64, blocks: &[Bytes]) -> Result<(), StorageError> {
            self.inner.write(offset, blocks)
        }
        fn read(&self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
            if overlaps(&self.missing, offset, len) {
                return Err(StorageError::Missing { path: "gone".into() });
            }
            self.inner.read(offset, len)
        }
        fn feed(&self, offset: u64, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<Fed, StorageError> {
            let bytes = self.read(offset, len)?;
            consume(&bytes);
            Ok(if overlaps(&self.faulty, offset, len) { Fed::Unreliable } else { Fed::Exact })
        }
        fn flush(&self) -> Result<(), StorageError> {
            self.inner.flush()
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 29 % 253) as u8).collect()
    }

    fn span(piece: u32) -> Span {
        Span { piece, offset: u64::from(piece * PIECE), len: PIECE }
    }

    fn sha1(bytes: &[u8]) -> [u8; 20] {
        Sha1::digest(bytes).into()
    }

    fn piece(d: &[u8], i: u32) -> &[u8] {
        &d[(i * PIECE) as usize..((i + 1) * PIECE) as usize]
    }

    #[test]
    fn a_pair_hashes_both_or_declines_anything_unusual() {
        if !sha1_pair_supported() {
            return;
        }
        let d = data(6 * PIECE as usize);
        let p = u64::from(PIECE);
        let storage = Flawed {
            inner: MemoryStorage::with_data(d.clone()),
            missing: 2 * p..3 * p,
            faulty: 4 * p + 9..4 * p + 10,
        };
        assert_eq!(sha1_of_pair(&storage, span(0), span(1)), Some((sha1(piece(&d, 0)), sha1(piece(&d, 1)))));
        assert_eq!(sha1_of_pair(&storage, span(5), span(0)), Some((sha1(piece(&d, 5)), sha1(piece(&d, 0)))));
        // Missing data on either side, a faulted in-place read, unequal lengths: declined.
        assert_eq!(sha1_of_pair(&storage, span(1), span(2)), None);
        assert_eq!(sha1_of_pair(&storage, span(2), span(1)), None);
        assert_eq!(sha1_of_pair(&storage, span(4), span(5)), None);
        let short = Span { len: PIECE - 1, ..span(5) };
        assert_eq!(sha1_of_pair(&storage, span(1), short), None);
    }

    #[test]
    fn a_declined_pair_is_checked_piece_by_piece() {
        let mut d = data(8 * PIECE as usize);
        let checks: Vec<PieceCheck> = d.chunks(PIECE as usize).map(|c| PieceCheck::v1(sha1(c))).collect();
        d[6 * PIECE as usize + 100] ^= 1; // piece 6 lies; its partner 7 is good
        let p = u64::from(PIECE);
        // Piece 2 is missing (partner 3 good), piece 4 faults in place (partner 5 good).
        let storage =
            Flawed { inner: MemoryStorage::with_data(d), missing: 2 * p..3 * p, faulty: 4 * p..4 * p + 1 };
        let lengths = Lengths::new(8 * p, PIECE).unwrap();
        for workers in [1, 2, 3] {
            let have =
                check_pieces(&storage, &lengths, &|i| checks.get(i as usize).copied(), workers, &|_| {})
                    .unwrap();
            // Piece 4's data is right: the single path reads it again with `read`.
            assert_eq!(have.iter_ones().collect::<Vec<_>>(), [0, 1, 3, 4, 5, 7], "{workers} workers");
        }
    }
}
