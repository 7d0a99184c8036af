//! Many info hashes announced as a seeder to one tracker (Xet discovery keys, docs/xet.md), as a
//! sans-IO machine: one [`AnnounceSchedule`] per key, each with this tracker as its only tier,
//! so every key gets its own `started`, the tracker's `interval` (and back-off after failures)
//! and its `stopped`; this machine only hands their announces out one at a time and routes the
//! outcomes back.
//!
//! Announces report `left=0`, no transfer counters and `numwant=0` (the holder only makes itself
//! findable). A key that leaves the set gets `stopped` (if the tracker accepted its `started`);
//! [`KeySchedule::handle_stop`] does that for every key on the way out.
//!
//! The driver loop is [`AnnounceSchedule`]'s: `poll_announce`, then `handle_success` or
//! `handle_failure`; `handle_timeout` when `poll_timeout` passes (`poll_announce` also does it);
//! `set_keys` when the set changes; after `handle_stop`, run until [`KeySchedule::is_finished`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ccbt_core::{InfoHash, PeerId};
use rand::Rng;

use crate::{
    AnnounceIdentity, AnnounceJob, AnnounceResponse, AnnounceSchedule, ScheduleOptions, TrackerTiers,
    TransferStats,
};

/// The schedule options of a key: no peers wanted, and time for the `stopped` of a key that
/// left the set while the tracker works through others (on the way out the driver bounds the
/// total wait itself).
pub fn key_schedule_options() -> ScheduleOptions {
    ScheduleOptions { numwant: Some(0), stop_timeout: Duration::from_secs(120), ..ScheduleOptions::default() }
}

/// The keys announced to one tracker. See the module documentation.
#[derive(Debug)]
pub struct KeySchedule {
    url: String,
    peer_id: PeerId,
    port: u16,
    options: ScheduleOptions,
    /// Keys in the set.
    active: BTreeMap<InfoHash, AnnounceSchedule>,
    /// Keys that left the set, until their `stopped` is done.
    leaving: BTreeMap<InfoHash, AnnounceSchedule>,
    /// The key whose announce is out, if one is.
    in_flight: Option<InfoHash>,
    stopping: bool,
}

impl KeySchedule {
    /// No keys yet: [`KeySchedule::set_keys`] gives them.
    pub fn new(url: String, peer_id: PeerId, port: u16, options: ScheduleOptions) -> KeySchedule {
        KeySchedule {
            url,
            peer_id,
            port,
            options,
            active: BTreeMap::new(),
            leaving: BTreeMap::new(),
            in_flight: None,
            stopping: false,
        }
    }

    /// The tracker's announce URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The keys in the set.
    pub fn keys(&self) -> Vec<InfoHash> {
        self.active.keys().copied().collect()
    }

    /// Announces since the start that got an answer, and that failed, over the keys in the set.
    pub fn counts(&self) -> (u64, u64) {
        self.active
            .values()
            .flat_map(|s| s.trackers())
            .fold((0, 0), |(ok, failed), t| (ok + t.announces_ok, failed + t.announces_failed))
    }

    /// Makes `keys` the set: a new key's `started` is due at once; a key that left gets
    /// `stopped`. Keys already in the set keep their schedule (no early re-announce, so the
    /// tracker's `min interval` is never undercut). Ignored once stopping.
    pub fn set_keys(&mut self, now: Instant, keys: &[InfoHash], rng: &mut impl Rng) {
        if self.stopping {
            return;
        }
        let gone: Vec<InfoHash> = self.active.keys().filter(|k| !keys.contains(k)).copied().collect();
        for key in gone {
            if let Some(mut schedule) = self.active.remove(&key) {
                self.abandon_if_in_flight(&key);
                schedule.handle_stop(now);
                self.keep_leaving(key, schedule);
            }
        }
        for key in keys {
            if self.active.contains_key(key) {
                continue;
            }
            // Back before its `stopped` went out: start afresh (`started` again).
            if self.leaving.remove(key).is_some() {
                self.abandon_if_in_flight(key);
            }
            let identity = AnnounceIdentity { info_hash: *key, peer_id: self.peer_id, port: self.port };
            let tiers = TrackerTiers::new(vec![vec![self.url.clone()]], rng);
            let schedule = AnnounceSchedule::new(identity, tiers, self.options.clone(), now, rng);
            self.active.insert(*key, schedule);
        }
    }

    /// Leave: every key gets `stopped` (those the tracker accepted), then the machine is over.
    pub fn handle_stop(&mut self, now: Instant) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        // A regular announce out is abandoned; a `stopped` out still counts.
        if let Some(key) = self.in_flight {
            if self.active.contains_key(&key) {
                self.in_flight = None;
            }
        }
        for (key, mut schedule) in std::mem::take(&mut self.active) {
            schedule.handle_stop(now);
            self.keep_leaving(key, schedule);
        }
    }

    /// Whether every key has left (only after [`KeySchedule::handle_stop`]).
    pub fn is_finished(&self) -> bool {
        self.stopping && self.leaving.is_empty()
    }

    /// When [`KeySchedule::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.leaving.values().chain(self.active.values()).filter_map(AnnounceSchedule::poll_timeout).min()
    }

    /// Starts the due rounds and ends `stopped` phases past their deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        for schedule in self.active.values_mut() {
            schedule.handle_timeout(now);
        }
        for schedule in self.leaving.values_mut() {
            schedule.handle_timeout(now);
        }
        self.drop_finished();
    }

    /// The announce to perform now, if any: one at a time, `stopped` ones first.
    pub fn poll_announce(&mut self, now: Instant) -> Option<AnnounceJob> {
        self.handle_timeout(now);
        if self.in_flight.is_some() {
            return None;
        }
        let seeder = TransferStats::default();
        let job = self
            .leaving
            .values_mut()
            .chain(self.active.values_mut())
            .find_map(|schedule| schedule.poll_announce(now, seeder))?;
        self.in_flight = Some(job.request.info_hash);
        Some(job)
    }

    /// The announce `job` got `response`. A job no longer in flight is ignored.
    pub fn handle_success(&mut self, now: Instant, job: &AnnounceJob, response: &AnnounceResponse) {
        if let Some(schedule) = self.take_in_flight(job) {
            schedule.handle_success(now, job, response);
        }
        self.drop_finished();
    }

    /// The announce `job` failed.
    pub fn handle_failure(&mut self, now: Instant, job: &AnnounceJob, reason: String) {
        if let Some(schedule) = self.take_in_flight(job) {
            schedule.handle_failure(now, job, reason);
        }
        self.drop_finished();
    }

    /// The schedule of the job in flight, which is no longer in flight.
    fn take_in_flight(&mut self, job: &AnnounceJob) -> Option<&mut AnnounceSchedule> {
        let key = job.request.info_hash;
        if self.in_flight != Some(key) {
            return None;
        }
        self.in_flight = None;
        self.leaving.get_mut(&key).or_else(|| self.active.get_mut(&key))
    }

    /// A key whose announce is out changed sides: its answer no longer matters (its schedule
    /// ignores it too).
    fn abandon_if_in_flight(&mut self, key: &InfoHash) {
        if self.in_flight == Some(*key) {
            self.in_flight = None;
        }
    }

    fn keep_leaving(&mut self, key: InfoHash, mut schedule: AnnounceSchedule) {
        let _ = schedule.poll_event();
        if !schedule.is_finished() {
            self.leaving.insert(key, schedule);
        }
    }

    fn drop_finished(&mut self) {
        self.leaving.retain(|_, schedule| {
            while schedule.poll_event().is_some() {}
            !schedule.is_finished()
        });
        // A `stopped` whose deadline passed while it was out: its key is gone.
        if let Some(key) = self.in_flight {
            if !self.leaving.contains_key(&key) && !self.active.contains_key(&key) {
                self.in_flight = None;
            }
        }
    }
}

#[cfg(test)]
#[path = "key_schedule_tests.rs"]
mod tests;
