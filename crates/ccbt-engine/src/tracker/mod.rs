//! Tracker discovery for a torrent: the tokio driver of `ccbt-tracker`'s sans-IO code.
//!
//! [`spawn_announcer`] drives the announce schedule of one torrent (`ccbt_tracker::AnnounceSchedule`,
//! which decides tiers, events, intervals and back-off) as a task that performs the announces and
//! sends the peers it learns into a channel; [`scrape`] asks one tracker for swarm counters (for
//! the CLI).

mod announcer;
mod transport;

#[cfg(test)]
mod fake_tests;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use ccbt_core::{InfoHash, PeerId};
use ccbt_tracker::{
    tracker_scheme, AnnounceIdentity, AnnounceSchedule, ScheduleOptions, ScrapeStats, TrackerError,
    TrackerScheme, TrackerTiers,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) use announcer::{perform, poll_opt, sleep_until_opt, InFlight};
use announcer::{Announcer, Command};
use transport::http_scrape;
pub(crate) use transport::TransportOptions;
pub(crate) use transport::UdpSession;
pub(crate) use transport::{http_agent, http_agent_unpooled};

/// Transfer counters reported in every announce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TrackerStats {
    /// Payload bytes sent since the torrent started.
    pub(crate) uploaded: u64,
    /// Payload bytes received since the torrent started.
    pub(crate) downloaded: u64,
    /// Bytes still missing.
    pub(crate) left: u64,
}

/// Tunables of the announce loop.
#[derive(Clone, Debug)]
pub(crate) struct AnnouncerOptions {
    /// Peers asked for per announce (`None`: the tracker's default).
    pub(crate) numwant: Option<u32>,
    /// First wait after a round in which no tracker answered; doubles per failed round.
    pub(crate) backoff_base: Duration,
    /// Longest wait between failed rounds.
    pub(crate) backoff_max: Duration,
    /// How long `stopped` announces may take when the torrent stops.
    pub(crate) stop_timeout: Duration,
    /// Network limits.
    pub(crate) transport: TransportOptions,
}

impl Default for AnnouncerOptions {
    fn default() -> AnnouncerOptions {
        AnnouncerOptions {
            numwant: Some(200),
            backoff_base: Duration::from_secs(15),
            backoff_max: Duration::from_secs(30 * 60),
            stop_timeout: Duration::from_secs(3),
            transport: TransportOptions::default(),
        }
    }
}

impl AnnouncerOptions {
    /// The schedule's share of the options.
    fn schedule(&self) -> ScheduleOptions {
        ScheduleOptions {
            numwant: self.numwant,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
            stop_timeout: self.stop_timeout,
        }
    }
}

/// The torrent an announcer announces.
#[derive(Clone, Debug)]
pub(crate) struct AnnounceTarget {
    /// Tracker URLs by tier (BEP 12), as in the metainfo or magnet link.
    pub(crate) tiers: Vec<Vec<String>>,
    /// The torrent.
    pub(crate) info_hash: InfoHash,
    /// Our peer id.
    pub(crate) peer_id: PeerId,
    /// Our listening port.
    pub(crate) port: u16,
}

/// What one tracker last said, for status displays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TrackerStatus {
    /// The announce URL.
    pub(crate) url: String,
    /// Its tier (0 first).
    pub(crate) tier: usize,
    /// Why the last announce failed, if it did.
    pub(crate) last_error: Option<String>,
    /// The warning of the last successful announce.
    pub(crate) last_warning: Option<String>,
    /// Peers received from this tracker so far.
    pub(crate) peers_received: u64,
    /// Seeders, as the tracker last counted them.
    pub(crate) seeders: Option<u32>,
    /// Leechers, as the tracker last counted them.
    pub(crate) leechers: Option<u32>,
    /// Announces answered, and failed, so far.
    pub(crate) announces_ok: u64,
    pub(crate) announces_failed: u64,
    /// Time until the next announce round, if one is scheduled.
    pub(crate) next_announce_in: Option<Duration>,
}

/// [`TrackerStatus`] as the loop publishes it: an instant, turned into a duration when read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct TrackerSnapshot {
    url: String,
    tier: usize,
    last_error: Option<String>,
    last_warning: Option<String>,
    peers_received: u64,
    seeders: Option<u32>,
    leechers: Option<u32>,
    announces_ok: u64,
    announces_failed: u64,
    next_announce_at: Option<Instant>,
}

/// Controls a running announce loop. Dropping it ends the loop too (after `stopped` announces).
#[derive(Debug)]
pub(crate) struct AnnouncerHandle {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<Vec<TrackerSnapshot>>,
    task: JoinHandle<()>,
    stop_timeout: Duration,
}

impl AnnouncerHandle {
    /// The download completed: announce `completed` (as soon as `min interval` allows).
    pub(crate) async fn completed(&self) {
        // The loop drains commands even during an announce round, so this waits very little.
        let _ = self.commands.send(Command::Completed).await;
    }

    /// Announce early (the torrent wants more peers), but not before `min interval`.
    pub(crate) fn reannounce(&self) {
        let _ = self.commands.try_send(Command::Reannounce);
    }

    /// What each tracker last said.
    pub(crate) fn status(&self) -> Vec<TrackerStatus> {
        let now = Instant::now();
        self.status
            .borrow()
            .iter()
            .map(|s| TrackerStatus {
                url: s.url.clone(),
                tier: s.tier,
                last_error: s.last_error.clone(),
                last_warning: s.last_warning.clone(),
                peers_received: s.peers_received,
                seeders: s.seeders,
                leechers: s.leechers,
                announces_ok: s.announces_ok,
                announces_failed: s.announces_failed,
                next_announce_in: s.next_announce_at.map(|at| at.saturating_duration_since(now)),
            })
            .collect()
    }

    /// Sends `stopped` to the trackers that list us and ends the loop; waits at most the stop
    /// timeout (plus a little for the task to wind down), then abandons it.
    pub(crate) async fn stop(self) {
        let _ = self.commands.send(Command::Stop).await;
        let mut task = self.task;
        let grace = self.stop_timeout + Duration::from_millis(500);
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Starts the announce loop of one torrent. `stats` is read at every announce; learned peers
/// go to `peers_tx` (dropped, not waited for, when it is full).
pub(crate) fn spawn_announcer(
    target: AnnounceTarget,
    options: AnnouncerOptions,
    stats: impl Fn() -> TrackerStats + Send + Sync + 'static,
    peers_tx: mpsc::Sender<Vec<SocketAddr>>,
) -> AnnouncerHandle {
    let mut rng = rand::thread_rng();
    let tiers = TrackerTiers::new(target.tiers, &mut rng);
    let identity =
        AnnounceIdentity { info_hash: target.info_hash, peer_id: target.peer_id, port: target.port };
    let schedule =
        AnnounceSchedule::new(identity, tiers, options.schedule(), Instant::now().into_std(), &mut rng);
    let (commands_tx, commands_rx) = mpsc::channel(8);
    let (status_tx, status_rx) = watch::channel(Vec::new());
    let stop_timeout = options.stop_timeout;
    let announcer =
        Announcer { schedule, transport: options.transport, stats: Box::new(stats), peers_tx, status_tx };
    let task = tokio::spawn(announcer.run(commands_rx));
    AnnouncerHandle { commands: commands_tx, status: status_rx, task, stop_timeout }
}

/// Asks the tracker at `url` (http, https or udp) for the counters of one torrent.
pub(crate) async fn scrape(url: &str, info_hash: InfoHash) -> Result<ScrapeStats, TrackerError> {
    scrape_with(url, info_hash, &TransportOptions::default()).await
}

/// [`scrape`] with explicit network limits.
pub(crate) async fn scrape_with(
    url: &str,
    info_hash: InfoHash,
    options: &TransportOptions,
) -> Result<ScrapeStats, TrackerError> {
    match tracker_scheme(url)? {
        TrackerScheme::Http | TrackerScheme::Https => {
            http_scrape(&http_agent(options), url, &info_hash, options.max_body).await
        }
        TrackerScheme::Udp => UdpSession::open(url, options.udp).await?.scrape(info_hash).await,
    }
}
