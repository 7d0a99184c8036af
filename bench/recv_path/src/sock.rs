//! The receiving socket with every read system call counted: blocking, or non-blocking with a
//! readiness wait (`epoll_wait`, level-triggered) whenever a read finds nothing, as an async
//! runtime does (tokio reads until `EAGAIN`, then parks the task on epoll).

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

pub struct Sock {
    fd: i32,
    epoll: Option<i32>,
    /// read/readv calls, those that found nothing (`EAGAIN`) included.
    pub reads: u64,
    /// Reads that found nothing.
    pub empty_reads: u64,
    /// `epoll_wait` calls.
    pub waits: u64,
}

impl Sock {
    pub fn new(stream: &TcpStream, readiness: bool) -> io::Result<Sock> {
        let fd = stream.as_raw_fd();
        let epoll = if readiness {
            stream.set_nonblocking(true)?;
            // SAFETY: plain system calls on owned descriptors.
            let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if ep < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 0 };
            if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
                return Err(io::Error::last_os_error());
            }
            Some(ep)
        } else {
            None
        };
        Ok(Sock { fd, epoll, reads: 0, empty_reads: 0, waits: 0 })
    }

    /// Reads at least one byte into `buf[..len]`.
    pub fn read(&mut self, buf: *mut u8, len: usize) -> Result<usize, String> {
        let fd = self.fd;
        // SAFETY: the caller's buffer holds `len` writable bytes.
        self.retry(|| unsafe { libc::read(fd, buf as *mut libc::c_void, len) })
    }

    /// Reads at least one byte into the iovecs, in order.
    pub fn readv(&mut self, iov: &[libc::iovec]) -> Result<usize, String> {
        let fd = self.fd;
        // SAFETY: the caller's iovecs point at writable memory of their lengths.
        self.retry(|| unsafe { libc::readv(fd, iov.as_ptr(), iov.len() as i32) })
    }

    /// Fills `buf[..len]` completely, with as many reads as it takes.
    pub fn read_exact(&mut self, buf: *mut u8, len: usize) -> Result<(), String> {
        let mut done = 0;
        while done < len {
            // SAFETY: within the caller's buffer.
            done += self.read(unsafe { buf.add(done) }, len - done)?;
        }
        Ok(())
    }

    fn retry(&mut self, mut call: impl FnMut() -> isize) -> Result<usize, String> {
        loop {
            self.reads += 1;
            let n = call();
            if n > 0 {
                return Ok(n as usize);
            }
            if n == 0 {
                return Err("peer closed early".into());
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    self.empty_reads += 1;
                    self.wait()?;
                }
                _ => return Err(e.to_string()),
            }
        }
    }

    fn wait(&mut self) -> Result<(), String> {
        let ep = self.epoll.ok_or("EAGAIN on a blocking socket")?;
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        loop {
            self.waits += 1;
            // SAFETY: one event's room.
            let n = unsafe { libc::epoll_wait(ep, &mut ev, 1, -1) };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e.to_string());
            }
        }
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        if let Some(ep) = self.epoll {
            // SAFETY: our own epoll descriptor.
            unsafe { libc::close(ep) };
        }
    }
}
