//! The SHA-1 digests of two messages computed together, on the CPU's SHA extensions.
//!
//! Why our own code and not only the `sha1` crate (which ccbt uses everywhere else): a SHA-1
//! block is 20 `sha1rnds4` steps, each waiting for the one before; on the CPUs measured the
//! instruction can start every two cycles but takes six to finish, so one message keeps the
//! unit a third busy. Interleaving the rounds of two independent messages filled the gaps:
//! 3.5 GB/s per core against 1.9 for one message at a time (the `sha1` crate and OpenSSL alike;
//! docs/benchmarks.md, issue 15, "two pieces per SHA-1 pass"). Four messages at once spill the
//! 16 vector registers and are slower than two. No maintained crate offers multi-message SHA-1.
//!
//! Every result is checked against the `sha1` crate in the tests, and a piece whose digest were
//! wrong would fail its check and be downloaded again, never written.

// The block reader and constants serve the x86-64 rounds only.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

/// Whether [`sha1_pair`] can run on this CPU (x86-64 with the SHA extensions and SSE4.1).
pub fn sha1_pair_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("sha")
            && std::is_x86_feature_detected!("sse4.1")
            && std::is_x86_feature_detected!("ssse3")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The SHA-1 digests of two messages, each given as its bytes in order in one or more slices.
/// `None` when the CPU lacks the instructions ([`sha1_pair_supported`]).
pub fn sha1_pair<A: AsRef<[u8]>, B: AsRef<[u8]>>(a: &[A], b: &[B]) -> Option<([u8; 20], [u8; 20])> {
    if !sha1_pair_supported() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        Some(x86::pair(a, b))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, b);
        None
    }
}

const BLOCK: usize = 64;
const INITIAL: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

/// Reads a message given in slices as 64-byte blocks: straight from a slice where a block lies
/// within one, assembled in `staged` where it straddles two.
struct Blocks<'a, T: AsRef<[u8]>> {
    runs: &'a [T],
    /// Index of the current run and the offset in it.
    run: usize,
    at: usize,
    staged: [u8; BLOCK],
    /// Bytes of the message read so far (for the length in the padding).
    total: u64,
}

impl<'a, T: AsRef<[u8]>> Blocks<'a, T> {
    fn new(runs: &'a [T]) -> Self {
        Blocks { runs, run: 0, at: 0, staged: [0; BLOCK], total: 0 }
    }

    fn current(&self) -> &'a [u8] {
        self.runs.get(self.run).map_or(&[], |r| r.as_ref().get(self.at..).unwrap_or_default())
    }

    fn skip_empty(&mut self) {
        while self.run < self.runs.len() && self.current().is_empty() {
            self.run += 1;
            self.at = 0;
        }
    }

    /// Whole blocks that lie in the current run, as one slice (empty when the next block
    /// straddles runs or the message has less than a block left).
    fn contiguous(&mut self) -> &'a [u8] {
        self.skip_empty();
        let cur = self.current();
        &cur[..cur.len() / BLOCK * BLOCK]
    }

    fn advance(&mut self, n: usize) {
        self.at += n;
        self.total += n as u64;
    }

    /// Assembles the next block across runs into `staged` and returns `None`; when less than a
    /// block is left, stages those last bytes instead and returns how many (`Some(left)`).
    fn stage(&mut self) -> Option<usize> {
        let mut filled = 0;
        while filled < BLOCK {
            self.skip_empty();
            let cur = self.current();
            if cur.is_empty() {
                return Some(filled);
            }
            let take = cur.len().min(BLOCK - filled);
            self.staged[filled..filled + take].copy_from_slice(&cur[..take]);
            self.at += take;
            self.total += take as u64;
            filled += take;
        }
        None
    }

    /// The final padded block(s) for a message whose last `left` bytes are in `staged`.
    fn padding(&self, left: usize) -> ([u8; 2 * BLOCK], usize) {
        padding(&self.staged[..left], self.total)
    }
}

/// The final padded block(s) of a message of `total` bytes whose last bytes (less than a block)
/// are `tail`: one block, or two when the length does not fit after the tail.
fn padding(tail: &[u8], total: u64) -> ([u8; 2 * BLOCK], usize) {
    let left = tail.len();
    let mut out = [0u8; 2 * BLOCK];
    out[..left].copy_from_slice(tail);
    out[left] = 0x80;
    let len = if left < BLOCK - 8 { BLOCK } else { 2 * BLOCK };
    out[len - 8..len].copy_from_slice(&(total * 8).to_be_bytes());
    (out, len)
}

fn digest_bytes(state: &[u32; 5]) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(target_arch = "x86_64")]
pub use x86::Sha1PairStream;

/// Two SHA-1 digests fed in step (see the x86-64 version); never constructed without the SHA
/// extensions, so on other CPUs it has no values at all.
#[cfg(not(target_arch = "x86_64"))]
pub enum Sha1PairStream {}

#[cfg(not(target_arch = "x86_64"))]
impl Sha1PairStream {
    /// Always `None` here: no SHA extensions.
    pub fn new() -> Option<Self> {
        None
    }

    /// Never called: no value exists.
    pub fn update(&mut self, _a: &[u8], _b: &[u8]) {
        match *self {}
    }

    /// Never called: no value exists.
    pub fn finish(self) -> ([u8; 20], [u8; 20]) {
        match self {}
    }
}

#[cfg(test)]
mod tests;
