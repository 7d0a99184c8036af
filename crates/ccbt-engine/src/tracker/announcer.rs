//! The announce loop of one torrent (BEP 12): `started` first, then regular announces at the
//! tracker's interval, `completed` when told, `stopped` on the way out; trackers tried tier by
//! tier, the one that answers promoted in its tier; exponential back-off when none answers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use ccbt_core::{InfoHash, PeerId};
use ccbt_tracker::{
    tracker_scheme, AnnounceEvent, AnnounceRequest, AnnounceResponse, TrackerError, TrackerScheme,
    TrackerTiers,
};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

use super::transport::{http_agent, http_announce, UdpSession};
use super::{AnnouncerOptions, TrackerSnapshot, TrackerStats};

/// What the handle asks of the loop.
#[derive(Debug)]
pub(super) enum Command {
    /// The download finished: send `completed`.
    Completed,
    /// Announce early (e.g. the torrent wants more peers), but not before `min interval`.
    Reannounce,
    /// Send `stopped` and end.
    Stop,
}

/// The torrent and the sinks of one announce loop.
pub(super) struct Announcer {
    pub(super) tiers: TrackerTiers,
    pub(super) info_hash: InfoHash,
    pub(super) peer_id: PeerId,
    pub(super) port: u16,
    pub(super) options: AnnouncerOptions,
    pub(super) stats: Box<dyn Fn() -> TrackerStats + Send + Sync>,
    pub(super) peers_tx: mpsc::Sender<Vec<SocketAddr>>,
    pub(super) status_tx: watch::Sender<Vec<TrackerSnapshot>>,
}

/// Per-tracker state that outlives one announce.
#[derive(Default)]
struct TrackerState {
    /// The tracker accepted our `started`, so it lists us and must get `stopped`.
    started: bool,
    tracker_id: Option<Vec<u8>>,
    udp: Option<UdpSession>,
    snapshot: TrackerSnapshot,
}

/// The loop's own state, separate from [`Announcer`]'s configuration.
struct LoopState {
    key: u32,
    agent: ureq::Agent,
    trackers: HashMap<String, TrackerState>,
    completed_pending: bool,
    /// Consecutive rounds in which no tracker answered.
    failures: u32,
    last_success: Option<Instant>,
    min_interval: Duration,
}

impl Announcer {
    /// Runs until [`Command::Stop`] arrives or the handle is dropped, then sends `stopped`.
    pub(super) async fn run(self, mut commands: mpsc::Receiver<Command>) {
        let mut state = LoopState {
            key: rand::random(),
            agent: http_agent(&self.options.transport),
            trackers: HashMap::new(),
            completed_pending: false,
            failures: 0,
            last_success: None,
            min_interval: Duration::ZERO,
        };
        for (tier, url) in self.tiers.iter() {
            let snapshot = TrackerSnapshot { url: url.to_owned(), tier, ..TrackerSnapshot::default() };
            state.trackers.insert(url.to_owned(), TrackerState { snapshot, ..TrackerState::default() });
        }
        let mut tiers = self.tiers.clone();
        let mut wake_at = Instant::now();
        'main: loop {
            tokio::select! {
                () = sleep_until(wake_at) => {}
                command = commands.recv() => {
                    match command {
                        Some(Command::Completed) => {
                            // `completed` reports an event, it does not ask for peers: like
                            // libtorrent we send it at once; `min interval` only spaces out
                            // announces that ask for more peers.
                            state.completed_pending = true;
                            wake_at = Instant::now();
                        }
                        Some(Command::Reannounce) => wake_at = wake_at.min(state.earliest_reannounce()),
                        Some(Command::Stop) | None => break 'main,
                    }
                    continue;
                }
            }
            // A round can take a while (timeouts, several trackers); commands that arrive meanwhile
            // are noted, and a stop cuts the round short.
            let mut completed_during_round = false;
            let outcome = {
                let round = self.round(&mut state, &mut tiers);
                tokio::pin!(round);
                loop {
                    tokio::select! {
                        outcome = &mut round => break Some(outcome),
                        command = commands.recv() => match command {
                            Some(Command::Completed) => completed_during_round = true,
                            Some(Command::Reannounce) => {}
                            Some(Command::Stop) | None => break None,
                        },
                    }
                }
            };
            let Some(interval) = outcome else { break 'main };
            state.completed_pending |= completed_during_round;
            let now = Instant::now();
            wake_at = match interval {
                Some(interval) => {
                    state.failures = 0;
                    if state.completed_pending {
                        now
                    } else {
                        now + interval
                    }
                }
                None => {
                    state.failures = state.failures.saturating_add(1);
                    now + self.options.backoff(state.failures)
                }
            };
            self.publish(&mut state, Some(wake_at));
        }
        self.send_stopped(&mut state).await;
        self.publish(&mut state, None);
    }

    /// Tries the trackers tier by tier until one answers; returns its interval, or `None` if
    /// every tracker failed.
    async fn round(&self, state: &mut LoopState, tiers: &mut TrackerTiers) -> Option<Duration> {
        let order: Vec<String> = tiers.iter().map(|(_, url)| url.to_owned()).collect();
        for url in order {
            let (started, completed) =
                (state.trackers.get(&url).is_some_and(|t| t.started), state.completed_pending);
            let event = match (started, completed) {
                (false, _) => AnnounceEvent::Started,
                (true, true) => AnnounceEvent::Completed,
                (true, false) => AnnounceEvent::None,
            };
            match self.announce_one(state, &url, event).await {
                Ok(response) => {
                    tiers.promote(&url);
                    if event == AnnounceEvent::Completed {
                        state.completed_pending = false;
                    }
                    state.last_success = Some(Instant::now());
                    state.min_interval = response.min_interval.unwrap_or(Duration::ZERO);
                    return Some(response.interval);
                }
                Err(e) => tracing::warn!(tracker = %url, error = %e, "tracker announce failed"),
            }
            self.publish(state, None);
        }
        None
    }

    /// One announce to one tracker, with the bookkeeping of its answer.
    async fn announce_one(
        &self,
        state: &mut LoopState,
        url: &str,
        event: AnnounceEvent,
    ) -> Result<AnnounceResponse, TrackerError> {
        let stats = (self.stats)();
        let key = state.key;
        let agent = state.agent.clone();
        let tracker = state.trackers.entry(url.to_owned()).or_default();
        let request = AnnounceRequest {
            info_hash: self.info_hash,
            peer_id: self.peer_id,
            port: self.port,
            uploaded: stats.uploaded,
            downloaded: stats.downloaded,
            left: stats.left,
            event,
            numwant: if event == AnnounceEvent::Stopped { Some(0) } else { self.options.numwant },
            key,
            tracker_id: tracker.tracker_id.clone(),
            compact: true,
        };
        let result = match tracker_scheme(url)? {
            TrackerScheme::Http | TrackerScheme::Https => {
                http_announce(&agent, url, &request, self.options.transport.max_body).await
            }
            TrackerScheme::Udp => {
                let session = match tracker.udp.as_mut() {
                    Some(s) => s,
                    None => tracker.udp.insert(UdpSession::open(url, self.options.transport.udp).await?),
                };
                let result = session.announce(request).await;
                if matches!(result, Err(TrackerError::Transport(_))) {
                    // The socket may be unusable (address change, refused port): start afresh.
                    tracker.udp = None;
                }
                result
            }
        };
        let snapshot = &mut tracker.snapshot;
        match &result {
            Ok(response) => {
                if event == AnnounceEvent::Started {
                    tracker.started = true;
                }
                if event == AnnounceEvent::Stopped {
                    tracker.started = false;
                }
                if response.tracker_id.is_some() {
                    tracker.tracker_id.clone_from(&response.tracker_id);
                }
                if let Some(warning) = &response.warning {
                    tracing::warn!(tracker = %url, warning = %warning, "tracker warning");
                }
                snapshot.last_error = None;
                snapshot.last_warning.clone_from(&response.warning);
                snapshot.peers_received = snapshot.peers_received.saturating_add(response.peers.len() as u64);
                snapshot.seeders = response.complete;
                snapshot.leechers = response.incomplete;
                tracing::debug!(tracker = %url, ?event, peers = response.peers.len(), "announced");
                if !response.peers.is_empty() && event != AnnounceEvent::Stopped {
                    // Never wait on a slow torrent: the next announce brings fresh peers anyway.
                    if let Err(e) = self.peers_tx.try_send(response.peers.clone()) {
                        tracing::debug!(tracker = %url, error = %e, "peers from tracker dropped");
                    }
                }
            }
            Err(e) => snapshot.last_error = Some(e.to_string()),
        }
        result
    }

    /// Tells every tracker that lists us that we leave, within the stop timeout.
    async fn send_stopped(&self, state: &mut LoopState) {
        let registered: Vec<String> =
            state.trackers.iter().filter(|(_, t)| t.started).map(|(url, _)| url.clone()).collect();
        let all = async {
            for url in registered {
                if let Err(e) = self.announce_one(state, &url, AnnounceEvent::Stopped).await {
                    tracing::warn!(tracker = %url, error = %e, "tracker stop announce failed");
                }
            }
        };
        if tokio::time::timeout(self.options.stop_timeout, all).await.is_err() {
            tracing::debug!("stopped announces cut short by the stop timeout");
        }
    }

    fn publish(&self, state: &mut LoopState, next: Option<Instant>) {
        let mut snapshots: Vec<TrackerSnapshot> = state
            .trackers
            .values_mut()
            .map(|t| {
                t.snapshot.next_announce_at = next;
                t.snapshot.clone()
            })
            .collect();
        snapshots.sort_by(|a, b| (a.tier, &a.url).cmp(&(b.tier, &b.url)));
        self.status_tx.send_replace(snapshots);
    }
}

impl LoopState {
    /// The earliest moment an early announce may go out: `min interval` after the last success.
    fn earliest_reannounce(&self) -> Instant {
        let now = Instant::now();
        self.last_success.map_or(now, |at| (at + self.min_interval).max(now))
    }
}
