use super::*;
use crate::udp::packet::PROTOCOL_ID;
use crate::AnnounceEvent;
use ccbt_core::PeerId;
use proptest::prelude::*;
use rand::rngs::StdRng;

fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([0x11; 20]),
        peer_id: PeerId([0x22; 20]),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 10,
        event: AnnounceEvent::Started,
        numwant: None,
        key: 7,
        tracker_id: None,
        compact: true,
    }
}

fn machine(options: UdpTrackerOptions) -> UdpTracker {
    UdpTracker::new(options, &mut StdRng::seed_from_u64(1))
}

fn txid(packet: &[u8]) -> [u8; 4] {
    packet[12..16].try_into().unwrap()
}

fn connect_reply(tx: [u8; 4], connection_id: u64) -> Vec<u8> {
    let mut p = vec![0, 0, 0, 0];
    p.extend_from_slice(&tx);
    p.extend_from_slice(&connection_id.to_be_bytes());
    p
}

fn announce_reply(tx: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0, 0, 0, 1];
    p.extend_from_slice(&tx);
    p.extend_from_slice(&[0, 0, 0x07, 0x08, 0, 0, 0, 4, 0, 0, 0, 5, 10, 0, 0, 1, 0x1a, 0xe1]);
    p
}

fn is_connect(p: &[u8]) -> bool {
    p.len() == 16 && p[..8] == PROTOCOL_ID.to_be_bytes()
}

/// Runs connect → announce → answer from `now`, returning the announce packet that was sent.
fn complete_announce(m: &mut UdpTracker, now: Instant, connection_id: u64) -> Vec<u8> {
    m.announce(now, request());
    let mut p = m.poll_transmit().unwrap();
    if is_connect(&p) {
        m.handle_datagram(now, &connect_reply(txid(&p), connection_id));
        p = m.poll_transmit().unwrap();
    }
    m.handle_datagram(now, &announce_reply(txid(&p)));
    assert!(matches!(m.poll_event(), Some(UdpEvent::Announced(_))));
    p
}

#[test]
fn connect_then_announce() {
    let now = Instant::now();
    let mut m = machine(UdpTrackerOptions::default());
    m.announce(now, request());
    let connect = m.poll_transmit().unwrap();
    assert!(is_connect(&connect));
    assert!(m.poll_transmit().is_none());
    assert_eq!(m.poll_timeout(), Some(now + Duration::from_secs(15)));

    m.handle_datagram(now, &connect_reply(txid(&connect), 0xabcd));
    let announce = m.poll_transmit().unwrap();
    assert_eq!(announce.len(), 98);
    assert_eq!(announce[..8], 0xabcdu64.to_be_bytes());
    assert_ne!(txid(&announce), txid(&connect), "each phase has its own transaction id");

    m.handle_datagram(now, &announce_reply(txid(&announce)));
    let Some(UdpEvent::Announced(r)) = m.poll_event() else { panic!("no announce event") };
    assert_eq!(r.interval, Duration::from_secs(1800));
    assert_eq!((r.complete, r.incomplete), (Some(5), Some(4)));
    assert_eq!(r.peers, vec!["10.0.0.1:6881".parse().unwrap()]);
    assert!(!m.is_busy());
    assert_eq!(m.poll_timeout(), None);
    assert_eq!(m.ignored_packets(), 0);
}

#[test]
fn wrong_transaction_ids_and_garbage_are_ignored_and_counted() {
    let now = Instant::now();
    let mut m = machine(UdpTrackerOptions::default());
    m.handle_datagram(now, b"unsolicited");
    assert_eq!(m.ignored_packets(), 1);

    m.announce(now, request());
    let connect = m.poll_transmit().unwrap();
    let mut wrong = txid(&connect);
    wrong[0] ^= 1;
    m.handle_datagram(now, &connect_reply(wrong, 1));
    m.handle_datagram(now, &[]);
    m.handle_datagram(now, &[0, 0, 0]);
    // The right id but a truncated body.
    m.handle_datagram(now, &connect_reply(txid(&connect), 1)[..12]);
    // The right id but an announce answer while connecting.
    m.handle_datagram(now, &announce_reply(txid(&connect)));
    // An error packet for someone else's transaction.
    let mut err = vec![0, 0, 0, 3];
    err.extend_from_slice(&wrong);
    err.extend_from_slice(b"no");
    m.handle_datagram(now, &err);
    assert_eq!(m.ignored_packets(), 7);
    assert!(m.poll_event().is_none());
    assert!(m.poll_transmit().is_none());
    assert!(m.is_busy());

    // The real answer still works afterwards.
    m.handle_datagram(now, &connect_reply(txid(&connect), 1));
    assert!(m.poll_transmit().is_some());
}

#[test]
fn retransmits_on_the_bep15_schedule_then_times_out() {
    let start = Instant::now();
    let mut m = machine(UdpTrackerOptions::default());
    m.announce(start, request());
    let first = m.poll_transmit().unwrap();
    let mut now = start;
    for n in 0..=8u32 {
        let deadline = m.poll_timeout().unwrap();
        assert_eq!(deadline - now, Duration::from_secs(15 << n), "attempt {n}");
        m.handle_timeout(deadline - Duration::from_millis(1));
        assert!(m.poll_transmit().is_none(), "no early retransmission");
        now = deadline;
        m.handle_timeout(now);
        if n < 8 {
            assert_eq!(m.poll_transmit().unwrap(), first, "same packet and transaction id");
            assert!(m.poll_event().is_none());
        }
    }
    assert_eq!(now - start, Duration::from_secs(15 * 511));
    assert_eq!(m.poll_event(), Some(UdpEvent::Failed(TrackerError::Timeout)));
    assert!(m.poll_transmit().is_none());
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn late_answer_to_an_earlier_copy_counts() {
    let now = Instant::now();
    let mut m =
        machine(UdpTrackerOptions { base_timeout: Duration::from_secs(1), max_retries: 2, ipv6: false });
    m.announce(now, request());
    let connect = m.poll_transmit().unwrap();
    m.handle_timeout(now + Duration::from_secs(1));
    assert!(m.poll_transmit().is_some());
    m.handle_datagram(now + Duration::from_secs(2), &connect_reply(txid(&connect), 9));
    let announce = m.poll_transmit().unwrap();
    assert_eq!(announce[..8], 9u64.to_be_bytes());
    // The request phase starts its own schedule from attempt 0.
    assert_eq!(m.poll_timeout(), Some(now + Duration::from_secs(3)));
}

#[test]
fn small_options_fail_fast() {
    let now = Instant::now();
    let mut m =
        machine(UdpTrackerOptions { base_timeout: Duration::from_millis(100), max_retries: 1, ipv6: false });
    m.announce(now, request());
    m.handle_timeout(now + Duration::from_millis(100));
    assert!(m.poll_transmit().is_some());
    m.handle_timeout(now + Duration::from_millis(300));
    assert_eq!(m.poll_event(), Some(UdpEvent::Failed(TrackerError::Timeout)));
}

#[test]
fn connection_id_is_cached_for_60_seconds() {
    let t0 = Instant::now();
    let mut m = machine(UdpTrackerOptions::default());
    complete_announce(&mut m, t0, 42);

    // Within 60 s: straight to the announce with the cached id.
    m.announce(t0 + Duration::from_secs(59), request());
    let p = m.poll_transmit().unwrap();
    assert_eq!(p.len(), 98);
    assert_eq!(p[..8], 42u64.to_be_bytes());
    m.handle_datagram(t0 + Duration::from_secs(59), &announce_reply(txid(&p)));
    assert!(matches!(m.poll_event(), Some(UdpEvent::Announced(_))));

    // At 60 s the id has expired: connect again, then use the new id.
    let t1 = t0 + Duration::from_secs(60);
    let p = complete_announce(&mut m, t1, 43);
    assert_eq!(p[..8], 43u64.to_be_bytes());
}

#[test]
fn connection_expiring_during_retransmissions_reconnects() {
    let t0 = Instant::now();
    let mut m = machine(UdpTrackerOptions::default());
    m.announce(t0, request());
    let connect = m.poll_transmit().unwrap();
    m.handle_datagram(t0, &connect_reply(txid(&connect), 5));
    let announce = m.poll_transmit().unwrap();
    // Announce lost: retransmitted at 15 s and 45 s with the cached id...
    for at in [15, 45] {
        m.handle_timeout(t0 + Duration::from_secs(at));
        assert_eq!(m.poll_transmit().unwrap(), announce);
    }
    // ...but at 105 s the id is stale: connect first, with a fresh transaction id.
    m.handle_timeout(t0 + Duration::from_secs(105));
    let reconnect = m.poll_transmit().unwrap();
    assert!(is_connect(&reconnect));
    // The old announce transaction is over: its answer no longer counts.
    m.handle_datagram(t0 + Duration::from_secs(105), &announce_reply(txid(&announce)));
    assert!(m.poll_event().is_none());
    assert_eq!(m.ignored_packets(), 1);
}

#[test]
fn error_action_is_surfaced_and_drops_the_connection_id() {
    let now = Instant::now();
    let mut m = machine(UdpTrackerOptions::default());
    complete_announce(&mut m, now, 77);
    m.announce(now, request());
    let p = m.poll_transmit().unwrap();
    let mut err = vec![0, 0, 0, 3];
    err.extend_from_slice(&txid(&p));
    err.extend_from_slice(b"torrent not registered");
    m.handle_datagram(now, &err);
    assert_eq!(
        m.poll_event(),
        Some(UdpEvent::Failed(TrackerError::TrackerErrorAction("torrent not registered".into())))
    );
    m.announce(now, request());
    assert!(is_connect(&m.poll_transmit().unwrap()));
}

#[test]
fn scrape_round_trip() {
    let now = Instant::now();
    let mut m = machine(UdpTrackerOptions::default());
    assert!(matches!(m.scrape(now, &[]), Err(TrackerError::InvalidRequest(_))));
    assert!(!m.is_busy());
    let hashes = [InfoHash([1; 20]), InfoHash([2; 20])];
    m.scrape(now, &hashes).unwrap();
    let connect = m.poll_transmit().unwrap();
    m.handle_datagram(now, &connect_reply(txid(&connect), 3));
    let p = m.poll_transmit().unwrap();
    assert_eq!(p.len(), 16 + 40);
    let mut reply = vec![0, 0, 0, 2];
    reply.extend_from_slice(&txid(&p));
    // One entry for two hashes: ignored.
    reply.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
    m.handle_datagram(now, &reply);
    assert_eq!(m.ignored_packets(), 1);
    reply.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6]);
    m.handle_datagram(now, &reply);
    assert_eq!(
        m.poll_event(),
        Some(UdpEvent::Scraped(vec![
            ScrapeStats { complete: 1, downloaded: 2, incomplete: 3 },
            ScrapeStats { complete: 4, downloaded: 5, incomplete: 6 },
        ]))
    );
}

#[test]
fn a_new_request_abandons_the_old_one() {
    let now = Instant::now();
    let mut m = machine(UdpTrackerOptions::default());
    m.announce(now, request());
    let first = m.poll_transmit().unwrap();
    m.announce(now, request());
    let second = m.poll_transmit().unwrap();
    assert_ne!(txid(&first), txid(&second));
    m.handle_datagram(now, &connect_reply(txid(&first), 1));
    assert!(m.poll_transmit().is_none());
    assert_eq!(m.ignored_packets(), 1);
    m.handle_datagram(now, &connect_reply(txid(&second), 1));
    assert!(m.poll_transmit().is_some());
}

proptest! {
    #[test]
    fn arbitrary_datagrams_in_any_phase_never_panic(
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        connected in any::<bool>(),
    ) {
        let now = Instant::now();
        let mut m = machine(UdpTrackerOptions::default());
        m.announce(now, request());
        let p = m.poll_transmit().unwrap();
        if connected {
            m.handle_datagram(now, &connect_reply(txid(&p), 1));
        }
        let tx = m.poll_transmit().map_or(txid(&p), |p| txid(&p));
        for mut packet in packets {
            // Give half of them the right transaction id so they reach the phase logic.
            if packet.len() >= 8 && packet[0] % 2 == 0 {
                packet[4..8].copy_from_slice(&tx);
                let action = packet[3] % 4;
                packet[..4].copy_from_slice(&[0, 0, 0, action]);
            }
            m.handle_datagram(now, &packet);
        }
        while m.poll_event().is_some() {}
    }
}
