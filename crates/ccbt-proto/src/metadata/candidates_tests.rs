//! The metadata phase's candidate list: bounded, evicting dead addresses, capped per address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::candidates::Source;

fn addr(a: u8, b: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, a, b)), port)
}

/// `n` distinct addresses, one port each.
fn many(n: usize) -> impl Iterator<Item = SocketAddr> {
    (0..n).map(|i| addr((i / 250) as u8, (i % 250) as u8 + 1, 6881))
}

#[test]
fn list_is_bounded_and_dead_addresses_make_room() {
    let now = Instant::now();
    let mut c = MetadataCandidates::new(true);
    for a in many(MAX_CANDIDATES + 100) {
        c.add(now, Source::User, a);
    }
    assert_eq!(c.len(), MAX_CANDIDATES);
    // Fresh addresses do not push out other fresh ones.
    assert!(!c.add(now, Source::User, addr(200, 1, 1)));
    // One address fails: a newcomer may take its place.
    let dialled = c.next_dial(now).unwrap();
    c.on_closed(now, dialled, false);
    assert!(c.add(now, Source::User, addr(200, 1, 1)));
    assert_eq!(c.len(), MAX_CANDIDATES);
    assert!(!c.addrs().any(|a| a == dialled));
}

#[test]
fn one_host_cannot_fill_the_list() {
    let now = Instant::now();
    let mut c = MetadataCandidates::new(true);
    let added = (1..=1000u16).filter(|&port| c.add(now, Source::User, addr(0, 1, port))).count();
    assert_eq!(added, MAX_CANDIDATES_PER_IP);
    assert_eq!(c.len(), MAX_CANDIDATES_PER_IP);
}

#[test]
fn connections_per_host_are_capped() {
    let now = Instant::now();
    let mut c = MetadataCandidates::new(true);
    for port in 1..=4 {
        c.add(now, Source::User, addr(0, 1, port));
    }
    c.add(now, Source::User, addr(0, 2, 1));
    let mut dialled = Vec::new();
    while let Some(a) = c.next_dial(now) {
        dialled.push(a);
    }
    assert_eq!(dialled.iter().filter(|a| a.ip() == addr(0, 1, 0).ip()).count(), MAX_CONNECTIONS_PER_IP);
    assert_eq!(dialled.len(), MAX_CONNECTIONS_PER_IP + 1);
    // A closed connection frees the host's slot.
    c.on_closed(now, dialled[0], true);
    assert!(c.next_dial(now).is_some());
}

#[test]
fn failures_back_off_and_then_forget() {
    let t0 = Instant::now();
    let mut c = MetadataCandidates::new(true);
    let a = addr(0, 1, 1);
    c.add(t0, Source::User, a);
    let mut now = t0;
    for failure in 1..MAX_FAILURES {
        assert_eq!(c.next_dial(now), Some(a));
        c.on_closed(now, a, false);
        assert_eq!(c.next_dial(now), None);
        let due = c.poll_timeout(now).expect("backing off");
        assert!(due > now);
        assert!(due - now >= Duration::from_secs(5) * failure);
        now = due;
    }
    assert_eq!(c.next_dial(now), Some(a));
    c.on_closed(now, a, false);
    assert!(c.is_empty());
}

#[test]
fn banned_hosts_are_forgotten_and_refused() {
    let now = Instant::now();
    let mut c = MetadataCandidates::new(true);
    let liar = addr(0, 9, 1);
    c.add(now, Source::User, liar);
    c.add(now, Source::User, addr(0, 9, 2));
    c.add(now, Source::User, addr(0, 1, 1));
    c.ban(liar.ip());
    assert_eq!(c.addrs().collect::<Vec<_>>(), [addr(0, 1, 1)]);
    assert!(!c.add(now, Source::User, addr(0, 9, 3)));
}

#[test]
fn local_services_named_by_remote_parties_are_refused_as_in_the_download_phase() {
    let now = Instant::now();
    let service = addr(7, 7, 22);
    let mut c = MetadataCandidates::new(true);
    assert!(!c.add(now, Source::Pex, service), "a PEX-named local ssh port must be refused");
    assert!(!c.add(now, Source::Tracker, service));
    assert!(c.add(now, Source::Tracker, addr(7, 7, 6881)), "local peers on ordinary ports are fine");
    assert!(c.add(now, Source::User, service), "the user's own choice is never filtered");
    let mut off = MetadataCandidates::new(false);
    assert!(off.add(now, Source::Dht, service));
}
