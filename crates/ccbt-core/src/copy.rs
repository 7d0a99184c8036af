//! Copying a received block into its piece buffer without pulling the buffer into this core's
//! cache.
//!
//! Why (measured, docs/benchmarks.md, issue 15, "streaming stores"): every byte a download
//! receives is copied once from the socket's read buffer into its piece buffer, and the piece
//! buffer is read next by a hashing thread on another core. With ordinary stores each cache
//! line of the piece buffer is first read in (it was last touched by the other core or the disk
//! controller) and then written: the copy was 10-12 % of a download's CPU. Non-temporal stores
//! write whole lines to memory without reading them first.

/// Below this many bytes a plain copy: the streaming loop and its fence only pay off on whole
/// blocks (16 KiB), not on the short tails a peer may send.
const MIN_STREAMED: usize = 4096;

/// Copies `src` into `dst` (both cut to the shorter length), bypassing the cache for the
/// destination where the CPU allows it. The bytes are visible to other threads once the
/// buffer is handed over by any synchronising operation (a lock, a channel), as after a plain
/// copy: the streaming stores are fenced before returning.
pub fn copy_uncached(dst: &mut [u8], src: &[u8]) {
    let len = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..len], &src[..len]);
    if len < MIN_STREAMED {
        dst.copy_from_slice(src);
        return;
    }
    stream(dst, src);
}

#[cfg(target_arch = "x86_64")]
fn stream(dst: &mut [u8], src: &[u8]) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    const LINE: usize = 64;
    let len = dst.len();
    // Streaming stores need 16-byte aligned destinations: plain-copy up to the first one.
    let head = dst.as_ptr().align_offset(16).min(len);
    dst[..head].copy_from_slice(&src[..head]);
    let body = (len - head) / LINE * LINE;
    for at in (head..head + body).step_by(LINE) {
        // SAFETY: `at + LINE <= head + body <= len`, both slices are `len` bytes long, so the
        // four 16-byte loads and stores stay inside them; `dst + at` is 16-byte aligned because
        // `dst + head` is and `at - head` is a multiple of 64; loads are unaligned loads. SSE2
        // is part of every x86_64 CPU.
        unsafe {
            let s = src.as_ptr().add(at).cast::<__m128i>();
            let d = dst.as_mut_ptr().add(at).cast::<__m128i>();
            let (a, b) = (_mm_loadu_si128(s), _mm_loadu_si128(s.add(1)));
            let (c, e) = (_mm_loadu_si128(s.add(2)), _mm_loadu_si128(s.add(3)));
            _mm_stream_si128(d, a);
            _mm_stream_si128(d.add(1), b);
            _mm_stream_si128(d.add(2), c);
            _mm_stream_si128(d.add(3), e);
        }
    }
    // SAFETY: SSE2 (see above). Orders the streaming stores before whatever publishes the
    // buffer to another thread.
    unsafe { _mm_sfence() };
    let done = head + body;
    dst[done..].copy_from_slice(&src[done..]);
}

#[cfg(not(target_arch = "x86_64"))]
fn stream(dst: &mut [u8], src: &[u8]) {
    dst.copy_from_slice(src);
}

#[cfg(test)]
mod tests {
    use super::copy_uncached;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn copies_every_byte_at_any_alignment_and_length() {
        let src = pattern(16 * 1024 + 200);
        for len in [0, 1, 15, 63, 4095, 4096, 4097, 4160, 16 * 1024, 16 * 1024 + 77] {
            for dst_shift in [0, 1, 8, 15, 16, 33] {
                for src_shift in [0, 3, 16] {
                    let mut buf = vec![0xAAu8; len + 64];
                    let dst = &mut buf[dst_shift..dst_shift + len];
                    copy_uncached(dst, &src[src_shift..src_shift + len]);
                    assert_eq!(
                        dst,
                        &src[src_shift..src_shift + len],
                        "len {len} shifts {dst_shift}/{src_shift}"
                    );
                    assert!(buf[..dst_shift].iter().all(|&b| b == 0xAA), "wrote before the destination");
                    assert!(buf[dst_shift + len..].iter().all(|&b| b == 0xAA), "wrote past the destination");
                }
            }
        }
    }

    #[test]
    fn lengths_that_differ_copy_the_shorter() {
        let src = pattern(5000);
        let mut dst = vec![0u8; 8000];
        copy_uncached(&mut dst, &src);
        assert_eq!(&dst[..5000], &src[..]);
        assert!(dst[5000..].iter().all(|&b| b == 0));
        let mut short = vec![0u8; 4500];
        copy_uncached(&mut short, &src);
        assert_eq!(&short[..], &src[..4500]);
    }
}
