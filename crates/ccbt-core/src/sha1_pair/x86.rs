//! The SHA-NI rounds of one or two messages, and the two-message stream that feeds them.

use std::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_extract_epi32, _mm_loadu_si128, _mm_set_epi32, _mm_set_epi64x,
    _mm_setzero_si128, _mm_sha1msg1_epu32, _mm_sha1msg2_epu32, _mm_sha1nexte_epu32, _mm_sha1rnds4_epu32,
    _mm_shuffle_epi32, _mm_shuffle_epi8, _mm_storeu_si128, _mm_xor_si128,
};

use super::{digest_bytes, padding, sha1_pair_supported, BLOCK, INITIAL};

/// Two SHA-1 digests fed in step: each update gives both messages the same number of bytes, so
/// their partial blocks always have the same length. For hashing two pieces of equal length as
/// their bytes arrive in runs (the check of existing data reads them in chunks).
pub struct Sha1PairStream {
    states: [[u32; 5]; 2],
    /// Bytes of each message not yet compressed (fewer than a block; `pending_len` of each).
    pending: [[u8; BLOCK]; 2],
    pending_len: usize,
    /// Bytes given to each message so far.
    total: u64,
}

impl Sha1PairStream {
    /// `None` when the CPU lacks the instructions (see [`super::sha1_pair_supported`]).
    pub fn new() -> Option<Self> {
        sha1_pair_supported().then_some(Sha1PairStream {
            states: [INITIAL, INITIAL],
            pending: [[0; BLOCK]; 2],
            pending_len: 0,
            total: 0,
        })
    }

    /// Feeds the next bytes of both messages: `a` to the first, `b` to the second. Only the
    /// first `min(a.len(), b.len())` bytes of each are taken (callers pass equal lengths).
    pub fn update(&mut self, a: &[u8], b: &[u8]) {
        let n = a.len().min(b.len());
        let (mut a, mut b) = (&a[..n], &b[..n]);
        self.total += n as u64;
        if self.pending_len > 0 {
            let take = (BLOCK - self.pending_len).min(a.len());
            let at = self.pending_len;
            self.pending[0][at..at + take].copy_from_slice(&a[..take]);
            self.pending[1][at..at + take].copy_from_slice(&b[..take]);
            self.pending_len += take;
            (a, b) = (&a[take..], &b[take..]);
            if self.pending_len < BLOCK {
                return;
            }
            let [pa, pb] = self.pending;
            // SAFETY: constructed only when supported; whole blocks of equal length.
            unsafe { compress(&mut self.states, [&pa, &pb]) };
            self.pending_len = 0;
        }
        let whole = a.len() / BLOCK * BLOCK;
        if whole > 0 {
            // SAFETY: as above.
            unsafe { compress(&mut self.states, [&a[..whole], &b[..whole]]) };
        }
        let rest = a.len() - whole;
        self.pending[0][..rest].copy_from_slice(&a[whole..]);
        self.pending[1][..rest].copy_from_slice(&b[whole..]);
        self.pending_len = rest;
    }

    /// Both digests.
    pub fn finish(mut self) -> ([u8; 20], [u8; 20]) {
        let (pa, len) = padding(&self.pending[0][..self.pending_len], self.total);
        let (pb, _) = padding(&self.pending[1][..self.pending_len], self.total);
        // SAFETY: as in `update`; both paddings have the same length (same tail, same total).
        unsafe { compress(&mut self.states, [&pa[..len], &pb[..len]]) };
        (digest_bytes(&self.states[0]), digest_bytes(&self.states[1]))
    }
}

/// Runs the SHA-1 compression of `N` messages side by side, their rounds interleaved. Every
/// slice in `data` must have the same length, a multiple of 64.
///
/// # Safety
/// The CPU must have the SHA extensions, SSSE3 and SSE4.1.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn compress<const N: usize>(states: &mut [[u32; 5]; N], data: [&[u8]; N]) {
    // Reverses the 16 bytes: the message words are big-endian, and SHA-NI wants the first
    // word in the highest lane.
    let reverse = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
    let mut abcd = [_mm_setzero_si128(); N];
    let mut e = [_mm_setzero_si128(); N];
    for s in 0..N {
        abcd[s] = _mm_shuffle_epi32(_mm_loadu_si128(states[s].as_ptr().cast()), 0x1B);
        e[s] = _mm_set_epi32(states[s][4] as i32, 0, 0, 0);
    }
    let blocks = data[0].len() / BLOCK;
    for block in 0..blocks {
        let (abcd_before, e_before) = (abcd, e);
        // The 16 message words of each block, four per vector, then the schedule in place.
        let mut w = [[_mm_setzero_si128(); 4]; N];
        for s in 0..N {
            let bytes = &data[s][block * BLOCK..(block + 1) * BLOCK];
            for (k, word) in w[s].iter_mut().enumerate() {
                *word = _mm_shuffle_epi8(_mm_loadu_si128(bytes[16 * k..].as_ptr().cast()), reverse);
            }
        }
        // `prev` is each message's state before its last four rounds: `sha1nexte` derives the
        // next E from it.
        let mut prev = abcd;
        let mut round_e: [__m128i; N] = std::array::from_fn(|s| _mm_add_epi32(e_before[s], w[s][0]));
        macro_rules! four_rounds {
            ($func:literal) => {
                for s in 0..N {
                    prev[s] = abcd[s];
                    abcd[s] = _mm_sha1rnds4_epu32(abcd[s], round_e[s], $func);
                }
            };
        }
        four_rounds!(0);
        for group in 1..20 {
            for s in 0..N {
                let words = if group < 4 {
                    w[s][group]
                } else {
                    let mixed = _mm_xor_si128(_mm_sha1msg1_epu32(w[s][0], w[s][1]), w[s][2]);
                    let next = _mm_sha1msg2_epu32(mixed, w[s][3]);
                    w[s] = [w[s][1], w[s][2], w[s][3], next];
                    next
                };
                round_e[s] = _mm_sha1nexte_epu32(prev[s], words);
            }
            match group / 5 {
                0 => four_rounds!(0),
                1 => four_rounds!(1),
                2 => four_rounds!(2),
                _ => four_rounds!(3),
            }
        }
        for s in 0..N {
            e[s] = _mm_sha1nexte_epu32(prev[s], e_before[s]);
            abcd[s] = _mm_add_epi32(abcd[s], abcd_before[s]);
        }
    }
    for s in 0..N {
        _mm_storeu_si128(states[s].as_mut_ptr().cast(), _mm_shuffle_epi32(abcd[s], 0x1B));
        states[s][4] = _mm_extract_epi32(e[s], 3) as u32;
    }
}
