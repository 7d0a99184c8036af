//! Reused piece buffers: a torrent allocates each piece buffer once and recycles it, instead of
//! one fresh allocation per piece.
//!
//! Why (measured, docs/benchmarks.md, issue 15): a fresh 1 MiB allocation per piece made on the
//! runtime's threads and freed on the hash threads left each glibc arena holding its own high
//! water mark of piece buffers, so a 16 MiB buffer budget cost up to twice that in resident
//! memory; allocations aligned for `O_DIRECT` came from fresh `mmap`s each time (page faults and
//! page clearing on every piece). A buffer here is allocated once (its pages faulted in on first
//! use only), starts at the piece's page phase (on a [`PIECE_BUFFER_ALIGN`] boundary for a
//! piece that starts one in its file) so that a verified piece goes to an `O_DIRECT` write as it
//! is (no staging copy), and comes back to the pool when the last slice of the verified piece is
//! dropped, on whatever thread that is.
//!
//! Bound: the pool keeps at most `keep` idle buffers (the budget's worth of pieces, see
//! [`PiecePool::set_keep`]); one returned beyond that is freed. Buffers in use are bounded by the
//! swarm's buffer budget, so the memory behind a torrent's pieces never exceeds the budget's
//! worth of buffers (plus one piece when a piece is larger than the whole budget).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// Where each piece buffer starts: the page size, the alignment `O_DIRECT` writes need.
pub const PIECE_BUFFER_ALIGN: usize = 4096;

struct Idle {
    buffers: Mutex<Vec<Vec<u8>>>,
    keep: AtomicUsize,
}

/// The idle piece buffers of one torrent, all of one size.
pub(super) struct PiecePool {
    idle: Arc<Idle>,
    /// Usable bytes of each buffer: the torrent's piece length.
    buf_len: usize,
}

/// One piece's buffer, taken from a [`PiecePool`]; goes back to it when dropped.
pub(super) struct PooledBuf {
    /// `buf_len + 2 * PIECE_BUFFER_ALIGN - 1` bytes, so that a window of `buf_len` starting at
    /// any offset within a page of an aligned address fits.
    mem: Vec<u8>,
    /// Offset of the window in `mem`: an aligned address plus the piece's page phase.
    start: usize,
    /// Bytes of this piece (the last piece is shorter than the others).
    len: usize,
    home: Arc<Idle>,
}

impl PiecePool {
    /// A pool of buffers of `buf_len` bytes that keeps at most `keep` idle ones.
    pub(super) fn new(buf_len: usize, keep: usize) -> PiecePool {
        let idle = Idle { buffers: Mutex::new(Vec::new()), keep: AtomicUsize::new(keep) };
        PiecePool { idle: Arc::new(idle), buf_len }
    }

    /// Changes how many idle buffers are kept; idle ones beyond it are freed now.
    pub(super) fn set_keep(&self, keep: usize) {
        self.idle.keep.store(keep, Ordering::Relaxed);
        let mut idle = self.idle.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        idle.truncate(keep);
    }

    /// A buffer for a piece of `len` bytes (at most the pool's buffer length; a longer piece
    /// gets a buffer of its own that the pool does not keep), starting `phase` bytes (less than
    /// a page) past a page boundary: see [`super::page_phase`]. Its bytes are whatever the
    /// previous piece left there: every byte of a piece is written by its blocks before the
    /// piece is hashed, and a piece with a missing block never leaves the swarm.
    pub(super) fn take(&self, len: usize, phase: usize) -> PooledBuf {
        let reused = if len <= self.buf_len {
            self.idle.buffers.lock().unwrap_or_else(PoisonError::into_inner).pop()
        } else {
            None
        };
        let cap = len.max(self.buf_len);
        // Zeroed memory from the allocator (calloc): its pages are only touched by the blocks.
        let mem = reused.unwrap_or_else(|| vec![0u8; cap + 2 * PIECE_BUFFER_ALIGN - 1]);
        let aligned = mem.as_ptr().align_offset(PIECE_BUFFER_ALIGN);
        let phased = aligned.saturating_add(phase % PIECE_BUFFER_ALIGN);
        let start = match (phased, aligned) {
            (at, _) if at.saturating_add(len) <= mem.len() => at,
            // Never for a heap pointer; unaligned but correct (the writer stages it).
            (_, at) if at.saturating_add(len) <= mem.len() => at,
            _ => 0,
        };
        let home = if len <= self.buf_len { self.idle.clone() } else { Arc::new(no_keep()) };
        PooledBuf { mem, start, len, home }
    }

    /// Idle buffers held now.
    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        self.idle.buffers.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

fn no_keep() -> Idle {
    Idle { buffers: Mutex::new(Vec::new()), keep: AtomicUsize::new(0) }
}

impl PooledBuf {
    pub(super) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.mem[self.start..self.start + self.len]
    }

    /// The piece's bytes as one shared, immutable buffer; the memory returns to the pool when
    /// the last slice of it is dropped.
    pub(super) fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.mem[self.start..self.start + self.len]
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let mem = std::mem::take(&mut self.mem);
        let mut idle = self.home.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.home.keep.load(Ordering::Relaxed) {
            idle.push(mem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_reused_and_bounded() {
        let pool = PiecePool::new(3 * PIECE_BUFFER_ALIGN, 2);
        let mut a = pool.take(3 * PIECE_BUFFER_ALIGN, 0);
        a.as_mut_slice().fill(7);
        let addr = a.as_ref().as_ptr() as usize;
        assert_eq!(addr % PIECE_BUFFER_ALIGN, 0);
        let bytes = a.freeze();
        let half = bytes.slice(PIECE_BUFFER_ALIGN..);
        drop(bytes);
        assert_eq!(pool.idle(), 0, "a slice still holds the buffer");
        assert!(half.iter().all(|&b| b == 7));
        drop(half);
        assert_eq!(pool.idle(), 1);
        // The last piece is shorter; it gets a recycled buffer, aligned all the same.
        let b = pool.take(100, 0);
        assert_eq!(b.as_ref().as_ptr() as usize, addr, "the idle buffer is reused");
        assert_eq!(b.as_ref().len(), 100);
        let (c, d, e) = (pool.take(10, 0), pool.take(10, 0), pool.take(10, 0));
        drop((b, c, d, e));
        assert_eq!(pool.idle(), 2, "no more than `keep` idle buffers are kept");
        pool.set_keep(1);
        assert_eq!(pool.idle(), 1);
    }

    #[test]
    fn a_phased_buffer_starts_that_far_past_a_page_boundary() {
        let pool = PiecePool::new(2 * PIECE_BUFFER_ALIGN, 1);
        for phase in [1, 511, 4095, 4096 + 7] {
            let mut b = pool.take(2 * PIECE_BUFFER_ALIGN, phase);
            assert_eq!(b.as_mut_slice().len(), 2 * PIECE_BUFFER_ALIGN);
            assert_eq!(b.as_ref().as_ptr() as usize % PIECE_BUFFER_ALIGN, phase % PIECE_BUFFER_ALIGN);
        }
    }

    #[test]
    fn a_piece_longer_than_the_buffers_gets_its_own() {
        let pool = PiecePool::new(16, 4);
        let mut big = pool.take(40, 0);
        assert_eq!(big.as_mut_slice().len(), 40);
        drop(big);
        assert_eq!(pool.idle(), 0, "an odd-sized buffer is not kept");
    }
}
