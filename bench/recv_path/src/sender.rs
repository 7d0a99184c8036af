//! The sending side: one thread writing every block of the download as `piece` messages, as
//! fast as the socket takes them or paced, a burst of messages per `writev` (headers from a
//! small array, payloads straight from the pattern: the sender copies nothing itself).

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::wire::{encode_header, BlockId, Pattern, BLOCK, HEADER};

/// The order blocks are sent in: in order, except that with probability `reorder_per_mille`
/// / 1000 a block swaps places with the next one (as if it came late from a slower peer).
pub fn send_order(blocks: usize, reorder_per_mille: u32, seed: u64) -> Vec<BlockId> {
    let mut order: Vec<BlockId> = (0..blocks).map(BlockId::nth).collect();
    let mut x = seed | 1;
    let mut i = 0;
    while i + 1 < blocks {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (x % 1000) < u64::from(reorder_per_mille) {
            order.swap(i, i + 1);
            i += 2;
        } else {
            i += 1;
        }
    }
    order
}

/// Writes every block of `order` to `stream`, `burst` messages per `writev`; at most `rate`
/// bytes per second if given (the sender sleeps until each burst is due, as a seeder's pace
/// would, so the receiver wakes about once per burst).
pub fn send(
    stream: &TcpStream,
    order: &[BlockId],
    pattern: &Pattern,
    rate: Option<f64>,
    burst: usize,
) -> io::Result<()> {
    let fd = stream.as_raw_fd();
    let mut headers = vec![[0u8; HEADER]; burst];
    let start = Instant::now();
    for (n, batch) in order.chunks(burst).enumerate() {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64((n * burst * (HEADER + BLOCK)) as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let mut iov = Vec::with_capacity(2 * burst);
        for (h, id) in headers.iter_mut().zip(batch) {
            *h = encode_header(*id);
        }
        for (h, id) in headers.iter().zip(batch) {
            let payload = pattern.payload(*id);
            iov.push(libc::iovec { iov_base: h.as_ptr() as *mut _, iov_len: HEADER });
            iov.push(libc::iovec { iov_base: payload.as_ptr() as *mut _, iov_len: payload.len() });
        }
        write_all_vectored(fd, &mut iov)?;
    }
    Ok(())
}

fn write_all_vectored(fd: i32, iov: &mut [libc::iovec]) -> io::Result<()> {
    let mut first = 0;
    while first < iov.len() {
        let rest = &iov[first..];
        // SAFETY: every iovec points into `headers` or the pattern, alive for the call.
        let n = unsafe { libc::writev(fd, rest.as_ptr(), rest.len() as i32) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut n = n as usize;
        while n > 0 {
            let v = &mut iov[first];
            if n >= v.iov_len {
                n -= v.iov_len;
                first += 1;
            } else {
                v.iov_base = (v.iov_base as usize + n) as *mut _;
                v.iov_len -= n;
                n = 0;
            }
        }
        while first < iov.len() && iov[first].iov_len == 0 {
            first += 1;
        }
    }
    Ok(())
}
