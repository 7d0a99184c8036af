//! Page-aligned piece buffers and the content written through them, checked afterwards so
//! that no variant can look fast by writing less or the wrong bytes.
//!
//! Content: every 4 KiB block of the file starts with its own file offset (u64, little endian,
//! xor [`MAGIC`]) and carries a fixed pseudo-random body shared by all blocks. Filling a buffer
//! with the body happens once, before the clock starts; stamping a piece costs 256 stores of
//! 8 bytes, the same in every variant (ccbt's real piece buffers are filled by the network).

use std::alloc::{alloc, dealloc, Layout};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// Block whose header carries its offset; also the alignment of `O_DIRECT` I/O.
pub const BLOCK: usize = 4096;
const MAGIC: u64 = 0x6363_6274_5f75_7267; // "ccbt_urg"

/// One piece buffer: `len` bytes on a [`BLOCK`] boundary, like ccbt's `PiecePool` buffers.
pub struct PieceBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the buffer is plain owned memory; whoever holds the `PieceBuf` owns it exclusively.
unsafe impl Send for PieceBuf {}

impl PieceBuf {
    /// A buffer of `len` bytes (a multiple of [`BLOCK`]) filled with the block body, so its pages
    /// are faulted in here and not while the clock runs.
    pub fn new(len: usize) -> PieceBuf {
        assert!(len > 0 && len % BLOCK == 0, "piece size must be a positive multiple of 4096");
        let layout = Layout::from_size_align(len, BLOCK).expect("valid layout");
        // SAFETY: non-zero size; null is checked right after.
        let ptr = NonNull::new(unsafe { alloc(layout) }).expect("out of memory");
        let mut buf = PieceBuf { ptr, layout };
        let body = block_body();
        for block in buf.as_mut_slice().chunks_exact_mut(BLOCK) {
            block.copy_from_slice(&body);
        }
        buf
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.layout.size()
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `layout.size()` initialised bytes owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }

    /// Makes the buffer hold the piece that starts at file offset `offset`.
    pub fn stamp(&mut self, offset: u64) {
        for (i, block) in self.as_mut_slice().chunks_exact_mut(BLOCK).enumerate() {
            let at = offset + (i * BLOCK) as u64;
            block[..8].copy_from_slice(&(at ^ MAGIC).to_le_bytes());
        }
    }
}

impl Drop for PieceBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// The body every block carries after its 8-byte header (xorshift64, fixed seed).
fn block_body() -> [u8; BLOCK] {
    let mut out = [0u8; BLOCK];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in out.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    out
}

/// Checks that `file` is exactly `size` bytes of the expected content, read from the disk: the
/// file's cached pages are dropped first (it was just `fsync`ed, so they are clean), so a
/// variant whose writes never reached the disk fails here. Returns a description of the first
/// mismatch, if any.
pub fn verify(file: &mut File, size: u64) -> io::Result<Option<String>> {
    let len = file.metadata()?.len();
    if len != size {
        return Ok(Some(format!("file is {len} bytes, expected {size}")));
    }
    // SAFETY: plain syscall on a descriptor we own.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let body = block_body();
    let mut chunk = vec![0u8; 8 << 20];
    let mut at = 0u64;
    while at < size {
        let n = chunk.len().min((size - at) as usize);
        file.read_exact(&mut chunk[..n])?;
        for (i, block) in chunk[..n].chunks(BLOCK).enumerate() {
            let off = at + (i * BLOCK) as u64;
            let head = u64::from_le_bytes(block[..8].try_into().expect("8 bytes")) ^ MAGIC;
            if block.len() != BLOCK || head != off || block[8..] != body[8..] {
                return Ok(Some(format!("wrong bytes in the block at offset {off}")));
            }
        }
        at += n as u64;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// The check can fail: a block written at the wrong place, a changed byte and a short file
    /// are all caught.
    #[test]
    fn verify_catches_wrong_bytes() {
        let path = std::env::temp_dir().join(format!("io-uring-bench-test-{}", std::process::id()));
        let mut file =
            File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        let mut buf = PieceBuf::new(4 * BLOCK);
        for piece in 0..4u64 {
            buf.stamp(piece * buf.len() as u64);
            file.write_all_at(buf.as_slice(), piece * buf.len() as u64).unwrap();
        }
        let size = 16 * BLOCK as u64;
        assert_eq!(verify(&mut File::open(&path).unwrap(), size).unwrap(), None);
        // Piece 0's bytes written where piece 2 belongs.
        buf.stamp(0);
        file.write_all_at(buf.as_slice(), 2 * buf.len() as u64).unwrap();
        assert!(verify(&mut File::open(&path).unwrap(), size).unwrap().is_some());
        buf.stamp(2 * buf.len() as u64);
        file.write_all_at(buf.as_slice(), 2 * buf.len() as u64).unwrap();
        file.write_all_at(b"x", 5 * BLOCK as u64 + 100).unwrap();
        assert!(verify(&mut File::open(&path).unwrap(), size).unwrap().is_some());
        assert!(verify(&mut file, size + BLOCK as u64).unwrap().is_some());
        std::fs::remove_file(&path).unwrap();
    }
}
