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

// The constants and helpers serve the x86-64 rounds only.
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

/// The SHA-1 digests of two messages of the same length, each given as its bytes in order in
/// one or more slices (fed to a [`Sha1PairStream`] in step). `None` when the CPU lacks the
/// instructions ([`sha1_pair_supported`]) or the lengths differ: hash each alone then.
pub fn sha1_pair<A: AsRef<[u8]>, B: AsRef<[u8]>>(a: &[A], b: &[B]) -> Option<([u8; 20], [u8; 20])> {
    let total = |runs: &[&[u8]]| runs.iter().map(|r| r.len()).sum::<usize>();
    let a: Vec<&[u8]> = a.iter().map(AsRef::as_ref).collect();
    let b: Vec<&[u8]> = b.iter().map(AsRef::as_ref).collect();
    if total(&a) != total(&b) {
        return None;
    }
    let mut hasher = Sha1PairStream::new()?;
    let mut b_runs = b.into_iter();
    let mut theirs: &[u8] = &[];
    for mut ours in a {
        while !ours.is_empty() {
            while theirs.is_empty() {
                theirs = b_runs.next()?;
            }
            let n = ours.len().min(theirs.len());
            hasher.update(&ours[..n], &theirs[..n]);
            (ours, theirs) = (&ours[n..], &theirs[n..]);
        }
    }
    Some(hasher.finish())
}

const BLOCK: usize = 64;
const INITIAL: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

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
