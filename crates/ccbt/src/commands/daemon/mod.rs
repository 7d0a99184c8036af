//! `ccbt daemon start | status | stop`: the life cycle of the background session. The daemon
//! itself is `serve.rs`; `start` without `--foreground` runs it detached and waits until its API
//! answers. The lock file (`lock.rs`) keeps one daemon per state folder.

mod config_api;
pub use ccbt_client::lock;
mod restore;
mod serve;
mod tls;

use std::ffi::OsString;
use std::io::{Read as _, Seek as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ccbt_config::Effective;

use super::remote::{self, Daemon};
use super::Exit;
use crate::daemon_args::DaemonCommand;
use crate::units::human_duration;
use lock::LOG_FILE;

/// How long `daemon start` waits for the API (restoring many torrents takes a while).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `daemon stop` waits for the daemon to save its checkpoints and exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

pub fn run(command: &DaemonCommand, settings: &Effective) -> anyhow::Result<Exit> {
    let state_dir = settings.config().disk.state_dir.as_path();
    match command {
        DaemonCommand::Start(args) if args.foreground => {
            super::runtime(settings)?.block_on(serve::run(settings, args.insecure_remote))
        }
        DaemonCommand::Start(_) => start_detached(state_dir),
        DaemonCommand::Status(_) => status(state_dir),
        DaemonCommand::Stop(_) => stop(state_dir),
    }
}

/// The message naming the session that holds `state_dir` (a daemon, or a foreground command).
pub fn already_running(state_dir: &Path) -> String {
    super::session_lock::holder_message(state_dir)
}

/// `daemon start`: this same command line with `--foreground`, in the background.
fn start_detached(state_dir: &Path) -> anyhow::Result<Exit> {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    args.push("--foreground".into());
    spawn(args, state_dir)
}

/// Runs ccbt with `args` (a `daemon start --foreground` command line) in a new session (no
/// terminal), its output appended to `<state_dir>/daemon.log` (which it keeps rotated: see
/// `--detached`), and waits until its API answers.
pub fn spawn(mut args: Vec<OsString>, state_dir: &Path) -> anyhow::Result<Exit> {
    if !args.iter().any(|arg| arg == "--detached") {
        args.push("--detached".into());
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create the state folder {}", state_dir.display()))?;
    if lock::read_live(state_dir).is_some() {
        eprintln!("error: {}", already_running(state_dir));
        return Ok(Exit::Failure);
    }
    let log_path = state_dir.join(LOG_FILE);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let exe = std::env::current_exe().context("cannot find the ccbt program")?;
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("cannot share the log file")?)
        .stderr(log);
    detach(&mut command);
    let mut child = command.spawn().context("cannot start the daemon")?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(exit) = child.try_wait().context("cannot watch the daemon")? {
            return failed_start(state_dir, &log_path, log_start, exit);
        }
        if let Some(url) = answering(state_dir, child.id()) {
            println!("ccbt daemon started (pid {}): {url}", child.id());
            return Ok(Exit::Success);
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the daemon (pid {}) did not answer within {} s; see {}",
                child.id(),
                START_TIMEOUT.as_secs(),
                log_path.display()
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Makes the child the leader of a new session, so closing the terminal does not stop it.
fn detach(command: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: between fork and exec only setsid runs, which is async-signal-safe and touches no
    // memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The API URL once the daemon `pid` published it and its API answers.
fn answering(state_dir: &Path, pid: u32) -> Option<String> {
    let info = lock::read_daemon(state_dir).filter(|i| i.pid == pid)?;
    let daemon = Daemon::open(state_dir, &info).ok()?;
    daemon.session().ok().map(|_| daemon.url().to_owned())
}

/// The daemon exited before its API answered: another daemon won the lock, or it failed (its
/// log since this start says why).
fn failed_start(
    state_dir: &Path,
    log_path: &Path,
    log_start: u64,
    exit: std::process::ExitStatus,
) -> anyhow::Result<Exit> {
    if lock::read_live(state_dir).is_some() {
        eprintln!("error: {}", already_running(state_dir));
        return Ok(Exit::Failure);
    }
    let mut text = String::new();
    if let Ok(mut log) = std::fs::File::open(log_path) {
        // A file shorter than at the start was rotated by the daemon: all of it is this start's.
        let len = log.metadata().map(|m| m.len()).unwrap_or(0);
        let from = if len < log_start { 0 } else { log_start };
        let _ = log.seek(std::io::SeekFrom::Start(from)).and_then(|_| log.read_to_string(&mut text));
    }
    let tail: Vec<&str> = text.lines().rev().take(20).collect();
    for line in tail.into_iter().rev() {
        eprintln!("{line}");
    }
    anyhow::bail!("the daemon stopped before its API answered ({exit}); its log is {}", log_path.display())
}

fn status(state_dir: &Path) -> anyhow::Result<Exit> {
    let daemon = remote::connect(state_dir)?;
    let session = daemon.session()?;
    let t = &session.torrents;
    println!("ccbt daemon {} running", session.version);
    println!("API:       {}", daemon.url());
    println!("pid:       {}", session.pid);
    println!("uptime:    {}", human_duration(session.uptime_secs));
    println!("peers on:  {}", session.listen_addr);
    println!(
        "torrents:  {} ({} downloading, {} seeding, {} paused, {} checking, {} fetching metadata, {} failed)",
        t.total, t.downloading, t.seeding, t.paused, t.checking, t.fetching_metadata, t.error
    );
    Ok(Exit::Success)
}

/// Sends SIGTERM and waits until the daemon has let go of its lock (it exited).
fn stop(state_dir: &Path) -> anyhow::Result<Exit> {
    let Some(info) = lock::read_daemon(state_dir) else {
        return Err(remote::no_daemon(state_dir));
    };
    lock::terminate(info.pid).with_context(|| format!("cannot signal the daemon (pid {})", info.pid))?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    while !lock::is_free(state_dir).context("cannot check the daemon's lock")? {
        if Instant::now() > deadline {
            anyhow::bail!("the daemon (pid {}) did not stop within {} s", info.pid, STOP_TIMEOUT.as_secs());
        }
        std::thread::sleep(POLL);
    }
    println!("ccbt daemon (pid {}) stopped; its checkpoints are saved", info.pid);
    Ok(Exit::Success)
}
