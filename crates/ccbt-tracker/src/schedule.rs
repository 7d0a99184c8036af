//! The announce schedule of one torrent (BEP 3, BEP 12) as a sans-IO machine, after quinn's
//! `Connection`: the driver performs the announces this machine asks for and feeds back their
//! outcome and the passing of time.
//!
//! The rules: `started` to a tracker first, regular announces at the interval of the tracker that
//! answered, `completed` as soon as the download completes (it reports an event, it does not ask
//! for peers, so like libtorrent it is not held back by `min interval`), early re-announces no
//! sooner than `min interval` after the last success, and `stopped` to every tracker that accepted
//! our `started`, within a deadline, on the way out. Trackers are tried tier by tier; the first
//! that answers ends the round and moves to the front of its tier (BEP 12). A round in which none
//! answers is followed by an exponentially growing pause.
//!
//! The driver loop:
//! 1. `poll_announce(now, stats)`: an announce to perform (at most one at a time); when it ends,
//!    `handle_success` or `handle_failure`;
//! 2. when `poll_timeout()` passes: `handle_timeout(now)`;
//! 3. commands from the torrent: `handle_completed`, `handle_reannounce`, `handle_stop`;
//! 4. `poll_event()` after each of these: [`ScheduleEvent::Finished`] means the schedule is over
//!    (an announce still in flight is abandoned).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ccbt_core::{InfoHash, PeerId};
use rand::Rng;

use crate::{AnnounceEvent, AnnounceRequest, AnnounceResponse, TrackerTiers};

/// Tunables of the schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleOptions {
    /// Peers asked for per announce (`None`: the tracker's default).
    pub numwant: Option<u32>,
    /// First pause after a round in which no tracker answered; doubles per failed round.
    pub backoff_base: Duration,
    /// Longest pause between failed rounds.
    pub backoff_max: Duration,
    /// How long the `stopped` announces may take in all.
    pub stop_timeout: Duration,
}

impl Default for ScheduleOptions {
    fn default() -> ScheduleOptions {
        ScheduleOptions {
            numwant: Some(200),
            backoff_base: Duration::from_secs(15),
            backoff_max: Duration::from_secs(30 * 60),
            stop_timeout: Duration::from_secs(3),
        }
    }
}

impl ScheduleOptions {
    /// The pause after `failures` consecutive failed rounds: `base · 2^(failures-1)`, capped.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.backoff_base.saturating_mul(1 << doublings).min(self.backoff_max)
    }
}

/// The torrent being announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceIdentity {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id.
    pub peer_id: PeerId,
    /// The port we accept peer connections on.
    pub port: u16,
}

/// Transfer counters reported in an announce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Payload bytes sent since the torrent started.
    pub uploaded: u64,
    /// Payload bytes received since the torrent started.
    pub downloaded: u64,
    /// Bytes still missing.
    pub left: u64,
}

/// An announce the driver must perform, then report with `handle_success`/`handle_failure`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceJob {
    /// The tracker's announce URL.
    pub url: String,
    /// What to send.
    pub request: AnnounceRequest,
}

/// What the schedule tells its driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleEvent {
    /// The `stopped` announces are done (or their deadline passed): the schedule is over.
    Finished,
}

/// What one tracker last said, for status displays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackerInfo {
    /// The announce URL.
    pub url: String,
    /// Its tier (0 first).
    pub tier: usize,
    /// Why the last announce failed, if it did.
    pub last_error: Option<String>,
    /// The warning of the last successful announce.
    pub last_warning: Option<String>,
    /// Peers received from this tracker so far.
    pub peers_received: u64,
    /// Seeders, as the tracker last counted them.
    pub seeders: Option<u32>,
    /// Leechers, as the tracker last counted them.
    pub leechers: Option<u32>,
    /// Announces to this tracker that got an answer, and that failed (errors, timeouts,
    /// `failure reason`), for the metrics.
    pub announces_ok: u64,
    pub announces_failed: u64,
    /// The tracker accepted our `started`, so it lists us and must get `stopped`.
    started: bool,
    tracker_id: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the next round.
    Idle { next_at: Instant },
    /// Trying the trackers of `order` from `pos` on; `in_flight` once the job was handed out.
    Round { order: Vec<String>, pos: usize, in_flight: bool },
    /// Sending `stopped` to the trackers left in `queue`, until `deadline`.
    Stopping { queue: VecDeque<String>, in_flight: bool, deadline: Instant },
    /// Over.
    Finished,
}

/// The announce schedule of one torrent. See the module documentation for the driver loop.
#[derive(Clone, Debug)]
pub struct AnnounceSchedule {
    identity: AnnounceIdentity,
    options: ScheduleOptions,
    tiers: TrackerTiers,
    trackers: Vec<TrackerInfo>,
    key: u32,
    phase: Phase,
    completed_pending: bool,
    /// Consecutive rounds in which no tracker answered.
    failures: u32,
    last_success: Option<Instant>,
    min_interval: Duration,
    events: VecDeque<ScheduleEvent>,
}

impl AnnounceSchedule {
    /// A schedule whose first round is due at `now`. The announce `key` comes from `rng`.
    pub fn new(
        identity: AnnounceIdentity,
        tiers: TrackerTiers,
        options: ScheduleOptions,
        now: Instant,
        rng: &mut impl Rng,
    ) -> AnnounceSchedule {
        let trackers = tiers
            .iter()
            .map(|(tier, url)| TrackerInfo { url: url.to_owned(), tier, ..TrackerInfo::default() })
            .collect();
        AnnounceSchedule {
            identity,
            options,
            tiers,
            trackers,
            key: rng.gen(),
            phase: Phase::Idle { next_at: now },
            completed_pending: false,
            failures: 0,
            last_success: None,
            min_interval: Duration::ZERO,
            events: VecDeque::new(),
        }
    }

    /// What each tracker last said, tier by tier in the configured order.
    pub fn trackers(&self) -> &[TrackerInfo] {
        &self.trackers
    }

    /// When the next round starts, if one is scheduled.
    pub fn next_announce_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Idle { next_at } => Some(next_at),
            _ => None,
        }
    }

    /// Whether the schedule is over.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// When [`AnnounceSchedule::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Idle { next_at } => Some(*next_at),
            Phase::Stopping { deadline, .. } => Some(*deadline),
            Phase::Round { .. } | Phase::Finished => None,
        }
    }

    /// Starts a due round; ends the stop phase once its deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.phase {
            Phase::Idle { next_at } if now >= *next_at => self.start_round(now),
            Phase::Stopping { deadline, .. } if now >= *deadline => self.finish(),
            _ => {}
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ScheduleEvent> {
        self.events.pop_front()
    }

    /// The announce to perform now, if any (one at a time: none while one is in flight).
    pub fn poll_announce(&mut self, now: Instant, stats: TransferStats) -> Option<AnnounceJob> {
        self.handle_timeout(now);
        let (url, event) = match &mut self.phase {
            Phase::Round { order, pos, in_flight } if !*in_flight => {
                let url = order.get(*pos)?.clone();
                *in_flight = true;
                let started = self.trackers.iter().any(|t| t.url == url && t.started);
                let event = match (started, self.completed_pending) {
                    (false, _) => AnnounceEvent::Started,
                    (true, true) => AnnounceEvent::Completed,
                    (true, false) => AnnounceEvent::None,
                };
                (url, event)
            }
            Phase::Stopping { queue, in_flight, .. } if !*in_flight => {
                let url = queue.front()?.clone();
                *in_flight = true;
                (url, AnnounceEvent::Stopped)
            }
            _ => return None,
        };
        let tracker_id = self.tracker(&url).and_then(|t| t.tracker_id.clone());
        let request = AnnounceRequest {
            info_hash: self.identity.info_hash,
            peer_id: self.identity.peer_id,
            port: self.identity.port,
            uploaded: stats.uploaded,
            downloaded: stats.downloaded,
            left: stats.left,
            event,
            numwant: if event == AnnounceEvent::Stopped { Some(0) } else { self.options.numwant },
            key: self.key,
            tracker_id,
            compact: true,
        };
        Some(AnnounceJob { url, request })
    }

    /// The announce `job` got `response`.
    /// A job that is not the one in flight (abandoned by a stop) is ignored.
    pub fn handle_success(&mut self, now: Instant, job: &AnnounceJob, response: &AnnounceResponse) {
        if !self.is_in_flight(job) {
            return;
        }
        let event = job.request.event;
        if let Some(t) = self.tracker_mut(&job.url) {
            t.started = event != AnnounceEvent::Stopped;
            if response.tracker_id.is_some() {
                t.tracker_id.clone_from(&response.tracker_id);
            }
            t.last_error = None;
            t.last_warning.clone_from(&response.warning);
            t.peers_received = t.peers_received.saturating_add(response.peers.len() as u64);
            t.seeders = response.complete;
            t.leechers = response.incomplete;
            t.announces_ok += 1;
        }
        if matches!(self.phase, Phase::Round { .. }) {
            self.tiers.promote(&job.url);
            if event == AnnounceEvent::Completed {
                self.completed_pending = false;
            }
            self.failures = 0;
            self.last_success = Some(now);
            self.min_interval = response.min_interval.unwrap_or(Duration::ZERO);
            // A completion that arrived during the round goes out at once.
            let next_at = if self.completed_pending { now } else { now + response.interval };
            self.phase = Phase::Idle { next_at };
        } else {
            self.next_stop();
        }
    }

    /// The announce `job` failed; `reason` is shown in the tracker's status.
    pub fn handle_failure(&mut self, now: Instant, job: &AnnounceJob, reason: String) {
        if !self.is_in_flight(job) {
            return;
        }
        if let Some(t) = self.tracker_mut(&job.url) {
            t.last_error = Some(reason);
            t.announces_failed += 1;
        }
        match &mut self.phase {
            Phase::Round { order, pos, in_flight } => {
                *pos += 1;
                *in_flight = false;
                if *pos >= order.len() {
                    self.failures = self.failures.saturating_add(1);
                    self.phase = Phase::Idle { next_at: now + self.options.backoff(self.failures) };
                }
            }
            Phase::Stopping { .. } => self.next_stop(),
            _ => {}
        }
    }

    /// The download completed: announce `completed` at once (during a round: right after it).
    pub fn handle_completed(&mut self, now: Instant) {
        self.completed_pending = true;
        if let Phase::Idle { next_at } = &mut self.phase {
            *next_at = now;
        }
    }

    /// Announce early (the torrent wants peers), but not before `min interval` after the last
    /// success. Ignored during a round.
    pub fn handle_reannounce(&mut self, now: Instant) {
        let earliest = self.last_success.map_or(now, |at| (at + self.min_interval).max(now));
        if let Phase::Idle { next_at } = &mut self.phase {
            *next_at = (*next_at).min(earliest);
        }
    }

    /// Leave: send `stopped` to every tracker that accepted our `started`, within the stop
    /// timeout. An announce in flight is abandoned (the driver drops it).
    pub fn handle_stop(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Stopping { .. } | Phase::Finished) {
            return;
        }
        let queue: VecDeque<String> =
            self.trackers.iter().filter(|t| t.started).map(|t| t.url.clone()).collect();
        self.phase = Phase::Stopping { queue, in_flight: false, deadline: now + self.options.stop_timeout };
        self.next_stop_if_empty();
    }

    /// Whether `job` is the announce handed out last and not yet reported.
    fn is_in_flight(&self, job: &AnnounceJob) -> bool {
        match &self.phase {
            Phase::Round { order, pos, in_flight: true } => {
                order.get(*pos) == Some(&job.url) && job.request.event != AnnounceEvent::Stopped
            }
            Phase::Stopping { queue, in_flight: true, .. } => {
                queue.front() == Some(&job.url) && job.request.event == AnnounceEvent::Stopped
            }
            _ => false,
        }
    }

    fn start_round(&mut self, now: Instant) {
        let order: Vec<String> = self.tiers.iter().map(|(_, url)| url.to_owned()).collect();
        if order.is_empty() {
            // No usable tracker: nothing will ever be due.
            self.phase = Phase::Idle { next_at: far_future(now) };
            return;
        }
        self.phase = Phase::Round { order, pos: 0, in_flight: false };
    }

    /// The `stopped` at the head of the queue is done (either way): on to the next.
    fn next_stop(&mut self) {
        if let Phase::Stopping { queue, in_flight, .. } = &mut self.phase {
            queue.pop_front();
            *in_flight = false;
        }
        self.next_stop_if_empty();
    }

    fn next_stop_if_empty(&mut self) {
        if matches!(&self.phase, Phase::Stopping { queue, .. } if queue.is_empty()) {
            self.finish();
        }
    }

    fn finish(&mut self) {
        self.phase = Phase::Finished;
        self.events.push_back(ScheduleEvent::Finished);
    }

    fn tracker(&self, url: &str) -> Option<&TrackerInfo> {
        self.trackers.iter().find(|t| t.url == url)
    }

    fn tracker_mut(&mut self, url: &str) -> Option<&mut TrackerInfo> {
        self.trackers.iter_mut().find(|t| t.url == url)
    }
}

/// A deadline that never comes in practice (a year), without overflowing `Instant`.
fn far_future(now: Instant) -> Instant {
    now.checked_add(Duration::from_secs(365 * 24 * 3600)).unwrap_or(now)
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
