use std::net::SocketAddr;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;

const MIN: Duration = Duration::from_secs(60);

fn identity() -> AnnounceIdentity {
    AnnounceIdentity { info_hash: InfoHash([1; 20]), peer_id: PeerId([2; 20]), port: 6881 }
}

fn tiers(t: &[&[&str]]) -> TrackerTiers {
    let t = t.iter().map(|tier| tier.iter().map(|u| (*u).to_owned()).collect()).collect();
    // A fixed seed; tests that care about order use one tracker per tier.
    TrackerTiers::new(t, &mut StdRng::seed_from_u64(0))
}

fn answer(interval: Duration, min_interval: Option<Duration>) -> AnnounceResponse {
    AnnounceResponse {
        interval,
        min_interval,
        tracker_id: None,
        complete: Some(3),
        incomplete: Some(4),
        peers: vec![SocketAddr::from(([10, 0, 0, 1], 1))],
        warning: None,
    }
}

/// A virtual-clock driver: answers every job at once through `tracker`, logging
/// `(seconds since start, url, event)`.
struct Sim {
    t0: Instant,
    now: Instant,
    s: AnnounceSchedule,
    log: Vec<(u64, String, AnnounceEvent)>,
}

type Tracker<'a> = &'a mut dyn FnMut(&str, AnnounceEvent) -> Result<AnnounceResponse, String>;

impl Sim {
    fn new(t: TrackerTiers, options: ScheduleOptions) -> Sim {
        let t0 = Instant::now();
        let s = AnnounceSchedule::new(identity(), t, options, t0, &mut StdRng::seed_from_u64(1));
        Sim { t0, now: t0, s, log: Vec::new() }
    }

    fn pump(&mut self, tracker: Tracker<'_>) {
        while let Some(job) = self.s.poll_announce(self.now, TransferStats::default()) {
            let secs = self.now.duration_since(self.t0).as_secs();
            self.log.push((secs, job.url.clone(), job.request.event));
            match tracker(&job.url, job.request.event) {
                Ok(r) => self.s.handle_success(self.now, &job, &r),
                Err(e) => self.s.handle_failure(self.now, &job, e),
            }
        }
    }

    /// Runs the schedule until `until` (seconds since start) of virtual time.
    fn run(&mut self, until: u64, tracker: Tracker<'_>) {
        let end = self.t0 + Duration::from_secs(until);
        loop {
            self.pump(tracker);
            match self.s.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.s.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
    }

    fn events(&self) -> Vec<(u64, &str, AnnounceEvent)> {
        self.log.iter().map(|(t, u, e)| (*t, u.as_str(), *e)).collect()
    }
}

#[test]
fn started_then_regular_announces_at_the_interval() {
    let mut sim = Sim::new(tiers(&[&["http://a/"]]), ScheduleOptions::default());
    sim.run(3600, &mut |_, _| Ok(answer(30 * MIN, None)));
    assert_eq!(
        sim.events(),
        vec![
            (0, "http://a/", AnnounceEvent::Started),
            (1800, "http://a/", AnnounceEvent::None),
            (3600, "http://a/", AnnounceEvent::None),
        ]
    );
    let info = &sim.s.trackers()[0];
    assert_eq!((info.peers_received, info.seeders, info.leechers), (3, Some(3), Some(4)));
    assert_eq!(sim.s.next_announce_at(), Some(sim.t0 + 90 * MIN));
}

#[test]
fn announces_are_counted_by_result_per_tracker() {
    let mut sim = Sim::new(tiers(&[&["udp://dead:1"], &["http://b/"]]), ScheduleOptions::default());
    sim.run(3600, &mut |url, _| {
        if url == "http://b/" {
            Ok(answer(30 * MIN, None))
        } else {
            Err("timeout".into())
        }
    });
    let count = |url: &str, ok: bool| {
        let events = sim.events().into_iter().filter(|(_, u, _)| *u == url).count() as u64;
        (events, if ok { 0 } else { events })
    };
    for info in sim.s.trackers() {
        let (events, failed) = count(&info.url, info.url == "http://b/");
        assert!(events > 0, "{}", info.url);
        assert_eq!(
            (info.announces_ok + info.announces_failed, info.announces_failed),
            (events, failed),
            "{}",
            info.url
        );
    }
}

#[test]
fn a_failing_tracker_falls_through_to_the_next_tier_and_the_winner_is_promoted() {
    let mut sim = Sim::new(tiers(&[&["udp://dead:1"], &["http://b/"]]), ScheduleOptions::default());
    sim.run(1800, &mut |url, _| {
        if url == "http://b/" {
            Ok(answer(30 * MIN, None))
        } else {
            Err("timeout".into())
        }
    });
    assert_eq!(
        sim.events(),
        vec![
            (0, "udp://dead:1", AnnounceEvent::Started),
            (0, "http://b/", AnnounceEvent::Started),
            // BEP 12: tiers keep their order, so the first tier is tried again first.
            (1800, "udp://dead:1", AnnounceEvent::Started),
            (1800, "http://b/", AnnounceEvent::None),
        ]
    );
    assert_eq!(sim.s.trackers()[0].last_error.as_deref(), Some("timeout"));
    assert_eq!(sim.s.trackers()[1].last_error, None);

    // Within a tier the tracker that answers moves to the front.
    let mut sim = Sim::new(tiers(&[&["http://x/", "http://y/"]]), ScheduleOptions::default());
    sim.run(0, &mut |url, _| {
        if url == "http://y/" {
            Ok(answer(30 * MIN, None))
        } else {
            Err("down".into())
        }
    });
    sim.run(1800, &mut |_, _| Ok(answer(30 * MIN, None)));
    assert_eq!(sim.log.last().map(|(t, u, _)| (*t, u.as_str())), Some((1800, "http://y/")));
}

#[test]
fn rounds_where_every_tracker_fails_back_off_exponentially_up_to_the_cap() {
    let options = ScheduleOptions {
        backoff_base: Duration::from_secs(15),
        backoff_max: 2 * MIN,
        ..ScheduleOptions::default()
    };
    let mut sim = Sim::new(tiers(&[&["http://a/"]]), options);
    sim.run(600, &mut |_, _| Err("down".into()));
    let times: Vec<u64> = sim.log.iter().map(|(t, _, _)| *t).collect();
    assert_eq!(times, vec![0, 15, 45, 105, 225, 345, 465, 585]);
    // One success resets the back-off.
    sim.run(705, &mut |_, _| Ok(answer(MIN, None)));
    sim.run(1000, &mut |_, _| Err("down".into()));
    let times: Vec<u64> = sim.log.iter().map(|(t, _, _)| *t).skip(8).collect();
    assert_eq!(times, vec![705, 765, 780, 810, 870, 990]);
}

#[test]
fn completed_goes_out_at_once_and_once() {
    let mut sim = Sim::new(tiers(&[&["http://a/"]]), ScheduleOptions::default());
    sim.run(100, &mut |_, _| Ok(answer(30 * MIN, Some(10 * MIN))));
    sim.s.handle_completed(sim.now);
    sim.run(1900, &mut |_, _| Ok(answer(30 * MIN, Some(10 * MIN))));
    assert_eq!(
        sim.events(),
        vec![
            (0, "http://a/", AnnounceEvent::Started),
            (100, "http://a/", AnnounceEvent::Completed),
            (1900, "http://a/", AnnounceEvent::None),
        ]
    );
}

#[test]
fn completed_during_a_round_follows_it() {
    let mut sim = Sim::new(tiers(&[&["http://a/"]]), ScheduleOptions::default());
    let job = sim.s.poll_announce(sim.now, TransferStats::default()).unwrap();
    sim.s.handle_completed(sim.now);
    assert!(sim.s.poll_announce(sim.now, TransferStats::default()).is_none(), "one at a time");
    sim.s.handle_success(sim.now, &job, &answer(30 * MIN, None));
    let next = sim.s.poll_announce(sim.now, TransferStats::default()).unwrap();
    assert_eq!(next.request.event, AnnounceEvent::Completed);
}

#[test]
fn early_reannounces_wait_for_min_interval() {
    let mut sim = Sim::new(tiers(&[&["http://a/"]]), ScheduleOptions::default());
    sim.run(60, &mut |_, _| Ok(answer(30 * MIN, Some(5 * MIN))));
    sim.s.handle_reannounce(sim.now);
    assert_eq!(sim.s.next_announce_at(), Some(sim.t0 + 5 * MIN), "not before min interval");
    sim.run(600, &mut |_, _| Ok(answer(30 * MIN, Some(5 * MIN))));
    sim.s.handle_reannounce(sim.now);
    assert_eq!(sim.s.next_announce_at(), Some(sim.now), "past min interval: at once");
    let times: Vec<u64> = sim.log.iter().map(|(t, _, _)| *t).collect();
    assert_eq!(times, vec![0, 300]);
}

#[test]
fn stop_sends_stopped_to_trackers_that_listed_us_only() {
    let mut sim =
        Sim::new(tiers(&[&["http://a/"], &["http://b/"], &["http://c/"]]), ScheduleOptions::default());
    // a fails, b accepts `started`; c is never asked.
    sim.run(10, &mut |url, _| {
        if url == "http://a/" {
            Err("down".into())
        } else {
            Ok(answer(30 * MIN, None))
        }
    });
    sim.s.handle_stop(sim.now);
    assert_eq!(sim.s.next_announce_at(), None);
    sim.run(20, &mut |_, _| Ok(answer(30 * MIN, None)));
    let stops: Vec<&str> = sim
        .events()
        .into_iter()
        .filter(|(_, _, e)| *e == AnnounceEvent::Stopped)
        .map(|(_, u, _)| u)
        .collect();
    assert_eq!(stops, vec!["http://b/"]);
    assert_eq!(sim.s.poll_event(), Some(ScheduleEvent::Finished));
    assert!(sim.s.is_finished());
    let job_numwant = sim.log.iter().filter(|(_, _, e)| *e == AnnounceEvent::Stopped).count();
    assert_eq!(job_numwant, 1);
}

#[test]
fn stop_abandons_the_announce_in_flight_and_ends_at_its_deadline() {
    let options = ScheduleOptions { stop_timeout: Duration::from_secs(3), ..ScheduleOptions::default() };
    let mut sim = Sim::new(tiers(&[&["http://a/"]]), options);
    sim.run(0, &mut |_, _| Ok(answer(30 * MIN, None)));
    sim.now += 30 * MIN;
    sim.s.handle_timeout(sim.now);
    let regular = sim.s.poll_announce(sim.now, TransferStats::default()).unwrap();
    sim.s.handle_stop(sim.now);
    // The abandoned announce's late outcome changes nothing.
    sim.s.handle_failure(sim.now, &regular, "late".into());
    let stop = sim.s.poll_announce(sim.now, TransferStats::default()).unwrap();
    assert_eq!(stop.request.event, AnnounceEvent::Stopped);
    assert_eq!(stop.request.numwant, Some(0));
    assert_eq!(sim.s.poll_timeout(), Some(sim.now + Duration::from_secs(3)));
    // The tracker never answers the `stopped`: the deadline ends the schedule.
    sim.s.handle_timeout(sim.now + Duration::from_secs(3));
    assert_eq!(sim.s.poll_event(), Some(ScheduleEvent::Finished));
    assert!(sim.s.poll_announce(sim.now, TransferStats::default()).is_none());
}

#[test]
fn a_stop_with_no_tracker_listing_us_finishes_at_once() {
    let mut sim = Sim::new(tiers(&[&["http://a/"]]), ScheduleOptions::default());
    sim.s.handle_stop(sim.now);
    assert_eq!(sim.s.poll_event(), Some(ScheduleEvent::Finished));
}

#[test]
fn tracker_id_and_key_are_echoed() {
    let mut sim = Sim::new(tiers(&[&["http://a/"]]), ScheduleOptions::default());
    let job = sim.s.poll_announce(sim.now, TransferStats { uploaded: 1, downloaded: 2, left: 3 }).unwrap();
    assert_eq!(job.request.tracker_id, None);
    assert_eq!((job.request.uploaded, job.request.downloaded, job.request.left), (1, 2, 3));
    let key = job.request.key;
    let r = AnnounceResponse { tracker_id: Some(b"abc".to_vec()), ..answer(MIN, None) };
    sim.s.handle_success(sim.now, &job, &r);
    sim.now += MIN;
    let job = sim.s.poll_announce(sim.now, TransferStats::default()).unwrap();
    assert_eq!(job.request.tracker_id.as_deref(), Some(&b"abc"[..]));
    assert_eq!(job.request.key, key);
    assert_eq!(job.request.event, AnnounceEvent::None);
}
