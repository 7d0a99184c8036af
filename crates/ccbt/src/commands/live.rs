//! Driving a running session for `download` and `seed`: polling a torrent's status into the
//! progress UI, waiting for Ctrl-C/SIGTERM, and shutting down gracefully.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ccbt_engine::{Session, TorrentId, TorrentState, TorrentStatus};

use crate::progress::{self, TorrentProgress};

/// How often the status is polled: the progress bar redraws about four times a second.
const POLL: Duration = Duration::from_millis(250);

/// How long a graceful shutdown may take before we give up waiting for it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// Why [`Watcher::until`] returned.
#[derive(Debug)]
pub enum Stop {
    /// The condition became true; the status that satisfied it.
    Reached(TorrentStatus),
    /// The user pressed Ctrl-C or sent SIGTERM; the name of the signal.
    Signalled(&'static str),
    /// The torrent entered the error state; the engine's reason.
    Failed(String),
}

/// Watches one torrent of a session, showing its progress, until a condition or a signal.
pub struct Watcher<'a> {
    session: &'a Session,
    id: TorrentId,
    ui: TorrentProgress,
    signal: Pin<Box<dyn Future<Output = &'static str> + Send>>,
}

impl<'a> Watcher<'a> {
    /// Starts listening for signals (from now on Ctrl-C no longer kills the process outright).
    pub fn new(session: &'a Session, id: TorrentId, ui: TorrentProgress) -> Watcher<'a> {
        Watcher { session, id, ui, signal: Box::pin(shutdown_signal()) }
    }

    /// Polls the status until `done(status)` holds, the torrent fails, or a signal arrives.
    pub async fn until(&mut self, done: impl Fn(&TorrentStatus) -> bool) -> anyhow::Result<Stop> {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                name = &mut self.signal => return Ok(Stop::Signalled(name)),
                _ = tick.tick() => {
                    let status = self.status()?;
                    if let TorrentState::Error(reason) = &status.state {
                        return Ok(Stop::Failed(reason.to_string()));
                    }
                    // The caller reports the status that ends the wait; drawing it first would
                    // show a stale phase (a last "checking" line) just before that report.
                    if done(&status) {
                        return Ok(Stop::Reached(status));
                    }
                    self.ui.update(&status, Instant::now());
                }
            }
        }
    }

    /// The torrent's current status.
    pub fn status(&self) -> anyhow::Result<TorrentStatus> {
        self.session.status(self.id).context("cannot read the torrent's status")
    }

    /// Removes the progress bar so a summary can be printed.
    pub fn finish(&mut self) {
        self.ui.finish();
    }
}

/// Whether every piece is verified and the engine has left the checking phase.
pub fn is_done(status: &TorrentStatus) -> bool {
    status.is_complete() && status.state != TorrentState::Checking
}

/// Closes the session, waiting at most [`SHUTDOWN_GRACE`]. A second Ctrl-C while waiting exits
/// at once with code 130, so a hung peer or disk can never trap the user.
pub async fn shut_down(session: Session) {
    let force = tokio::spawn(async {
        shutdown_signal().await;
        progress::note("interrupted again: exiting without waiting");
        std::process::exit(130);
    });
    if tokio::time::timeout(SHUTDOWN_GRACE, session.shutdown()).await.is_err() {
        tracing::warn!("session did not shut down within {}s", SHUTDOWN_GRACE.as_secs());
    }
    force.abort();
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM with the signal's name. If signals cannot be
/// installed it never resolves: the default handling (terminating the process) stays.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                r = tokio::signal::ctrl_c() => match r {
                    Ok(()) => "Ctrl-C",
                    Err(_) => std::future::pending().await,
                },
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => ctrl_c().await,
        }
    }
    #[cfg(not(unix))]
    {
        ctrl_c().await
    }
}

async fn ctrl_c() -> &'static str {
    match tokio::signal::ctrl_c().await {
        Ok(()) => "Ctrl-C",
        Err(_) => std::future::pending().await,
    }
}
