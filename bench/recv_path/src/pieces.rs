//! The piece buffers blocks land in: a pool of page-aligned 1 MiB buffers reused round-robin
//! (piece `i` in buffer `i % N`, as ccbt's pool reuses a few buffers), which blocks are
//! claimed in, and each piece checked against the pattern once its last block landed.
//!
//! The check runs on the receiving thread but its CPU time is measured and reported apart,
//! so that variants are compared on receiving only.

use std::alloc::{alloc_zeroed, dealloc, Layout};

use crate::wire::{BlockId, Pattern, BLOCK, BLOCKS_PER_PIECE, PIECE};

/// `O_DIRECT` alignment (ccbt's `PIECE_BUFFER_ALIGN`).
const ALIGN: usize = 4096;

struct AlignedBuf(*mut u8);

impl AlignedBuf {
    fn new() -> AlignedBuf {
        // SAFETY: the layout is non-zero; the memory is touched here so that no variant pays
        // the page faults of the first use.
        unsafe {
            let p = alloc_zeroed(layout());
            assert!(!p.is_null(), "out of memory");
            std::ptr::write_bytes(p, 0x5a, PIECE);
            AlignedBuf(p)
        }
    }
}

// SAFETY: the buffer is owned memory, reached only through its one owner.
unsafe impl Send for AlignedBuf {}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with the same layout.
        unsafe { dealloc(self.0, layout()) }
    }
}

fn layout() -> Layout {
    Layout::from_size_align(PIECE, ALIGN).expect("valid layout")
}

/// The piece buffers of one download and what has landed in them.
pub struct Pieces<'a> {
    bufs: Vec<AlignedBuf>,
    /// The piece each buffer holds now, `None` when free.
    owner: Vec<Option<u32>>,
    /// Per piece: blocks whose header was seen (their slot is taken).
    claimed: Vec<u64>,
    /// Per piece: blocks whose payload fully landed.
    landed: Vec<u32>,
    left: usize,
    pattern: &'a Pattern,
    /// CPU seconds of the checks (to subtract from the thread's user time).
    pub check_cpu: f64,
    pub checked: usize,
}

impl<'a> Pieces<'a> {
    pub fn new(buffers: usize, pieces: usize, pattern: &'a Pattern) -> Pieces<'a> {
        Pieces {
            bufs: (0..buffers).map(|_| AlignedBuf::new()).collect(),
            owner: vec![None; buffers],
            claimed: vec![0; pieces],
            landed: vec![0; pieces],
            left: pieces,
            pattern,
            check_cpu: 0.0,
            checked: 0,
        }
    }

    /// Gets the pool ready for another download of `pieces` pieces (same buffers).
    pub fn reset(&mut self, pieces: usize) {
        self.owner.iter_mut().for_each(|o| *o = None);
        self.claimed = vec![0; pieces];
        self.landed = vec![0; pieces];
        self.left = pieces;
        self.check_cpu = 0.0;
        self.checked = 0;
    }

    pub fn all_done(&self) -> bool {
        self.left == 0
    }

    fn slot_ptr(&self, buf: usize, id: BlockId) -> *mut u8 {
        // SAFETY: `id.begin()` < PIECE, inside the buffer.
        unsafe { self.bufs[buf].0.add(id.begin() as usize) }
    }

    /// Takes the slot of a block whose header arrived: where its payload goes.
    pub fn claim(&mut self, id: BlockId) -> Result<*mut u8, String> {
        let index = id.index as usize;
        if index >= self.claimed.len() || id.block as usize >= BLOCKS_PER_PIECE {
            return Err(format!("block {id:?} out of range"));
        }
        if self.claimed[index] & (1 << id.block) != 0 {
            return Err(format!("block {id:?} twice"));
        }
        let buf = index % self.bufs.len();
        match self.owner[buf] {
            None => self.owner[buf] = Some(id.index),
            Some(o) if o == id.index => {}
            Some(o) => return Err(format!("buffer {buf} still holds piece {o} for {id:?}")),
        }
        self.claimed[index] |= 1 << id.block;
        Ok(self.slot_ptr(buf, id))
    }

    /// Whether the block's header arrived already.
    pub fn announced(&self, id: BlockId) -> bool {
        let index = id.index as usize;
        index < self.claimed.len() && self.claimed[index] & (1 << id.block) != 0
    }

    /// Where a block expected next may be read to before its header is seen: its slot if it
    /// is still unclaimed and its buffer free or its piece's, else `None`.
    pub fn speculative_slot(&self, id: BlockId) -> Option<*mut u8> {
        let index = id.index as usize;
        if index >= self.claimed.len() || self.claimed[index] & (1 << id.block) != 0 {
            return None;
        }
        let buf = index % self.bufs.len();
        match self.owner[buf] {
            Some(o) if o != id.index => None,
            _ => Some(self.slot_ptr(buf, id)),
        }
    }

    /// The block's payload fully landed; checks its piece when that was the last block.
    pub fn landed(&mut self, id: BlockId) -> Result<(), String> {
        let index = id.index as usize;
        self.landed[index] += 1;
        if self.landed[index] as usize == BLOCKS_PER_PIECE {
            let t0 = thread_cpu();
            self.check(id.index)?;
            self.check_cpu += thread_cpu() - t0;
            self.owner[index % self.bufs.len()] = None;
            self.left -= 1;
        }
        Ok(())
    }

    fn check(&mut self, index: u32) -> Result<(), String> {
        let buf = index as usize % self.bufs.len();
        // SAFETY: the buffer holds PIECE bytes.
        let piece = unsafe { std::slice::from_raw_parts(self.bufs[buf].0, PIECE) };
        for (block, got) in piece.chunks(BLOCK).enumerate() {
            let id = BlockId { index, block: block as u32 };
            if got != self.pattern.payload(id) {
                return Err(format!("wrong bytes in block {id:?}"));
            }
        }
        self.checked += 1;
        Ok(())
    }
}

/// This thread's CPU seconds (user + sys).
pub fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
