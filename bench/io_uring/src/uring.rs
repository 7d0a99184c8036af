//! The io_uring variants: one thread, one ring, `depth` piece buffers, so up to `depth` writes
//! are in flight at once; every batch of new writes is submitted together with the wait for the
//! next completion(s) in one `io_uring_enter`. With `fixed`, the buffers are registered with the
//! ring once (their pages pinned once) and written with `IORING_OP_WRITE_FIXED`, instead of the
//! kernel pinning the user pages of every direct write.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, types, IoUring};

use crate::pattern::PieceBuf;

/// Makes a ring with `depth` entries. `Err` when the kernel refuses io_uring (`ENOSYS`: not
/// built in; `EPERM`: `kernel.io_uring_disabled` or a seccomp filter) or another setup error.
pub fn open_ring(depth: u32) -> io::Result<IoUring> {
    IoUring::new(depth)
}

/// Registers `bufs` as the ring's fixed buffers, index = position in `bufs`.
pub fn register(ring: &IoUring, bufs: &[PieceBuf]) -> io::Result<()> {
    let iovecs: Vec<libc::iovec> = bufs
        .iter()
        .map(|b| libc::iovec { iov_base: b.as_ptr() as *mut libc::c_void, iov_len: b.len() })
        .collect();
    // SAFETY: the buffers outlive the ring's use of them: the caller drops the ring (which
    // unregisters them) before the buffers, and no write is in flight once `write_all` returns.
    unsafe { ring.submitter().register_buffers(&iovecs) }
}

/// Where one buffer's current piece goes, and how much of it the kernel took so far.
#[derive(Clone, Copy, Default)]
struct Slot {
    offset: u64,
    done: usize,
}

/// Writes `pieces` pieces (of `bufs[0].len()` bytes) in ascending order to `file` through
/// `ring`, each `io_uring_enter` submitting the new writes and waiting for `wait` completions
/// (fewer when fewer are in flight); returns the number of `io_uring_enter` calls made.
pub fn write_all(
    ring: &mut IoUring,
    file: &File,
    pieces: u64,
    bufs: &mut [PieceBuf],
    fixed: bool,
    wait: usize,
) -> io::Result<u64> {
    let piece = bufs[0].len() as u64;
    let mut slots = vec![Slot::default(); bufs.len()];
    let mut free: Vec<usize> = (0..bufs.len()).rev().collect();
    let mut resubmit: Vec<usize> = Vec::new();
    let (mut next, mut in_flight, mut enters) = (0u64, 0usize, 0u64);
    loop {
        while next < pieces {
            let Some(slot) = free.pop() else { break };
            bufs[slot].stamp(next * piece);
            slots[slot] = Slot { offset: next * piece, done: 0 };
            resubmit.push(slot);
            next += 1;
            in_flight += 1;
        }
        for slot in resubmit.drain(..) {
            let sqe = write_entry(file, &bufs[slot], slot, slots[slot], fixed);
            // SAFETY: the buffer stays untouched until this write's completion is reaped
            // (its slot is neither free nor stamped meanwhile). The queue has room: it holds
            // `depth` entries, at most `depth` writes are in flight, and each round is submitted.
            unsafe { ring.submission().push(&sqe) }.map_err(|_| io::Error::other("submission queue full"))?;
        }
        if in_flight == 0 {
            return Ok(enters);
        }
        enters += 1;
        match ring.submit_and_wait(wait.min(in_flight)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for cqe in ring.completion() {
            let slot = cqe.user_data() as usize;
            let res = cqe.result();
            if res < 0 {
                return Err(io::Error::from_raw_os_error(-res));
            }
            if res == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "io_uring write wrote nothing"));
            }
            slots[slot].done += res as usize;
            if slots[slot].done < piece as usize {
                resubmit.push(slot); // a short write: the rest goes out with the next batch
            } else {
                free.push(slot);
                in_flight -= 1;
            }
        }
    }
}

/// The submission entry writing the rest of `slot`'s piece from `buf`.
fn write_entry(
    file: &File,
    buf: &PieceBuf,
    index: usize,
    slot: Slot,
    fixed: bool,
) -> io_uring::squeue::Entry {
    let fd = types::Fd(file.as_raw_fd());
    // SAFETY: `done` < the buffer's length, so the pointer stays inside the buffer.
    let ptr = unsafe { buf.as_ptr().add(slot.done) };
    let len = (buf.len() - slot.done) as u32;
    let at = slot.offset + slot.done as u64;
    let entry = if fixed {
        opcode::WriteFixed::new(fd, ptr, len, index as u16).offset(at).build()
    } else {
        opcode::Write::new(fd, ptr, len).offset(at).build()
    };
    entry.user_data(index as u64)
}
