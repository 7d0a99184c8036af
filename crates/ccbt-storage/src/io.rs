//! Low-level positioned I/O: vectored writes with `pwritev`, exact positioned reads and
//! read-only memory maps (read only through [`crate::fault::feed_from_map`]).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

use memmap2::{Mmap, MmapOptions};

/// Linux refuses a `pwritev` of more than about 2 GiB; stay well below it whatever the config says.
const MAX_BATCH_BYTES: usize = 1 << 30;

/// The most iovecs one `pwritev` accepts (`IOV_MAX`), asked once from the system.
fn iov_max() -> usize {
    static IOV_MAX: OnceLock<usize> = OnceLock::new();
    *IOV_MAX.get_or_init(|| {
        // SAFETY: sysconf has no preconditions; it only returns a number.
        let v = unsafe { libc::sysconf(libc::_SC_IOV_MAX) };
        // 16 is the POSIX minimum; 1024 is Linux's UIO_MAXIOV.
        usize::try_from(v).ok().filter(|&v| v > 0).unwrap_or(16).min(1024)
    })
}

/// Writes every byte of `bufs`, in order, to `file` starting at `offset`.
///
/// One `pwritev` call carries at most `IOV_MAX` buffers and at most `max_batch` bytes, so a huge
/// write cannot monopolise the disk queue. Short writes continue where they stopped, `EINTR` is
/// retried.
pub(crate) fn pwritev_all(file: &File, mut offset: u64, bufs: &[&[u8]], max_batch: usize) -> io::Result<()> {
    let max_batch = max_batch.clamp(1, MAX_BATCH_BYTES);
    let iov_max = iov_max();
    // Position of the first unwritten byte: buffer index and bytes already written of it.
    let mut idx = 0usize;
    let mut skip = 0usize;
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(iov_max.min(bufs.len()));
    loop {
        iov.clear();
        let mut batch = 0usize;
        let mut first_skip = skip;
        for buf in bufs.iter().skip(idx) {
            if iov.len() >= iov_max || batch >= max_batch {
                break;
            }
            let rest = buf.get(first_skip..).unwrap_or(&[]);
            first_skip = 0;
            let take = rest.len().min(max_batch - batch);
            if take > 0 {
                iov.push(libc::iovec { iov_base: rest.as_ptr() as *mut libc::c_void, iov_len: take });
                batch += take;
            }
        }
        if batch == 0 {
            return Ok(());
        }
        let off = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
        // iov.len() <= iov_max <= 1024, so it fits in a c_int.
        let count = libc::c_int::try_from(iov.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: each iovec points into a slice of `bufs`, borrowed for the whole call, for at
        // most that slice's remaining length; pwritev only reads from them.
        let n = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), count, off) };
        let written = match usize::try_from(n) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => n,
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
        };
        offset = offset
            .checked_add(written as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "file offset overflow"))?;
        let mut left = written;
        while left > 0 {
            let Some(buf) = bufs.get(idx) else { break };
            let rem = buf.len().saturating_sub(skip);
            if left >= rem {
                left -= rem;
                idx += 1;
                skip = 0;
            } else {
                skip += left;
                left = 0;
            }
        }
    }
}

/// Fills `dst` from `file` at `offset` (pread, retrying on `EINTR`). A file too short to fill
/// `dst` yields [`io::ErrorKind::UnexpectedEof`].
pub(crate) fn pread_exact(file: &File, dst: &mut [u8], offset: u64) -> io::Result<()> {
    file.read_exact_at(dst, offset)
}

/// Maps the first `len` bytes of `file` read-only.
///
/// The caller maps only files whose length is at least `len`, and copies out of the map only
/// with [`crate::fault::feed_from_map`], which survives the SIGBUS of a file that another process
/// truncated meanwhile; our own `pwritev`s to mapped files are coherent through the page cache.
pub(crate) fn map_file(file: &File, len: u64) -> io::Result<Mmap> {
    let len = usize::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large to map"))?;
    // SAFETY: the map is read-only and covers only bytes the file has (checked by the caller);
    // a later external truncation is survived by feed_from_map (see the function docs).
    unsafe { MmapOptions::new().len(len).map(file) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(file: &File, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        pread_exact(file, &mut v, 0).unwrap();
        v
    }

    #[test]
    fn vectored_write_respects_batches_and_skips_empty_buffers() {
        let file = tempfile::tempfile().unwrap();
        let data: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; (i as usize * 7) % 23]).collect();
        let bufs: Vec<&[u8]> = data.iter().map(|v| v.as_slice()).collect();
        let expected: Vec<u8> = data.concat();
        for batch in [1, 5, 22, 23, 100, usize::MAX] {
            file.set_len(0).unwrap();
            pwritev_all(&file, 3, &bufs, batch).unwrap();
            let got = read_all(&file, expected.len() + 3);
            assert_eq!(&got[..3], &[0, 0, 0]);
            assert_eq!(&got[3..], &expected[..], "batch {batch}");
        }
    }

    #[test]
    fn many_buffers_exceed_iov_max() {
        let file = tempfile::tempfile().unwrap();
        let data: Vec<[u8; 1]> = (0..5000u32).map(|i| [(i % 251) as u8]).collect();
        let bufs: Vec<&[u8]> = data.iter().map(|v| v.as_slice()).collect();
        pwritev_all(&file, 0, &bufs, usize::MAX).unwrap();
        assert_eq!(read_all(&file, 5000), data.concat());
    }

    #[test]
    fn short_file_read_is_eof_and_maps() {
        let file = tempfile::tempfile().unwrap();
        pwritev_all(&file, 0, &[b"hello world"], 4).unwrap();
        let mut buf = [0u8; 20];
        let err = pread_exact(&file, &mut buf, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let map = map_file(&file, 11).unwrap();
        assert_eq!(&map[6..], b"world");
    }
}
