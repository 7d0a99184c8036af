//! Xet's content-defined chunker: gear hash, top-16-bit mask, 8 KiB minimum, 128 KiB maximum.

use crate::consts::{CUT_MASK, HASH_WINDOW, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};

/// Streaming chunk boundary finder.
///
/// Feed the input in order with [`Chunker::next_boundary`]; each call either ends the current
/// chunk inside the given bytes or takes them all. Boundaries depend only on the content, never
/// on how the input was split into buffers.
///
/// The rule (xet-core's): per chunk the hash starts at zero; a cut is after the byte where
/// `hash & CUT_MASK == 0` once the chunk is at least [`MIN_CHUNK_SIZE`] long, or at exactly
/// [`MAX_CHUNK_SIZE`]; the input's tail is the last chunk. Since the hash only remembers the
/// last 64 bytes, the first `MIN - 64 - 1` bytes of a chunk are skipped without hashing.
#[derive(Clone, Debug)]
pub struct Chunker {
    hasher: gearhash::Hasher<'static>,
    /// Bytes of the current, unfinished chunk taken so far.
    pending: usize,
}

impl Default for Chunker {
    fn default() -> Self {
        Self::new()
    }
}

impl Chunker {
    /// A chunker at the start of a file.
    pub fn new() -> Self {
        Self { hasher: gearhash::Hasher::default(), pending: 0 }
    }

    /// Bytes of the current chunk taken so far; at the end of the input they are the last
    /// chunk (if not zero).
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Takes bytes from the front of `data` for the current chunk. Returns `Some(n)` if the
    /// chunk ends after `data[..n]` (the chunker is then at the start of the next chunk, and the
    /// caller goes on with `data[n..]`), or `None` if all of `data` was taken.
    pub fn next_boundary(&mut self, data: &[u8]) -> Option<usize> {
        let mut taken = 0;
        // Bytes more than a hash window before the minimum cannot influence a cut.
        let skip_to = MIN_CHUNK_SIZE - HASH_WINDOW - 1;
        if self.pending < skip_to {
            let skip = (skip_to - self.pending).min(data.len());
            taken += skip;
            self.pending += skip;
        }
        loop {
            let room = MAX_CHUNK_SIZE - self.pending;
            let window = &data[taken..data.len().min(taken + room)];
            match self.hasher.next_match(window, CUT_MASK) {
                Some(n) => {
                    taken += n;
                    self.pending += n;
                    if self.pending >= MIN_CHUNK_SIZE {
                        return Some(self.finish_chunk(taken));
                    }
                    // A match inside the minimum does not count: keep scanning.
                }
                None => {
                    taken += window.len();
                    self.pending += window.len();
                    if self.pending == MAX_CHUNK_SIZE {
                        return Some(self.finish_chunk(taken));
                    }
                    return None;
                }
            }
        }
    }

    fn finish_chunk(&mut self, taken: usize) -> usize {
        self.pending = 0;
        self.hasher.set_hash(0);
        taken
    }
}

/// The end offsets of the chunks of `data` taken as a whole file (the last is `data.len()`;
/// empty for empty input).
pub fn chunk_boundaries(data: &[u8]) -> Vec<usize> {
    let mut chunker = Chunker::new();
    let mut ends = Vec::with_capacity(data.len() / 32_768 + 1);
    let mut offset = 0;
    while let Some(n) = chunker.next_boundary(&data[offset..]) {
        offset += n;
        ends.push(offset);
    }
    if chunker.pending() > 0 {
        ends.push(data.len());
    }
    ends
}
