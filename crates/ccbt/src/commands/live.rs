//! Driving a running session for `download` and `seed`: its status into the progress UI (polled,
//! and looked at again on completion events), waiting for Ctrl-C/SIGTERM, and shutting down.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ccbt_engine::{Event, Session, TorrentId, TorrentState, TorrentStatus};
use tokio::sync::broadcast;

use super::hint::{self, DhtView, Discovery};
use crate::progress::{self, StallHint, TorrentProgress};
use crate::reload::{self, Reloader};

/// How often the status is polled: the progress bar redraws about four times a second.
const POLL: Duration = Duration::from_millis(250);

/// How long a graceful shutdown may take before we give up waiting for it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// Why [`Watcher::until`] returned.
#[derive(Debug)]
pub enum Stop {
    /// Every torrent reached the condition or failed; one outcome per torrent, in order.
    Settled(Vec<Outcome>),
    /// The user pressed Ctrl-C or sent SIGTERM; the name of the signal.
    Signalled(&'static str),
}

/// How one torrent ended a wait.
#[derive(Debug)]
pub enum Outcome {
    /// The condition became true; the status that satisfied it.
    Reached(TorrentStatus),
    /// The torrent entered the error state: its name and the engine's reason.
    Failed { name: String, reason: String },
}

/// One watched torrent.
struct Watched {
    id: TorrentId,
    ui: TorrentProgress,
    /// Since when it has had no connected peer (for the stall hint).
    no_peers_since: Option<Instant>,
}

/// Watches the torrents of a session, showing their progress, until a condition or a signal.
pub struct Watcher<'a> {
    session: &'a Session,
    torrents: Vec<Watched>,
    signal: Pin<Box<dyn Future<Output = &'static str> + Send>>,
    /// Bootstrap hosts that do not resolve, looked up once when the DHT stays empty.
    dht_probe: DhtProbe,
    /// Watches the configuration file and applies its edits (see `reload.rs`).
    reload: Option<Reloader>,
}

enum DhtProbe {
    NotAsked,
    Running(tokio::task::JoinHandle<Vec<String>>),
    Done(Vec<String>),
}

impl<'a> Watcher<'a> {
    /// Starts listening for signals (from now on Ctrl-C no longer kills the process outright).
    /// `torrents` pairs each torrent with its progress display.
    pub fn new(session: &'a Session, torrents: Vec<(TorrentId, TorrentProgress)>) -> Watcher<'a> {
        let torrents =
            torrents.into_iter().map(|(id, ui)| Watched { id, ui, no_peers_since: None }).collect();
        Watcher {
            session,
            torrents,
            signal: Box::pin(shutdown_signal()),
            dht_probe: DhtProbe::NotAsked,
            reload: reload::claim(),
        }
    }

    /// Polls every torrent until `done(status)` holds for each (or it fails), or a signal
    /// arrives. `on_reached` runs once per torrent as it reaches the condition, with its
    /// progress removed (for a summary line).
    pub async fn until(
        &mut self,
        done: impl Fn(&TorrentStatus) -> bool,
        mut on_reached: impl FnMut(&TorrentStatus),
    ) -> anyhow::Result<Stop> {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut outcomes: Vec<Option<Outcome>> = self.torrents.iter().map(|_| None).collect();
        let mut reload_tick = tokio::time::interval(reload::INTERVAL);
        reload_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // Completions and state changes are looked at when they happen, not at the next tick:
        // `ccbt download` exits as soon as the last piece is verified.
        let mut events = self.session.subscribe();
        let mut events_open = true;
        loop {
            let look = tokio::select! {
                name = &mut self.signal => return Ok(Stop::Signalled(name)),
                _ = reload_tick.tick(), if self.reload.is_some() => {
                    if let Some(reloader) = &mut self.reload {
                        for line in reloader.poll(self.session) {
                            progress::note(line);
                        }
                    }
                    false
                }
                _ = tick.tick() => true,
                event = events.recv(), if events_open => {
                    events_open = !matches!(event, Err(broadcast::error::RecvError::Closed));
                    may_end_a_wait(&event)
                }
            };
            if look && self.look_at_all(&done, &mut on_reached, &mut outcomes).await? {
                return Ok(Stop::Settled(outcomes.into_iter().flatten().collect()));
            }
        }
    }

    /// Reads every unsettled torrent's status: records those that reached `done` or failed,
    /// redraws the others. True once every torrent is settled.
    async fn look_at_all(
        &mut self,
        done: &impl Fn(&TorrentStatus) -> bool,
        on_reached: &mut impl FnMut(&TorrentStatus),
        outcomes: &mut [Option<Outcome>],
    ) -> anyhow::Result<bool> {
        let now = Instant::now();
        let dht = if self.torrents.iter().any(|w| w.no_peers_since.is_some()) {
            self.dht_view().await
        } else {
            DhtView::Off
        };
        for (index, watched) in self.torrents.iter_mut().enumerate() {
            if outcomes[index].is_some() {
                continue;
            }
            let status = self.session.status(watched.id).context("cannot read the torrent's status")?;
            if let TorrentState::Error(reason) = &status.state {
                watched.ui.finish();
                outcomes[index] =
                    Some(Outcome::Failed { name: status.name.clone(), reason: reason.to_string() });
                continue;
            }
            // The caller reports the status that ends the wait; drawing it first
            // would show a stale phase (a last "checking" line) just before it.
            if done(&status) {
                watched.ui.finish();
                on_reached(&status);
                outcomes[index] = Some(Outcome::Reached(status));
                continue;
            }
            let hint = stall_hint_for(self.session, discovery(self.session), &dht, watched, &status, now);
            watched.ui.update(&status, hint.as_ref(), now);
        }
        Ok(outcomes.iter().all(Option::is_some))
    }

    /// The DHT as hints see it; the first time it is empty, the bootstrap hosts are resolved
    /// in the background to tell "offline" from "nobody answered".
    async fn dht_view(&mut self) -> DhtView {
        if !self.session.options().enable_dht {
            return DhtView::Off;
        }
        let info = self.session.dht_status().await;
        let mut view = DhtView::of(info.as_ref());
        if let DhtView::Empty { unresolved } = &mut view {
            match &mut self.dht_probe {
                DhtProbe::NotAsked => {
                    let hosts = self.session.options().dht_bootstrap_nodes.clone();
                    self.dht_probe =
                        DhtProbe::Running(tokio::spawn(async move { hint::unresolved_hosts(&hosts).await }));
                }
                DhtProbe::Running(task) if task.is_finished() => {
                    let hosts = task.await.unwrap_or_default();
                    *unresolved = hosts.clone();
                    self.dht_probe = DhtProbe::Done(hosts);
                }
                DhtProbe::Running(_) => {}
                DhtProbe::Done(hosts) => *unresolved = hosts.clone(),
            }
        }
        view
    }

    /// The current status of every watched torrent that still exists.
    pub fn statuses(&self) -> Vec<TorrentStatus> {
        self.torrents.iter().filter_map(|w| self.session.status(w.id).ok()).collect()
    }

    /// Removes the progress bars so a summary can be printed.
    pub fn finish(&mut self) {
        for watched in &mut self.torrents {
            watched.ui.finish();
        }
    }
}

/// Whether a session event may have ended a wait: a torrent completed or changed state (to
/// seeding, to an error), or events were missed.
fn may_end_a_wait(event: &Result<Event, broadcast::error::RecvError>) -> bool {
    match event {
        Ok(Event::TorrentCompleted { .. } | Event::StateChanged { .. }) => true,
        Ok(_) | Err(broadcast::error::RecvError::Closed) => false,
        Err(broadcast::error::RecvError::Lagged(_)) => true,
    }
}

/// The discovery switches in force (a reload may change them).
fn discovery(session: &Session) -> Discovery {
    let options = session.options();
    Discovery { trackers_enabled: options.enable_http_trackers || options.enable_udp_trackers }
}

/// The stall hint of one torrent, tracking how long it has had no peer.
fn stall_hint_for(
    session: &Session,
    discovery: Discovery,
    dht: &DhtView,
    watched: &mut Watched,
    status: &TorrentStatus,
    now: Instant,
) -> Option<StallHint> {
    if status.connected_peers > 0 {
        watched.no_peers_since = None;
        return None;
    }
    let since = *watched.no_peers_since.get_or_insert(now);
    let trackers = session.trackers(watched.id).unwrap_or_default();
    hint::stall_hint(status, now.saturating_duration_since(since), discovery, &trackers, dht)
}

/// A `--dht-port` the user named must be used or fail loudly, as `--listen-port` does: the
/// engine moves to the next free port, so compare what it bound with what was asked.
pub async fn check_dht_port(session: &Session, asked: Option<u16>) -> anyhow::Result<()> {
    let Some(port) = asked.filter(|&p| p != 0) else { return Ok(()) };
    if !session.options().enable_dht {
        return Ok(());
    }
    match session.dht_status().await {
        None => anyhow::bail!("cannot start the dht on udp port {port} (see the warning above)"),
        Some(info) if info.local_addr.port() != port => {
            anyhow::bail!("dht port {port} is in use (udp); name a free one or leave out --dht-port")
        }
        Some(_) => Ok(()),
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
