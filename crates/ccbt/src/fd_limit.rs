//! Room for open files. A session keeps a file open per file it reads or writes, and a socket
//! per peer; the usual soft limit (1,024, or 20,000 on some systems) is far below what a daemon
//! seeding thousands of torrents needs, while the hard limit is usually much higher. Like
//! qBittorrent and Transmission, ccbt raises its soft limit to the hard one at start.

/// Never ask for more than this: some systems report an unlimited hard limit, and a process
/// with a billion possible descriptors makes programs that close them all on exec crawl.
const MOST: libc::rlim_t = 1 << 20;

/// Raises the soft limit of open files to the hard limit (at most [`MOST`]); the limit now in
/// force. A failure leaves the limit as it was.
pub fn raise() -> std::io::Result<libc::rlim_t> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let wanted = limit.rlim_max.min(MOST);
    if limit.rlim_cur >= wanted {
        return Ok(limit.rlim_cur);
    }
    let raised = libc::rlimit { rlim_cur: wanted, rlim_max: limit.rlim_max };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_reaches_the_hard_one() {
        let now = super::raise().unwrap();
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        assert_eq!(limit.rlim_cur, now);
        assert!(now >= limit.rlim_max.min(super::MOST), "{now} below {}", limit.rlim_max);
    }
}
