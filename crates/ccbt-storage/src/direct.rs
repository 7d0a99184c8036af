//! `O_DIRECT` writes (config `disk.direct_io`): the aligned middle of each file slice of a
//! verified piece goes straight to the device instead of through the page cache.
//!
//! Why: a buffered `pwritev` of a downloaded piece costs a copy into freshly allocated page-cache
//! pages (on this project's benchmark machine, half of the download's CPU time, all of it kernel
//! time), and the pages are then written back and evicted by the kernel anyway. A direct write
//! costs one user-space copy into a reused, aligned buffer and the device transfer.
//!
//! Rules `O_DIRECT` imposes, and how they are met:
//! - the buffer, the file offset and the length must be aligned to the device's logical block
//!   size: we align all three to [`DIRECT_ALIGN`] (4096, a multiple of every common block size).
//!   The engine's piece buffers are page-aligned, so a slice whose file offset and piece offset
//!   agree modulo 4096 (every piece of a single-file torrent) is written from them as it is;
//!   other slices are copied through a per-thread buffer ([`BOUNCE_BYTES`], allocated once per
//!   writing thread and reused); the unaligned head and tail of a slice (a file that starts or ends inside a
//!   piece, the last short piece) are written through the normal, buffered descriptor;
//! - coherence with the page cache: the kernel writes back and drops cached pages of the range
//!   before a direct write, and unmaps them from memory maps, so `pread`, the read-only maps and
//!   a later recheck all see the new bytes. Head and tail writes only touch pages the direct part
//!   does not cover, so a page is never written both ways at once;
//! - a filesystem that refuses `O_DIRECT` (tmpfs, some FUSE) fails the `open` with `EINVAL`; a
//!   device whose block is larger than 4096 fails the write with `EINVAL`: either way that file
//!   is written buffered from then on, and nothing is lost.
//!
//! Durability is unchanged: a direct write is not a durable one; checkpoints still `fdatasync`.

use std::alloc::{alloc, dealloc, Layout};
use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::ptr::NonNull;

use crate::io::pwritev_all;

/// Alignment of direct writes: buffer address, file offset and length.
pub(crate) const DIRECT_ALIGN: u64 = 4096;
/// Size of each thread's staging buffer, and the largest single staged direct write. Only
/// slices not aligned in their piece buffer are staged (files starting inside a page); a
/// quarter of a typical piece keeps those writes large while each hash thread holds 256 KiB
/// instead of 1 MiB (resident memory, docs/benchmarks.md, issue 15).
const BOUNCE_BYTES: usize = 256 << 10;

/// A zeroed, [`DIRECT_ALIGN`]-aligned heap buffer.
struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl AlignedBuf {
    fn new(len: usize) -> Option<AlignedBuf> {
        let layout = Layout::from_size_align(len.max(1), DIRECT_ALIGN as usize).ok()?;
        // SAFETY: the layout has a non-zero size; a null result is handled.
        let ptr = NonNull::new(unsafe { alloc(layout) })?;
        // Touch it once now: the pages are faulted in here, not on each piece.
        // SAFETY: `ptr` points to `layout.size()` writable bytes just allocated.
        unsafe { ptr.as_ptr().write_bytes(0, layout.size()) };
        Some(AlignedBuf { ptr, layout })
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the allocation holds `layout.size()` initialised bytes, owned by `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this very layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

thread_local! {
    /// The staging buffer of the current thread (a hash worker), made on its first direct write.
    static BOUNCE: RefCell<Option<AlignedBuf>> = const { RefCell::new(None) };
}

/// Opens a second, `O_DIRECT` write descriptor on the very file `file` refers to (through
/// `/proc/self/fd`, so a path renamed or replaced meanwhile cannot be picked up). `Ok(None)`
/// when the filesystem or the system does not offer direct I/O for it.
pub(crate) fn open_direct(file: &File) -> io::Result<Option<File>> {
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    match OpenOptions::new().write(true).custom_flags(libc::O_DIRECT | libc::O_CLOEXEC).open(path) {
        Ok(direct) => Ok(Some(direct)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT | libc::EOPNOTSUPP)) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// How a slice of `len` bytes at file offset `offset` splits: the bytes before the first
/// aligned offset, then the aligned middle. The rest is the tail. A slice too small to hold an
/// aligned block has no middle (`(len, 0)`).
pub(crate) fn split_aligned(offset: u64, len: u64) -> (u64, u64) {
    let end = offset.saturating_add(len);
    let first = offset.div_ceil(DIRECT_ALIGN).saturating_mul(DIRECT_ALIGN);
    let last = end / DIRECT_ALIGN * DIRECT_ALIGN;
    if last <= first {
        return (len, 0);
    }
    (first - offset, last - first)
}

/// Writes the bytes of `bufs` (one contiguous stream of exactly `len` bytes, `offset` and `len`
/// multiples of [`DIRECT_ALIGN`]) to the `O_DIRECT` descriptor `direct` at `offset`: straight
/// from `bufs` when every one of them is aligned (the engine's piece buffers are), else staged
/// through this thread's aligned buffer. An `EINVAL` means the device wants another alignment:
/// the caller falls back to a buffered write of the same range.
pub(crate) fn write_direct(
    direct: &File,
    offset: u64,
    bufs: &[&[u8]],
    len: u64,
    batch: usize,
) -> io::Result<()> {
    debug_assert!(offset % DIRECT_ALIGN == 0 && len % DIRECT_ALIGN == 0);
    let align = DIRECT_ALIGN as usize;
    if bufs.iter().all(|b| (b.as_ptr() as usize | b.len()) % align == 0) {
        // Batches must end on aligned boundaries too.
        return pwritev_all(direct, offset, bufs, (batch / align).max(1) * align);
    }
    BOUNCE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = AlignedBuf::new(BOUNCE_BYTES);
        }
        let Some(bounce) = slot.as_mut() else {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        };
        let bounce = bounce.as_mut_slice();
        let mut source = Stream::new(bufs);
        let mut at = offset;
        let mut left = len;
        while left > 0 {
            // BOUNCE_BYTES is a multiple of DIRECT_ALIGN, and so is `left`.
            let n = usize::try_from(left).map_or(bounce.len(), |l| l.min(bounce.len()));
            let chunk = &mut bounce[..n];
            if source.fill(chunk) < n {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "fewer bytes than the direct write's length",
                ));
            }
            direct.write_all_at(chunk, at)?;
            at += n as u64;
            left -= n as u64;
        }
        Ok(())
    })
}

/// A cursor over a list of byte slices read as one stream.
struct Stream<'a> {
    bufs: &'a [&'a [u8]],
    index: usize,
    skip: usize,
}

impl<'a> Stream<'a> {
    fn new(bufs: &'a [&'a [u8]]) -> Self {
        Stream { bufs, index: 0, skip: 0 }
    }

    /// Copies the next bytes into `dst`; returns how many (fewer than `dst.len()` at the end).
    fn fill(&mut self, dst: &mut [u8]) -> usize {
        let mut done = 0;
        while done < dst.len() {
            let Some(buf) = self.bufs.get(self.index) else { break };
            let rest = buf.get(self.skip..).unwrap_or(&[]);
            let n = rest.len().min(dst.len() - done);
            dst[done..done + n].copy_from_slice(&rest[..n]);
            done += n;
            self.skip += n;
            if self.skip >= buf.len() {
                self.index += 1;
                self.skip = 0;
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_the_middle_aligned() {
        assert_eq!(split_aligned(0, 8192), (0, 8192));
        assert_eq!(split_aligned(0, 8191), (0, 4096));
        assert_eq!(split_aligned(1, 8192), (4095, 4096));
        assert_eq!(split_aligned(100, 200), (200, 0));
        assert_eq!(split_aligned(4000, 200), (200, 0));
        assert_eq!(split_aligned(4096, 0), (0, 0));
        assert_eq!(split_aligned(1 << 20, (1 << 20) + 17), (0, 1 << 20));
    }

    #[test]
    fn stream_crosses_buffers() {
        let bufs: [&[u8]; 3] = [b"abc", b"", b"defgh"];
        let mut s = Stream::new(&bufs);
        let mut a = [0u8; 4];
        assert_eq!(s.fill(&mut a), 4);
        assert_eq!(&a, b"abcd");
        let mut b = [0u8; 8];
        assert_eq!(s.fill(&mut b), 4);
        assert_eq!(&b[..4], b"efgh");
    }

    #[test]
    fn direct_write_lands_or_is_refused_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        file.set_len(3 * BOUNCE_BYTES as u64).unwrap();
        // Some test machines keep temporary folders on tmpfs, which refuses O_DIRECT.
        let Some(direct) = open_direct(&file).unwrap() else { return };
        let data: Vec<u8> = (0..(2 * BOUNCE_BYTES + 8192)).map(|i| (i % 251) as u8).collect();
        let parts: Vec<&[u8]> = data.chunks(16_385).collect();
        write_direct(&direct, 4096, &parts, data.len() as u64, 1 << 20).unwrap();
        let mut back = vec![0u8; data.len()];
        file.read_exact_at(&mut back, 4096).unwrap();
        assert!(back == data, "direct write read back differs");
        // Aligned buffers go to the kernel as they are, in batches cut on aligned boundaries.
        let mut aligned = AlignedBuf::new(5 * 4096).unwrap();
        let src = aligned.as_mut_slice();
        src.iter_mut().enumerate().for_each(|(i, b)| *b = (i % 241) as u8);
        let src: &[u8] = src;
        let parts: Vec<&[u8]> = src.chunks(4096).collect();
        write_direct(&direct, 8192, &parts, src.len() as u64, 6000).unwrap();
        let mut back = vec![0u8; src.len()];
        file.read_exact_at(&mut back, 8192).unwrap();
        assert!(back == src, "aligned direct write read back differs");
    }
}
