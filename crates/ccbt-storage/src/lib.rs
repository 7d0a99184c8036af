//! ccbt storage: the [`Storage`] trait with a file backend ([`FileStorage`]) and a memory backend
//! ([`MemoryStorage`]), the piece-verification pool ([`HashPool`]), parallel checking of existing
//! data ([`check_pieces`]) and the helpers for creating torrents ([`scan_path`], [`hash_pieces`],
//! [`hash_new_pieces`] for v2 and hybrid torrents).
//!
//! # Why synchronous
//! This crate uses plain `std::fs` and std threads, not async files. Like rqbit, we find that disk
//! calls are short (a 16 KiB `pread`, a batched `pwritev` that mostly lands in the page cache), and
//! async file APIs on Linux are themselves a thread pool in disguise. Calling synchronous code from
//! the engine's blocking pool, or handing pieces to the [`HashPool`] with a completion callback, is
//! simpler, gives us positioned vectored I/O and mmap directly, and keeps hashing off the async
//! runtime's threads. Back-pressure comes from the bounded hash queue
//! ([`HashPool::try_submit`], [`HashPool::queue_depth`]).
//!
//! # Files
//! ccbt never writes into a file that existed with data and that it did not create, unless the
//! file verifies as this torrent's data or the user allows it: see [`Ownership`].
//! Torrent byte ranges map to file slices through [`ccbt_core::FileLayout`]. BEP 47 padding files
//! are never created and read as zeros; zero-length files are created empty.
//!
//! Files the user skipped ([`Ownership::deferred`]) are not created when the storage opens. One
//! is created by the first write that touches it: a piece shared with a wanted file must be
//! written whole to be verified and served, so its bytes of the skipped file land in that file,
//! as libtorrent does without a part file (a part file would keep them out of the user's folder
//! at the cost of a second file format and a move when the file is selected later; we chose the
//! simpler layout, which also means a file selected later simply continues). Such files are
//! sparse and never preallocated; [`FileStorage::on_create`] tells the caller, which records
//! them as ccbt's own. Reading a skipped file that was never created fails with
//! [`StorageError::Missing`], like reading a missing file. Paths are re-checked
//! here even though the metainfo parser sanitises them: nothing a torrent says can lead outside
//! the download root.

mod check;
mod check_pairs;
mod copy;
mod direct;
mod error;
mod fault;
mod file;
mod io;
mod memory;
mod new_hashes;
mod options;
mod ownership;
mod path;
mod pool;
mod scan;

#[cfg(test)]
mod backend_tests;

use bytes::Bytes;
use ccbt_core::{Bitfield, Lengths};

pub use check::{check_listed, check_pieces, hash_pieces, PieceChecks};
pub use copy::kernel_copy_works;
pub use error::StorageError;
pub use file::{CreatedHook, FileStorage};
pub use memory::MemoryStorage;
pub use new_hashes::{hash_new_pieces, NewPiece, NewPieceHashes};
pub use options::{ParsePreallocateError, Preallocate, StorageOptions};
pub use ownership::Ownership;
pub use pool::{Done, HashPool, PieceJob, PieceOutcome, PieceVerdict, PoolFull};
pub use scan::{scan_path, ScannedContent};

/// How [`Storage::feed`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fed {
    /// Every byte handed over was the data's.
    Exact,
    /// Some bytes handed over were zeros in place of a page that could not be read.
    Unreliable,
}

/// A torrent's byte stream, addressed by torrent byte offset. Implementations are shared
/// between threads (`Sync`): the hash pool writes while uploads read.
pub trait Storage: Send + Sync + 'static {
    /// Writes `blocks` (contiguous, in order) starting at torrent byte offset `offset`.
    fn write(&self, offset: u64, blocks: &[Bytes]) -> Result<(), StorageError>;
    /// Reads `len` bytes at torrent byte offset `offset` (for uploading and verification).
    fn read(&self, offset: u64, len: usize) -> Result<Bytes, StorageError>;
    /// Hands the `len` bytes at torrent byte offset `offset` to `consume`, in order and in one
    /// or more slices, for hashing. The default reads them with [`Storage::read`]; the file
    /// backend hands over its memory maps' pages in place, with no copy. [`Fed::Unreliable`]
    /// says some bytes handed over were not the data's (a mapped page could not be read: a
    /// file cut by another program): the caller discards what it computed and reads again with
    /// [`Storage::read`].
    fn feed(&self, offset: u64, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<Fed, StorageError> {
        consume(&self.read(offset, len)?);
        Ok(Fed::Exact)
    }
    /// Puts at torrent byte offset `offset` the bytes `verified`, which the caller read from
    /// `src` at `src_offset` and checked. The default writes `verified`. A backend may instead
    /// copy the range from `src` in the kernel (the file backend uses `copy_file_range(2)`,
    /// which shares extents on btrfs and XFS): the bytes then come from the file as it is at
    /// that moment, so the caller must verify the destination afterwards (the torrent's piece
    /// hash check does). Returns the bytes the kernel copied; the rest were written from
    /// `verified`.
    fn copy_from_file(
        &self,
        offset: u64,
        src: &std::fs::File,
        src_offset: u64,
        verified: &Bytes,
    ) -> Result<u64, StorageError> {
        let _ = (src, src_offset);
        self.write(offset, std::slice::from_ref(verified)).map(|()| 0)
    }
    /// Makes written data durable (fsync of the data files).
    fn flush(&self) -> Result<(), StorageError>;
    /// Makes the data of the torrent byte ranges `(offset, len)` durable: a checkpoint lists a
    /// piece only after this returned for it. The file backend syncs each file the ranges touch
    /// once (fdatasync); the default syncs everything.
    fn flush_ranges(&self, ranges: &[(u64, u64)]) -> Result<(), StorageError> {
        let _ = ranges;
        self.flush()
    }
    /// Lets writes into the files that existed with data before the torrent was added and that
    /// ccbt did not create (see [`Ownership`]), once `have`, the pieces verified on disk, shows
    /// that each holds this torrent's data. Only files that a piece still to download touches
    /// need it: `wanted` is the selection (`None`: every piece). Fails with
    /// [`StorageError::NotOurs`] naming the first such file in which no piece verified; that file
    /// stays untouched. Backends without such files accept at once.
    fn claim_verified(
        &self,
        have: &Bitfield,
        wanted: Option<&Bitfield>,
        lengths: &Lengths,
    ) -> Result<(), StorageError> {
        let _ = (have, wanted, lengths);
        Ok(())
    }
    /// Creates now the files among `files` (layout indices) that were skipped when the storage
    /// opened and no write created since: the user selected them again, and a zero-length file
    /// would otherwise never appear. Backends without files accept at once.
    fn create_files(&self, files: &[usize]) -> Result<(), StorageError> {
        let _ = files;
        Ok(())
    }
}
