//! `<state_dir>/daemon.lock`: one session per state folder, daemon or foreground (`download`,
//! `seed`, ...). The holder keeps an exclusive `flock` on it for its whole life (the kernel
//! drops it when the process ends, even on SIGKILL) and writes what it is into it: its pid, its
//! kind and command line, the address peers reach it on and, for a daemon, its API address and
//! certificate. Clients only read it; they never lock it, so they can never make a starting
//! session think another one runs.
//!
//! The file keeps its historical name (scripts read the daemon's `url` line from it) and is
//! never deleted: a holder that deleted it on exit could leave the next two sessions locking
//! two different files of the same name.

use std::fs::{File, OpenOptions};
use std::io::{Seek as _, SeekFrom, Write as _};
use std::net::SocketAddr;
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};

/// The lock file's name in the state folder.
pub const LOCK_FILE: &str = "daemon.lock";
/// The token file's name in the state folder.
pub const TOKEN_FILE: &str = "api_token";
/// The log of a daemon started in the background.
pub const LOG_FILE: &str = "daemon.log";

/// The lock, held while this value lives.
pub struct StateLock {
    file: File,
    path: PathBuf,
}

/// What kind of session holds the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `ccbt daemon start`: clients talk to it through its API.
    Daemon,
    /// A foreground command (`download`, `magnet`, `stream`, `seed`, `resume`, `dht status`).
    Session,
}

/// What the holder published in the lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockInfo {
    pub pid: u32,
    pub role: Role,
    /// Its command line (`ccbt download a.torrent`), for messages; may be empty.
    pub command: String,
    /// Where it listens for peers, once its session runs.
    pub listen: Option<SocketAddr>,
    /// A daemon's API base URL, once it listens.
    pub url: Option<String>,
    /// The certificate (PEM) a daemon serves its API with over HTTPS; clients trust it.
    pub cert: Option<PathBuf>,
}

impl LockInfo {
    /// What a process publishes when it takes the lock (the rest follows as it starts).
    pub fn new(role: Role, command: String) -> LockInfo {
        LockInfo { pid: std::process::id(), role, command, listen: None, url: None, cert: None }
    }
}

impl StateLock {
    /// Takes the lock of `state_dir`; None when another process holds it.
    pub fn acquire(state_dir: &Path) -> std::io::Result<Option<StateLock>> {
        let path = state_dir.join(LOCK_FILE);
        // No truncation: the running holder's pid and address must stay readable.
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        if try_flock(&file)? {
            Ok(Some(StateLock { file, path }))
        } else {
            Ok(None)
        }
    }

    /// Replaces what the file says with `info`.
    pub fn publish(&mut self, info: &LockInfo) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(render(info).as_bytes())?;
        self.file.sync_all()
    }

    /// Empties the file before the holder exits (a crash leaves stale content, which readers
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
pub fn read_live(state_dir: &Path) -> Option<LockInfo> {
    let text = std::fs::read_to_string(state_dir.join(LOCK_FILE)).ok()?;
    parse(&text).filter(|info| is_alive(info.pid))
}

/// The running daemon of `state_dir`, if a daemon (not a foreground session) holds it.
pub fn read_daemon(state_dir: &Path) -> Option<LockInfo> {
    read_live(state_dir).filter(|info| info.role == Role::Daemon)
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

/// One `name value` line per field; values never hold a newline.
fn render(info: &LockInfo) -> String {
    let mut text = format!("pid {}\n", info.pid);
    let kind = match info.role {
        Role::Daemon => "daemon",
        Role::Session => "session",
    };
    text.push_str(&format!("kind {kind}\n"));
    if !info.command.is_empty() {
        text.push_str(&format!("command {}\n", one_line(&info.command)));
    }
    if let Some(listen) = info.listen {
        text.push_str(&format!("listen {listen}\n"));
    }
    if let Some(url) = &info.url {
        text.push_str(&format!("url {url}\n"));
    }
    if let Some(cert) = &info.cert {
        text.push_str(&format!("cert {}\n", one_line(&cert.to_string_lossy())));
    }
    text
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// The file's fields; a file without `kind` was written by a daemon of an earlier version.
fn parse(text: &str) -> Option<LockInfo> {
    let mut pid = None;
    let mut info =
        LockInfo { pid: 0, role: Role::Daemon, command: String::new(), listen: None, url: None, cert: None };
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("pid", value)) => pid = value.trim().parse().ok(),
            Some(("kind", "session")) => info.role = Role::Session,
            Some(("command", value)) => info.command = value.trim().to_owned(),
            Some(("listen", value)) => info.listen = value.trim().parse().ok(),
            Some(("url", value)) => info.url = Some(value.trim().to_owned()),
            Some(("cert", value)) => info.cert = Some(PathBuf::from(value.trim())),
            _ => {}
        }
    }
    info.pid = pid?;
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_round_trips_and_garbage_is_none() {
        let mut info = LockInfo::new(Role::Daemon, "ccbt daemon start".into());
        info.url = Some("https://127.0.0.1:6890".into());
        info.listen = Some("0.0.0.0:6881".parse().unwrap());
        info.cert = Some("/etc/ccbt/cert.pem".into());
        assert_eq!(parse(&render(&info)), Some(info));
        let session = LockInfo::new(Role::Session, "ccbt download a\nb.torrent".into());
        let back = parse(&render(&session)).unwrap();
        assert_eq!((back.role, back.command.as_str()), (Role::Session, "ccbt download a b.torrent"));
        // What a daemon of an earlier version wrote.
        let old = parse("pid 7\nurl http://127.0.0.1:1\n").unwrap();
        assert_eq!((old.pid, old.role, old.url.as_deref()), (7, Role::Daemon, Some("http://127.0.0.1:1")));
        assert_eq!(parse(""), None);
        assert_eq!(parse("pid x\n"), None);
    }

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        assert!(is_free(dir.path()).unwrap());
        let mut first = StateLock::acquire(dir.path()).unwrap().expect("first lock");
        // flock is per open file: a second open of the same file is refused, even in-process.
        assert!(StateLock::acquire(dir.path()).unwrap().is_none());
        assert!(!is_free(dir.path()).unwrap());
        let mut me = LockInfo::new(Role::Session, "ccbt seed x.torrent".into());
        first.publish(&me).unwrap();
        assert_eq!(read_live(dir.path()), Some(me.clone()));
        assert_eq!(read_daemon(dir.path()), None, "a foreground session is no daemon");
        me.role = Role::Daemon;
        first.publish(&me).unwrap();
        assert_eq!(read_daemon(dir.path()), Some(me));
        first.clear();
        assert_eq!(read_live(dir.path()), None);
        drop(first);
        assert!(is_free(dir.path()).unwrap());
        assert!(StateLock::acquire(dir.path()).unwrap().is_some());
    }
}
