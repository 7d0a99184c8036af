use std::net::SocketAddr;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::AnnounceEvent;

const URL: &str = "udp://t.example:6969/announce";

fn key(n: u8) -> InfoHash {
    InfoHash([n; 20])
}

fn answer(interval: u64) -> AnnounceResponse {
    AnnounceResponse {
        interval: Duration::from_secs(interval),
        min_interval: Some(Duration::from_secs(interval / 2)),
        tracker_id: None,
        complete: Some(1),
        incomplete: Some(0),
        peers: vec![SocketAddr::from(([10, 0, 0, 1], 1))],
        warning: None,
    }
}

/// A virtual clock and a tracker that answers every announce at once.
struct Sim {
    t0: Instant,
    now: Instant,
    s: KeySchedule,
    rng: StdRng,
    /// `(seconds since start, key byte, event)` of every announce performed.
    log: Vec<(u64, u8, AnnounceEvent)>,
}

impl Sim {
    fn new() -> Sim {
        let t0 = Instant::now();
        let s = KeySchedule::new(URL.into(), PeerId([9; 20]), 7000, key_schedule_options());
        Sim { t0, now: t0, s, rng: StdRng::seed_from_u64(3), log: Vec::new() }
    }

    fn set(&mut self, keys: &[u8]) {
        let keys: Vec<InfoHash> = keys.iter().map(|&k| key(k)).collect();
        self.s.set_keys(self.now, &keys, &mut self.rng);
    }

    /// Performs every announce due now; `fail` says which keys the tracker refuses.
    fn pump(&mut self, fail: &dyn Fn(u8) -> bool) {
        while let Some(job) = self.s.poll_announce(self.now) {
            let r = &job.request;
            assert_eq!(
                (job.url.as_str(), r.peer_id, r.port, r.left, r.uploaded),
                (URL, PeerId([9; 20]), 7000, 0, 0)
            );
            assert_eq!(r.numwant, Some(0), "a holder wants no peers");
            let k = r.info_hash.0[0];
            self.log.push((self.now.duration_since(self.t0).as_secs(), k, r.event));
            if fail(k) {
                self.s.handle_failure(self.now, &job, "refused".into());
            } else {
                self.s.handle_success(self.now, &job, &answer(1800));
            }
        }
    }

    fn advance_to(&mut self, secs: u64) {
        self.now = self.t0 + Duration::from_secs(secs);
    }

    fn take_log(&mut self) -> Vec<(u64, u8, AnnounceEvent)> {
        std::mem::take(&mut self.log)
    }
}

fn ok(_: u8) -> bool {
    false
}

#[test]
fn each_key_starts_then_reannounces_at_the_tracker_s_interval() {
    let mut sim = Sim::new();
    sim.set(&[1, 2]);
    sim.pump(&ok);
    assert_eq!(sim.take_log(), vec![(0, 1, AnnounceEvent::Started), (0, 2, AnnounceEvent::Started)]);
    assert_eq!(sim.s.poll_timeout(), Some(sim.t0 + Duration::from_secs(1800)));
    sim.advance_to(1799);
    sim.pump(&ok);
    assert!(sim.take_log().is_empty());
    sim.advance_to(1800);
    sim.pump(&ok);
    assert_eq!(sim.take_log(), vec![(1800, 1, AnnounceEvent::None), (1800, 2, AnnounceEvent::None)]);
    assert_eq!(sim.s.counts(), (4, 0));
    assert_eq!(sim.s.keys(), vec![key(1), key(2)]);
}

#[test]
fn a_refused_key_backs_off_alone() {
    let mut sim = Sim::new();
    sim.set(&[1, 2]);
    sim.pump(&|k| k == 2);
    assert_eq!(sim.take_log(), vec![(0, 1, AnnounceEvent::Started), (0, 2, AnnounceEvent::Started)]);
    // The refused key tries again after the back-off (15 s, then 30 s); the other waits its interval.
    sim.advance_to(15);
    sim.pump(&|k| k == 2);
    sim.advance_to(45);
    sim.pump(&ok);
    assert_eq!(sim.take_log(), vec![(15, 2, AnnounceEvent::Started), (45, 2, AnnounceEvent::Started)]);
    assert_eq!(sim.s.counts(), (2, 2));
}

#[test]
fn a_key_that_leaves_gets_stopped_only_if_the_tracker_listed_it() {
    let mut sim = Sim::new();
    sim.set(&[1, 2, 3]);
    sim.pump(&|k| k == 3);
    sim.take_log();
    sim.advance_to(5);
    sim.set(&[1]);
    sim.pump(&ok);
    // Key 3 was never accepted: nothing to stop.
    assert_eq!(sim.take_log(), vec![(5, 2, AnnounceEvent::Stopped)]);
    assert_eq!(sim.s.keys(), vec![key(1)]);
    // Back again: a fresh `started`.
    sim.set(&[1, 2]);
    sim.pump(&ok);
    assert_eq!(sim.take_log(), vec![(5, 2, AnnounceEvent::Started)]);
}

#[test]
fn stop_sends_stopped_for_every_listed_key_then_finishes() {
    let mut sim = Sim::new();
    sim.set(&[1, 2]);
    sim.pump(&ok);
    sim.take_log();
    assert!(!sim.s.is_finished());
    sim.advance_to(10);
    sim.s.handle_stop(sim.now);
    // New keys are ignored once stopping.
    sim.set(&[4]);
    sim.pump(&ok);
    assert_eq!(sim.take_log(), vec![(10, 1, AnnounceEvent::Stopped), (10, 2, AnnounceEvent::Stopped)]);
    assert!(sim.s.is_finished());
    assert_eq!(sim.s.poll_announce(sim.now), None);
}

#[test]
fn stop_without_any_key_finishes_at_once() {
    let mut sim = Sim::new();
    sim.s.handle_stop(sim.now);
    assert!(sim.s.is_finished());
}

#[test]
fn one_announce_at_a_time_and_abandoned_answers_are_ignored() {
    let mut sim = Sim::new();
    sim.set(&[1, 2]);
    let first = sim.s.poll_announce(sim.now).unwrap();
    assert_eq!(first.request.info_hash, key(1));
    assert_eq!(sim.s.poll_announce(sim.now), None, "one in flight");
    // Key 1 leaves while its `started` is out: the answer no longer counts, and since the
    // tracker never confirmed it, no `stopped` follows.
    sim.set(&[2]);
    sim.s.handle_success(sim.now, &first, &answer(1800));
    sim.pump(&ok);
    assert_eq!(sim.take_log(), vec![(0, 2, AnnounceEvent::Started)]);
    assert_eq!(sim.s.counts(), (1, 0));
}

#[test]
fn a_stopped_past_its_deadline_is_given_up() {
    let mut sim = Sim::new();
    sim.set(&[1]);
    sim.pump(&ok);
    sim.s.handle_stop(sim.now);
    let job = sim.s.poll_announce(sim.now).unwrap();
    assert_eq!(job.request.event, AnnounceEvent::Stopped);
    sim.advance_to(121);
    sim.s.handle_timeout(sim.now);
    assert!(sim.s.is_finished());
    // The late answer changes nothing.
    sim.s.handle_failure(sim.now, &job, "late".into());
    assert!(sim.s.is_finished());
}
