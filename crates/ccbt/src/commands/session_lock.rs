//! One session per state folder, and messages that name who is in the way. Foreground commands
//! (`download`, `magnet`, `stream`, `seed`, `resume`, `dht status`) take the state folder's lock
//! (`daemon/lock.rs`, the daemon's own) before anything else, so a second session on the same
//! folder fails at once naming the first; and a listen port already taken is reported with the
//! ccbt session that holds it, when a lock file tells.
//!
//! The lock of the foreground command lives in a process-wide slot: the session that publishes
//! its listen address is created deep inside each command, and the lock must outlive it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ccbt_engine::{Session, SessionError, SessionOptions};

use super::daemon::lock::{self, LockInfo, Role, StateLock, LOCK_FILE};

/// How long a message waits for a holder that just took the lock to say what it is.
const DESCRIBE_WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// The lock of this process's foreground session, and what it published.
static HELD: Mutex<Option<(StateLock, LockInfo)>> = Mutex::new(None);

/// The state folder's lock, held by this foreground command until the value is dropped.
pub struct Held(());

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((mut lock, _)) = held.take() {
            lock.clear();
        }
    }
}

/// Takes `state_dir`'s lock for this foreground command; the error names the session that
/// holds it.
pub fn hold(state_dir: &Path) -> anyhow::Result<Held> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create the state folder {}", state_dir.display()))?;
    let lock = StateLock::acquire(state_dir)
        .with_context(|| format!("cannot open the lock file {}", state_dir.join(LOCK_FILE).display()))?;
    let Some(mut lock) = lock else {
        anyhow::bail!("{}", holder_message(state_dir));
    };
    let info = LockInfo::new(Role::Session, command_line());
    lock.publish(&info).context("cannot write the lock file")?;
    *HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((lock, info));
    Ok(Held(()))
}

/// Starts the session; a taken listen port is named with the ccbt session holding it, when a
/// lock file tells. The address it listens on goes into the held lock, if any.
pub async fn new_session(options: SessionOptions) -> anyhow::Result<Session> {
    let dirs = [options.state_dir.clone(), default_state_dir()];
    match Session::new(options).await {
        Ok(session) => {
            publish_listen(session.listen_addr());
            Ok(session)
        }
        Err(SessionError::Listen { port, source }) if source.kind() == std::io::ErrorKind::AddrInUse => {
            Err(anyhow::anyhow!("{}", port_in_use(port, &dirs)))
        }
        Err(e) => Err(anyhow::Error::new(e).context("cannot start the session")),
    }
}

fn publish_listen(addr: SocketAddr) {
    let mut held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((lock, info)) = held.as_mut() {
        info.listen = Some(addr);
        if let Err(e) = lock.publish(info) {
            tracing::warn!(error = %e, "cannot write the listen address into the lock file");
        }
    }
}

/// The message for a listen port in use: the ccbt session of `dirs` that listens on it, if any.
pub fn port_in_use(port: u16, dirs: &[PathBuf]) -> String {
    let me = std::process::id();
    let holder = dirs
        .iter()
        .filter_map(|dir| lock::read_live(dir).map(|info| (dir, info)))
        .find(|(_, info)| info.pid != me && info.listen.is_some_and(|a| a.port() == port));
    let by = match holder {
        Some((dir, info)) => format!(" by {} (state folder {})", describe(&info), dir.display()),
        None => " by another program".to_owned(),
    };
    format!("cannot listen for peers on port {port}: it is in use{by}; choose another with --listen-port (0: any free port)")
}

/// Why `state_dir` cannot be used: the session holding its lock, named (waiting a little for
/// a holder that just took the lock to publish what it is).
pub fn holder_message(state_dir: &Path) -> String {
    let deadline = Instant::now() + DESCRIBE_WAIT;
    let complete = |info: &Option<LockInfo>| match info {
        Some(info) => info.role == Role::Session || info.url.is_some(),
        None => false,
    };
    let mut info = lock::read_live(state_dir);
    while !complete(&info) && Instant::now() < deadline {
        std::thread::sleep(POLL);
        info = lock::read_live(state_dir);
    }
    let folder = state_dir.display();
    match info {
        Some(info) if info.role == Role::Daemon => format!(
            "a ccbt daemon is already running for {folder} ({}): give it torrents with `ccbt add FILE.torrent|MAGNET`, or use another --state-dir",
            daemon_details(&info)
        ),
        Some(info) => format!(
            "the state folder {folder} is in use by {}: one session per state folder; wait for it to end, or give this one another --state-dir",
            describe(&info)
        ),
        None => format!("another process holds the lock {}", state_dir.join(LOCK_FILE).display()),
    }
}

/// `the ccbt daemon (pid N, https://...)` or `` `ccbt download x` (pid N, peers on ...) ``.
pub fn describe(info: &LockInfo) -> String {
    match info.role {
        Role::Daemon => format!("the ccbt daemon ({})", daemon_details(info)),
        Role::Session => {
            let command = if info.command.is_empty() { "a ccbt session" } else { info.command.as_str() };
            match info.listen {
                Some(listen) => format!("`{command}` (pid {}, peers on {listen})", info.pid),
                None => format!("`{command}` (pid {})", info.pid),
            }
        }
    }
}

fn daemon_details(info: &LockInfo) -> String {
    match &info.url {
        Some(url) => format!("pid {}, {url}", info.pid),
        None => format!("pid {}, its API is not up yet", info.pid),
    }
}

/// This process's command line as a user would retype it (`ccbt download a.torrent`).
pub fn command_line() -> String {
    let mut words = vec!["ccbt".to_owned()];
    for arg in std::env::args_os().skip(1) {
        let arg = arg.to_string_lossy().into_owned();
        if arg.is_empty() || arg.contains(char::is_whitespace) {
            words.push(format!("{arg:?}"));
        } else {
            words.push(arg);
        }
    }
    let mut line = words.join(" ");
    if line.len() > 300 {
        let cut = (0..=297).rev().find(|&i| line.is_char_boundary(i)).unwrap_or(0);
        line.truncate(cut);
        line.push_str("...");
    }
    line
}

/// The state folder a ccbt started without settings would use (where another session most
/// likely runs).
fn default_state_dir() -> PathBuf {
    ccbt_config::Config::defaults(&ccbt_config::fs::process_env()).disk.state_dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_names_the_session_from_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let mut lock = StateLock::acquire(dir.path()).unwrap().unwrap();
        // A live process other than this one: the parent (the test harness's shell or cargo).
        let parent = std::os::unix::process::parent_id();
        let mut info = LockInfo::new(Role::Session, "ccbt seed x.torrent".into());
        info.pid = parent;
        info.listen = Some("0.0.0.0:6999".parse().unwrap());
        lock.publish(&info).unwrap();
        let dirs = [dir.path().to_owned()];
        let message = port_in_use(6999, &dirs);
        assert!(message.contains("port 6999") && message.contains("`ccbt seed x.torrent`"), "{message}");
        assert!(message.contains(&format!("pid {parent}")), "{message}");
        assert!(port_in_use(7000, &dirs).contains("by another program"));
        let message = holder_message(dir.path());
        assert!(
            message.contains("in use by `ccbt seed x.torrent`") && message.contains("--state-dir"),
            "{message}"
        );
        info.role = Role::Daemon;
        info.url = Some("http://127.0.0.1:6890".into());
        lock.publish(&info).unwrap();
        let message = holder_message(dir.path());
        assert!(message.contains("http://127.0.0.1:6890") && message.contains("`ccbt add"), "{message}");
    }
}
