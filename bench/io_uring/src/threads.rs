//! The `pwrite` variants, shaped like ccbt's write path: a few hash-pool threads, each with its
//! own reused piece buffer, take the next piece from a shared counter (so pieces land in
//! roughly ascending, not strictly sequential order) and write it with one `pwrite`, under the
//! file's write lock (`StoredFile::write_lock` in crates/ccbt-storage/src/file.rs) unless
//! `lock` is off.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;

use crate::pattern::PieceBuf;

/// Writes `pieces` pieces to `file` from one thread per buffer of `bufs` (all of the piece
/// size); returns the number of `pwrite` calls made.
pub fn write_all(file: &File, pieces: u64, bufs: &mut [PieceBuf], lock: bool) -> io::Result<u64> {
    let next = AtomicU64::new(0);
    let write_lock = Mutex::new(());
    thread::scope(|s| {
        let workers: Vec<_> = bufs
            .iter_mut()
            .map(|buf| {
                let (next, write_lock) = (&next, &write_lock);
                s.spawn(move || -> io::Result<u64> {
                    let mut calls = 0;
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= pieces {
                            return Ok(calls);
                        }
                        let offset = index * buf.len() as u64;
                        buf.stamp(offset);
                        let _queue = if lock { Some(write_lock.lock().unwrap()) } else { None };
                        calls += pwrite_all(file, buf.as_slice(), offset)?;
                    }
                })
            })
            .collect();
        let mut calls = 0;
        for w in workers {
            calls += w.join().expect("writer thread panicked")?;
        }
        Ok(calls)
    })
}

/// One `pwrite` per call until all of `data` is written; returns the number of calls.
fn pwrite_all(file: &File, mut data: &[u8], mut offset: u64) -> io::Result<u64> {
    let mut calls = 0;
    while !data.is_empty() {
        // SAFETY: `data` is valid for `data.len()` bytes; pwrite only reads it.
        let n = unsafe {
            libc::pwrite(file.as_raw_fd(), data.as_ptr().cast(), data.len(), offset as libc::off_t)
        };
        calls += 1;
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "pwrite wrote nothing"));
        }
        data = &data[n as usize..];
        offset += n as u64;
    }
    Ok(calls)
}
