//! Candidate list, SSRF rule and eviction, on a virtual clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::PeerKey;

fn opts(max: usize) -> CandidateOptions {
    CandidateOptions { max_candidates: max, ssrf_mitigation: true }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn due_candidates_are_handed_out_once_until_they_end() {
    let t0 = Instant::now();
    let mut list = CandidateList::new(opts(16));
    assert_eq!(
        list.handle_discovered(t0, Source::Tracker, [addr("10.0.0.1:6881"), addr("10.0.0.2:6881")]),
        2
    );
    assert_eq!(list.poll_dial(t0), Some(addr("10.0.0.1:6881")));
    assert_eq!(list.poll_dial(t0), Some(addr("10.0.0.2:6881")));
    assert_eq!(list.poll_dial(t0), None);
    assert_eq!(list.poll_timeout(), None, "busy candidates need no timer");
    list.handle_ended(t0, addr("10.0.0.1:6881"));
    assert_eq!(list.poll_timeout(), Some(t0 + backoff(1)));
    assert_eq!(list.poll_dial(t0 + backoff(1) - Duration::from_millis(1)), None);
    assert_eq!(list.poll_dial(t0 + backoff(1)), Some(addr("10.0.0.1:6881")));
}

#[test]
fn back_off_doubles_and_is_capped() {
    assert_eq!(backoff(1), Duration::from_secs(10));
    assert_eq!(backoff(2), Duration::from_secs(20));
    assert_eq!(backoff(30), Duration::from_secs(600));
}

#[test]
fn full_list_replaces_only_candidates_that_failed_repeatedly() {
    let t0 = Instant::now();
    let mut list = CandidateList::new(opts(2));
    list.handle_discovered(t0, Source::Dht, [addr("10.0.0.1:1111"), addr("10.0.0.2:1111")]);
    assert_eq!(list.add(t0, Source::Dht, addr("10.0.0.3:1111")), Err(Refused::Full));
    // The second stays connected (busy); the first fails three times.
    assert_eq!(list.poll_dial(t0), Some(addr("10.0.0.1:1111")));
    assert_eq!(list.poll_dial(t0), Some(addr("10.0.0.2:1111")));
    let mut now = t0;
    for round in 0..3 {
        if round > 0 {
            assert_eq!(list.poll_dial(now), Some(addr("10.0.0.1:1111")));
        }
        list.handle_ended(now, addr("10.0.0.1:1111"));
        if round < 2 {
            assert_eq!(list.add(now, Source::Dht, addr("10.0.0.3:1111")), Err(Refused::Full));
        }
        now += backoff(7);
    }
    assert_eq!(list.add(now, Source::Dht, addr("10.0.0.3:1111")), Ok(true));
    assert_eq!(list.len(), 2);
    assert!(!list.addresses().any(|a| a == addr("10.0.0.1:1111")));
}

#[test]
fn banned_ip_is_never_dialled_on_any_port() {
    let t0 = Instant::now();
    let mut list = CandidateList::new(opts(16));
    list.handle_discovered(t0, Source::Pex, [addr("127.0.0.5:7000"), addr("127.0.0.6:7000")]);
    assert!(list.ban("127.0.0.5".parse().unwrap()));
    assert!(!list.ban("127.0.0.5".parse().unwrap()), "a second ban is not new");
    assert_eq!(list.add(t0, Source::Pex, addr("127.0.0.5:7001")), Err(Refused::Banned));
    assert_eq!(list.add(t0, Source::User, addr("127.0.0.5:7002")), Err(Refused::Banned));
    assert!(list.is_banned("127.0.0.5".parse().unwrap()));
    assert!(!list.is_banned("127.0.0.6".parse().unwrap()));
    assert_eq!(list.poll_dial(t0), Some(addr("127.0.0.6:7000")));
    assert_eq!(list.poll_dial(t0), None);
    assert_eq!(list.banned_count(), 1);
}

#[test]
fn our_own_address_is_never_dialled_again() {
    let t0 = Instant::now();
    let mut list = CandidateList::new(opts(16));
    list.add(t0, Source::Tracker, addr("10.1.1.1:6881")).unwrap();
    let a = list.poll_dial(t0).unwrap();
    list.handle_ourselves(a);
    assert_eq!(list.add(t0, Source::Pex, a), Err(Refused::Ourselves));
    assert_eq!(list.poll_dial(t0 + Duration::from_secs(3600)), None);
}

#[test]
fn resume_makes_every_idle_candidate_due() {
    let t0 = Instant::now();
    let mut list = CandidateList::new(opts(16));
    list.add(t0, Source::Tracker, addr("10.1.1.1:6881")).unwrap();
    let a = list.poll_dial(t0).unwrap();
    list.handle_ended(t0, a);
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(list.poll_dial(t1), None);
    list.retry_all(t1);
    assert_eq!(list.poll_dial(t1), Some(a));
}

#[test]
fn ssrf_mitigation_refuses_local_services_named_by_remote_parties() {
    let t0 = Instant::now();
    let mut list = CandidateList::new(opts(64));
    for local in
        ["127.0.0.1:22", "192.168.1.1:80", "10.0.0.1:443", "[::1]:631", "[fe80::1]:25", "169.254.169.254:80"]
    {
        for source in [Source::Tracker, Source::Dht, Source::Pex] {
            assert_eq!(list.add(t0, source, addr(local)), Err(Refused::Ssrf), "{local} from {source:?}");
        }
        assert_eq!(list.add(t0, Source::User, addr(local)), Ok(true), "the user may name {local}");
    }
    // BitTorrent clients listen on unprivileged ports: local swarms and public peers pass.
    for fine in ["127.0.0.1:6881", "192.168.1.7:51413", "8.8.8.8:80", "[2001:db8::1]:443"] {
        assert_eq!(list.add(t0, Source::Tracker, addr(fine)), Ok(true), "{fine}");
    }
    let mut off = CandidateList::new(CandidateOptions { max_candidates: 16, ssrf_mitigation: false });
    assert_eq!(off.add(t0, Source::Dht, addr("127.0.0.1:22")), Ok(true));
}

#[test]
fn invalid_addresses_are_refused() {
    let t0 = Instant::now();
    let mut list = CandidateList::new(opts(16));
    assert_eq!(list.add(t0, Source::User, addr("10.0.0.1:0")), Err(Refused::Invalid));
    assert_eq!(list.add(t0, Source::User, addr("0.0.0.0:6881")), Err(Refused::Invalid));
    assert_eq!(list.add(t0, Source::User, addr("10.0.0.1:6881")), Ok(true));
    assert_eq!(list.add(t0, Source::User, addr("10.0.0.1:6881")), Ok(false));
}

fn activity(key: u64, am: bool, peer: bool, idle_secs: u64, now: Instant) -> ConnActivity {
    ConnActivity {
        key: PeerKey(key),
        am_interested: am,
        peer_interested: peer,
        last_payload: now - Duration::from_secs(idle_secs),
    }
}

#[test]
fn eviction_picks_the_longest_idle_uninterested_connection() {
    let now = Instant::now() + Duration::from_secs(3600);
    let o = EvictionOptions { idle_after: Duration::from_secs(120) };
    let conns = [
        activity(1, true, false, 1000, now), // we want its pieces
        activity(2, false, true, 1000, now), // it wants ours
        activity(3, false, false, 130, now), // useless
        activity(4, false, false, 600, now), // useless, idle longest
        activity(5, false, false, 10, now),  // moved payload recently
    ];
    assert_eq!(choose_eviction(now, &conns, o), Some(PeerKey(4)));
    assert_eq!(choose_eviction(now, &conns[..2], o), None);
    assert_eq!(choose_eviction(now, &conns[4..], o), None);
}

proptest! {
    /// Whatever the sequence of discoveries, dials, ends and bans: the list stays bounded, never
    /// hands out a banned IP or a busy address, and `poll_timeout` never lies about a due candidate.
    #[test]
    fn list_invariants_hold(ops in proptest::collection::vec((0u8..5, 0u8..12, 0u16..4, 0u64..50), 1..200)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut list = CandidateList::new(opts(8));
        let mut busy = std::collections::HashSet::new();
        for (op, host, port, advance) in ops {
            now += Duration::from_secs(advance);
            let a = SocketAddr::from(([10, 0, 0, host], 6881 + port));
            match op {
                0 => { let _ = list.add(now, Source::Tracker, a); }
                1 => if let Some(d) = list.poll_dial(now) {
                    prop_assert!(!list.is_banned(d.ip()));
                    prop_assert!(busy.insert(d), "{d} handed out twice");
                },
                2 => if busy.remove(&a) { list.handle_ended(now, a) },
                3 => { list.ban(a.ip()); busy.retain(|b: &SocketAddr| b.ip() != a.ip()); }
                _ => {
                    if let Some(t) = list.poll_timeout() {
                        if t <= now { prop_assert!(list.has_due(now)); }
                    } else {
                        prop_assert!(!list.has_due(now));
                    }
                }
            }
            prop_assert!(list.len() <= 8);
            prop_assert!(list.addresses().all(|x| !list.is_banned(x.ip())));
        }
    }

    /// Eviction only ever names a connection that is uninterested both ways and idle long enough.
    #[test]
    fn eviction_names_only_useless_connections(
        conns in proptest::collection::vec((any::<bool>(), any::<bool>(), 0u64..400), 0..20)
    ) {
        let now = Instant::now() + Duration::from_secs(1000);
        let o = EvictionOptions::default();
        let list: Vec<ConnActivity> = conns
            .iter()
            .enumerate()
            .map(|(i, &(am, peer, idle))| activity(i as u64, am, peer, idle, now))
            .collect();
        match choose_eviction(now, &list, o) {
            Some(k) => {
                let c = list.iter().find(|c| c.key == k).unwrap();
                prop_assert!(!c.am_interested && !c.peer_interested);
                prop_assert!(now - c.last_payload >= o.idle_after);
                prop_assert!(list.iter().filter(|d| !d.am_interested && !d.peer_interested)
                    .all(|d| d.last_payload >= c.last_payload));
            }
            None => prop_assert!(list.iter().all(|c| c.am_interested || c.peer_interested
                || now - c.last_payload < o.idle_after)),
        }
    }
}
