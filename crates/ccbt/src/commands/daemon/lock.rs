//! `<state_dir>/daemon.lock`: one daemon per state folder. The daemon holds an exclusive
//! `flock` on it for its whole life (the kernel drops it when the process ends, even on
//! SIGKILL) and writes its pid and API address into it for clients. Clients only read it; they
//! never lock it, so they can never make a starting daemon think another one runs.
//!
//! The file is never deleted: a daemon that deleted it on exit could leave the next two
//! daemons locking two different files of the same name.

use std::fs::{File, OpenOptions};
use std::io::{Seek as _, SeekFrom, Write as _};
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};

/// The lock file's name in the state folder.
pub const LOCK_FILE: &str = "daemon.lock";
/// The token file's name in the state folder.
pub const TOKEN_FILE: &str = "api_token";
/// The log of a daemon started in the background.
pub const LOG_FILE: &str = "daemon.log";

/// The lock, held while this value lives.
pub struct DaemonLock {
    file: File,
    path: PathBuf,
}

/// What a daemon published in its lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonInfo {
    pub pid: u32,
    /// The API's base URL, once it listens.
    pub url: Option<String>,
}

impl DaemonLock {
    /// Takes the lock of `state_dir`; None when another process holds it.
    pub fn acquire(state_dir: &Path) -> std::io::Result<Option<DaemonLock>> {
        let path = state_dir.join(LOCK_FILE);
        // No truncation: the running daemon's pid and address must stay readable.
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        if try_flock(&file)? {
            Ok(Some(DaemonLock { file, path }))
        } else {
            Ok(None)
        }
    }

    /// Replaces what the file says with `info`.
    pub fn publish(&mut self, info: &DaemonInfo) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(render(info).as_bytes())?;
        self.file.sync_all()
    }

    /// Empties the file before the daemon exits (a crash leaves stale content, which clients
    /// recognize by the dead pid or the refused connection).
    pub fn clear(&mut self) {
        if let Err(e) = self.file.set_len(0) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot clear the lock file");
        }
    }
}

/// Whether no process holds the lock of `state_dir` now (taken and released at once; only
/// `daemon stop` asks, to learn that the daemon has exited).
pub fn is_free(state_dir: &Path) -> std::io::Result<bool> {
    match OpenOptions::new().read(true).open(state_dir.join(LOCK_FILE)) {
        Ok(file) => try_flock(&file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: true when taken, false when another holds it.
fn try_flock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a file descriptor that `file` keeps open; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(error)
    }
}

/// What the lock file of `state_dir` says, if it names a process that is alive.
pub fn read_live(state_dir: &Path) -> Option<DaemonInfo> {
    let text = std::fs::read_to_string(state_dir.join(LOCK_FILE)).ok()?;
    parse(&text).filter(|info| is_alive(info.pid))
}

/// Whether process `pid` exists.
pub fn is_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Sends SIGTERM to `pid`.
pub fn terminate(pid: u32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    // SAFETY: sends a signal; no memory is involved.
    if unsafe { libc::kill(pid, libc::SIGTERM) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn render(info: &DaemonInfo) -> String {
    let mut text = format!("pid {}\n", info.pid);
    if let Some(url) = &info.url {
        text.push_str(&format!("url {url}\n"));
    }
    text
}

fn parse(text: &str) -> Option<DaemonInfo> {
    let mut pid = None;
    let mut url = None;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("pid", value)) => pid = value.trim().parse().ok(),
            Some(("url", value)) => url = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    Some(DaemonInfo { pid: pid?, url })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_round_trips_and_garbage_is_none() {
        let info = DaemonInfo { pid: 42, url: Some("http://127.0.0.1:6890".into()) };
        assert_eq!(parse(&render(&info)), Some(info));
        let early = DaemonInfo { pid: 7, url: None };
        assert_eq!(parse(&render(&early)), Some(early));
        assert_eq!(parse(""), None);
        assert_eq!(parse("pid x\n"), None);
    }

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        assert!(is_free(dir.path()).unwrap());
        let mut first = DaemonLock::acquire(dir.path()).unwrap().expect("first lock");
        // flock is per open file: a second open of the same file is refused, even in-process.
        assert!(DaemonLock::acquire(dir.path()).unwrap().is_none());
        assert!(!is_free(dir.path()).unwrap());
        let me = DaemonInfo { pid: std::process::id(), url: Some("http://127.0.0.1:1".into()) };
        first.publish(&me).unwrap();
        assert_eq!(read_live(dir.path()), Some(me));
        first.clear();
        assert_eq!(read_live(dir.path()), None);
        drop(first);
        assert!(is_free(dir.path()).unwrap());
        assert!(DaemonLock::acquire(dir.path()).unwrap().is_some());
    }
}
